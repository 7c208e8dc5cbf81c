"""The ``vxp`` peer adapter (``adapters/peers/vxp.py``) against a real hub in the national role:
``build_hub`` on a temporary SQLite data directory, its VXP façade served in-process, the
adapter's client speaking the signed protocol to it. Plus the trap of the official SDK: an
HTML answer from a real loopback server is a peer error, never an empty inbox."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.peers import build_peer
from adapters.peers.vxp import VxpDirectory, VxpInbox, VxpTracker, transport_status, wire_moment
from adapters.vxp_client import VxpClient
from hub.delivery import State
from hub.edxml.model import MessageKind
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.errors import PeerError
from hub.ports import AgencyRow, NullVerifier
from hub.routing import Scope
from hub.services.contracts import TransportStatus
from hub.settings import PeerSettings, Secret, SettingsError, load_settings
from tests.factories import make_edoc
from tests.loopback import LoopbackServer, QuietHandler

CHILD, CHILD_SECRET = "hub.h41", "child-secret-5e2d"
VPCP, VPCP_SECRET = "qlvb.vpcp", "vpcp-secret-90ab"
G22 = "000.00.00.G22"
H41 = "000.00.00.H41"
COMMUNE = "000.00.65.H41"  # under H41 in the sample registry


@pytest.fixture
def axis(tmp_path: Path) -> Iterator[Hub]:
    env = {"LIENTHONG_DATA_DIR": str(tmp_path / "axis"), "LIENTHONG_ROLE": "national"}
    hub = build_hub(load_settings(env=env), verifier=NullVerifier(), links={})
    hub.services.systems.add(CHILD, [H41], secret=CHILD_SECRET)
    hub.services.systems.add(VPCP, [G22], secret=VPCP_SECRET)
    yield hub
    hub.close()


@pytest.fixture
def http(axis: Hub) -> Iterator[TestClient]:
    with TestClient(axis.app()) as client:
        yield client


def _client(http: TestClient, system: str, secret: str) -> VxpClient:
    return VxpClient("http://testserver", system, secret, http=http)


def _dispatch(axis: Hub) -> None:
    with axis.uow() as uow:
        ids = [d.id for d in uow.deliveries.in_state(State.QUEUED.value, limit=100)]
    axis.dispatch.dispatch(ids)


def test_inbox_directory_and_tracker_against_a_hub_in_the_national_role(
    axis: Hub, http: TestClient
) -> None:
    child = _client(http, CHILD, CHILD_SECRET)
    ministry = _client(http, VPCP, VPCP_SECRET)
    directory = VxpDirectory(child, "peer:national")  # the source its rows are stored under

    # Registration: the parent then routes the commune to the child's system inbox.
    directory.register(AgencyRow(code=COMMUNE, name="UBND xã Nghi Lộc", parent_code=H41))
    listed = {a.code: a for a in directory.agencies()}
    assert listed[COMMUNE].source == "peer:national"
    with axis.uow() as uow:
        assert uow.systems.hosting()[COMMUNE] == CHILD

    data = make_edoc(sender=G22, to=[COMMUNE], document_id="G22-PEER-1")
    ministry.send_edoc(data, from_code=G22, to_codes=[COMMUNE])
    _dispatch(axis)
    inbox = VxpInbox(child)

    (item,) = inbox.pending(MessageKind.EDOC)
    assert item.kind is MessageKind.EDOC
    assert item.from_code == G22
    assert item.listed_at is not None
    assert inbox.pending(MessageKind.STATUS) == []
    got = inbox.fetch(item)
    assert got.startswith(data[: data.index(b"TraceHeaderList")])
    inbox.acknowledge(item, accepted=True)
    assert inbox.pending(MessageKind.EDOC) == []
    with axis.uow() as uow:
        assert uow.deliveries.get(item.remote_id).state == State.DONE  # type: ignore[union-attr]

    # Tracker: what the parent says of a package the child pushed.
    remote_id = child.send(
        make_edoc(sender=COMMUNE, to=[G22], document_id="H41-PEER-2"),
        from_code=COMMUNE,
        to_codes=[G22],
        kind=MessageKind.EDOC,
    )
    tracker = VxpTracker(child)
    assert tracker.delivery_states(remote_id) == []  # queued at the parent: no news yet
    _dispatch(axis)
    (taken,) = ministry.get_received_edoc_list()
    ministry.get_edoc(taken.doc_id)
    (state,) = tracker.delivery_states(remote_id)
    assert (state.recipient_code, state.status) == (G22, TransportStatus.PROCESSING.value)
    ministry.update_status(taken.doc_id, "done")
    (state,) = tracker.delivery_states(remote_id)
    assert state.status == TransportStatus.DONE.value
    assert state.at is not None

    directory.delete(COMMUNE)
    with axis.uow() as uow:
        assert COMMUNE not in uow.systems.hosting()


class _HtmlPage(QuietHandler):
    """A misrouted endpoint: a web server's HTML page, HTTP 200, for every request."""

    def do_POST(self) -> None:
        self._answer(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")


def test_an_html_answer_is_a_peer_error_not_an_empty_inbox() -> None:
    handler: type[BaseHTTPRequestHandler] = _HtmlPage
    server = LoopbackServer(handler)
    try:
        with (
            VxpClient(server.base_url, CHILD, CHILD_SECRET) as client,
            pytest.raises(PeerError) as caught,
        ):
            VxpInbox(client).pending(MessageKind.EDOC)
    finally:
        server.stop()
    assert caught.value.code == "vxp.reply"


def test_build_makes_a_peer_from_settings_and_refuses_what_it_cannot_use() -> None:
    settings = PeerSettings(
        "caobang", "http://h14.example", Scope.parse(["H14"]), "hub.h41", Secret("s3cr3t")
    )
    peer = build_peer(settings)
    try:
        assert (peer.name, peer.kind) == ("caobang", "vxp")
        assert peer.inbox is not None
        assert peer.tracker is not None
        assert peer.directory is not None
        assert "s3cr3t" not in repr(peer)
    finally:
        peer.close()
    quiet = build_peer(PeerSettings("p", "http://x", Scope(), "s", Secret("k"), poll=False))
    assert quiet.inbox is None
    quiet.close()
    with pytest.raises(SettingsError, match="system_id and secret"):
        build_peer(PeerSettings("p", "http://x", Scope()))
    with pytest.raises(SettingsError, match="unknown option"):
        build_peer(PeerSettings("p", "http://x", Scope(), "s", Secret("k"), options={"x": "1"}))


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("done", TransportStatus.DONE),
        ("DONE", TransportStatus.DONE),
        ("processing", TransportStatus.PROCESSING),
        ("fetched", TransportStatus.PROCESSING),
        ("fail", TransportStatus.FAIL),
        ("undeliverable", TransportStatus.FAIL),
        ("initial", None),
        ("available", None),
        ("forwarding", None),
        ("", None),
    ],
)
def test_the_axis_words_map_to_transport_statuses(
    word: str, status: TransportStatus | None
) -> None:
    assert transport_status(word) is status


def test_wire_times_are_read_in_the_peer_zone() -> None:
    moment = wire_moment("2026-12-04 14:30:00", "Asia/Ho_Chi_Minh")
    assert moment is not None
    assert moment.isoformat() == "2026-12-04T07:30:00+00:00"
    assert wire_moment("04/12/2026") is None
