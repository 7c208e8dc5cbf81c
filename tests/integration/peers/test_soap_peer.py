"""The ``soap`` peer (zeep) against a real SOAP service (spyne on loopback), both directions.

Outbound: this hub sends an edXML package; the province's system lists it, fetches the very
bytes, confirms; this hub's tracker follows. Inbound: the province sends; this hub's inbox lists,
fetches the very bytes, acknowledges. Then the directory, and every way a peer fails: a SOAP
fault, a wrong secret, the server down, an HTML page (200, 5xx, 4xx), a slow server, a reply
with a DTD, a status word the hub does not know. Last, the secret and the package bodies stay
out of logs and reprs, and a digest UsernameToken keeps the secret off the wire.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging

import pytest
from soap_service import SoapHubServer
from soap_world import (
    H14,
    H14_SO,
    H41,
    H41_SO,
    HUB_SECRET,
    HUB_SYSTEM,
    PEER_NAME,
    REMOTE_SECRET,
    peer_settings,
)

from adapters.peers import build_peer
from adapters.peers.soap import SoapHubClient, TraceEntry
from hub.edxml.model import MessageKind
from hub.errors import PeerError, PeerUnavailable
from hub.ports import AgencyRow, Peer, PeerDirectory, PeerInbox, PeerLink, PeerTracker
from hub.services.contracts import TransportStatus
from hub.settings import Secret, SettingsError
from tests.factories import make_edoc, make_status

pytestmark = pytest.mark.integration

# A package whose bytes a careless relay would change: CR LF line ends, Vietnamese text.
OUTBOUND = make_edoc(sender=H41, to=[H14, H14_SO], subject="Về việc liên thông văn bản — đợt 1")
INBOUND = make_edoc(sender=H14, to=[H41], subject="Công văn số 12/UBND-VP về lịch họp")


def _parts(peer: Peer) -> tuple[PeerLink, PeerInbox, PeerTracker, PeerDirectory]:
    assert peer.inbox is not None
    assert peer.tracker is not None
    assert peer.directory is not None
    return peer.link, peer.inbox, peer.tracker, peer.directory


# --------------------------------------------------------------------------- both directions


def test_the_registry_builds_a_soap_peer_with_every_port(soap_peer: Peer) -> None:
    assert (soap_peer.name, soap_peer.kind) == (PEER_NAME, "soap")
    _parts(soap_peer)


def test_a_peer_not_polled_has_no_inbox(soap_server: SoapHubServer) -> None:
    peer = build_peer(peer_settings(soap_server, poll=False))
    try:
        assert peer.inbox is None
        assert peer.tracker is not None
    finally:
        peer.close()


def test_outbound_the_receiver_gets_the_exact_bytes_and_the_tracker_follows(
    soap_peer: Peer, remote: SoapHubClient
) -> None:
    link, _, tracker, _ = _parts(soap_peer)
    remote_id = link.send(OUTBOUND, from_code=H41, to_codes=[H14, H14_SO], kind=MessageKind.EDOC)

    states = {s.recipient_code: s for s in tracker.delivery_states(remote_id)}
    assert set(states) == {H14, H14_SO}
    assert {s.status for s in states.values()} == {TransportStatus.PROCESSING}

    (item,) = remote.pending(MessageKind.EDOC)
    assert (item.remote_id, item.from_code, item.kind) == (remote_id, H41, MessageKind.EDOC)
    assert remote.fetch(item) == OUTBOUND
    remote.acknowledge(item, accepted=True)
    assert remote.pending(MessageKind.EDOC) == []

    after = tracker.delivery_states(remote_id)
    assert {(s.recipient_code, s.status) for s in after} == {
        (H14, TransportStatus.DONE),
        (H14_SO, TransportStatus.DONE),
    }
    assert all(s.at is not None and s.at.utcoffset() is not None for s in after)


def test_inbound_pending_fetch_and_refusal_with_a_reason(
    soap_peer: Peer, remote: SoapHubClient
) -> None:
    _, inbox, _, _ = _parts(soap_peer)
    remote_id = remote.send(INBOUND, from_code=H14, to_codes=[H41], kind=MessageKind.EDOC)

    (item,) = inbox.pending(MessageKind.EDOC)
    assert (item.remote_id, item.kind, item.from_code) == (remote_id, MessageKind.EDOC, H14)
    assert item.listed_at is not None
    assert abs(item.listed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert inbox.fetch(item) == INBOUND
    assert inbox.pending(MessageKind.EDOC) == [item]  # listed until acknowledged

    inbox.acknowledge(item, accepted=False, reason="Sai mã định danh đơn vị nhận")
    assert inbox.pending(MessageKind.EDOC) == []
    (state,) = remote.delivery_states(remote_id)
    assert (state.recipient_code, state.status) == (H41, TransportStatus.FAIL)
    assert state.description == "Sai mã định danh đơn vị nhận"


def test_inbox_lists_by_kind_oldest_first_up_to_the_limit(
    soap_peer: Peer, remote: SoapHubClient
) -> None:
    _, inbox, _, _ = _parts(soap_peer)
    edocs = [
        remote.send(
            make_edoc(sender=H14, to=[H41_SO], code_number=str(n)),
            from_code=H14,
            to_codes=[H41_SO],
            kind=MessageKind.EDOC,
        )
        for n in range(3)
    ]
    status = make_status(sender=H14, response_to=H41)
    status_id = remote.send(status, from_code=H14, to_codes=[H41], kind=MessageKind.STATUS)

    assert [i.remote_id for i in inbox.pending(MessageKind.EDOC, limit=2)] == edocs[:2]
    (listed,) = inbox.pending(MessageKind.STATUS)
    assert (listed.remote_id, listed.kind) == (status_id, MessageKind.STATUS)
    assert inbox.fetch(listed) == status


def test_traces_reported_with_update_traces_reach_the_sender(
    soap_peer: Peer, soap_server: SoapHubServer, remote: SoapHubClient
) -> None:
    remote_id = remote.send(INBOUND, from_code=H14, to_codes=[H41], kind=MessageKind.EDOC)
    client = soap_peer.link
    assert isinstance(client, SoapHubClient)
    # after the "sent" trace, whatever the day the test runs: the latest trace is the state
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=1)
    client.update_traces(remote_id, [TraceEntry(H41, "received", when, "Văn thư đã nhận")])

    (state,) = remote.delivery_states(remote_id)
    assert (state.status, state.description, state.at) == (
        TransportStatus.DONE,
        "Văn thư đã nhận",
        when,
    )
    assert [e.status_code for e in remote.get_traces(remote_id)] == ["sent", "received"]


def test_an_unknown_status_word_is_a_peer_error_not_a_guess(
    soap_peer: Peer, remote: SoapHubClient
) -> None:
    _, _, tracker, _ = _parts(soap_peer)
    remote_id = soap_peer.link.send(OUTBOUND, from_code=H41, to_codes=[H14], kind=MessageKind.EDOC)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    remote.update_traces(remote_id, [TraceEntry(H14, "archived", later)])
    with pytest.raises(PeerError) as caught:
        tracker.delivery_states(remote_id)
    assert caught.value.code == "soap.status"
    assert "archived" in caught.value.message_en


def test_organizations_become_agency_rows(soap_peer: Peer) -> None:
    _, _, _, directory = _parts(soap_peer)
    rows = {r.code: r for r in directory.agencies()}
    assert rows[H14] == AgencyRow(
        code=H14,
        name="UBND Tỉnh Cao Bằng",
        level=1,
        email="vanthu@caobang.gov.vn",
        source=f"peer:{PEER_NAME}",
    )
    assert (rows[H14_SO].parent_code, rows[H14_SO].level) == (H14, 2)
    assert len(rows) == 4


def test_registering_agencies_is_refused_plainly(soap_peer: Peer) -> None:
    _, _, _, directory = _parts(soap_peer)
    with pytest.raises(PeerError) as registering:
        directory.register(AgencyRow(code=H41_SO, name="Sở Tài chính Tỉnh Nghệ An"))
    with pytest.raises(PeerError) as deleting:
        directory.delete(H41_SO)
    for caught in (registering, deleting):
        assert caught.value.code == "soap.unsupported"
        assert not isinstance(caught.value, PeerUnavailable)
        assert H41_SO in caught.value.message_en


# ----------------------------------------------------------------------------------- faults


def test_a_soap_fault_is_a_peer_error_carrying_the_fault_string(soap_peer: Peer) -> None:
    with pytest.raises(PeerError) as caught:
        soap_peer.link.send(
            OUTBOUND, from_code=H41, to_codes=["000.00.00.X99"], kind=MessageKind.EDOC
        )
    error = caught.value
    assert not isinstance(error, PeerUnavailable)
    assert error.code == "soap.fault"
    assert "unknown receiver 000.00.00.X99" in error.message_en
    assert error.details["fault_code"].endswith("Client.UnknownReceiver")


def test_a_server_fault_is_peer_unavailable_keeping_the_fault(
    soap_peer: Peer, soap_server: SoapHubServer
) -> None:
    soap_server.store.broken = True
    with pytest.raises(PeerUnavailable) as caught:
        _parts(soap_peer)[1].pending(MessageKind.EDOC)
    assert caught.value.code == "soap.fault"
    assert caught.value.details["fault_code"].endswith("Server")


@pytest.mark.parametrize(
    ("overrides", "fault"),
    [
        ({"secret": Secret("not-the-secret")}, "authentication failed"),
        ({"options": {"auth": "none"}}, "UsernameToken required"),
    ],
    ids=["wrong-secret", "no-token"],
)
def test_the_service_refuses_a_caller_it_cannot_authenticate(
    soap_server: SoapHubServer, overrides: dict[str, object], fault: str
) -> None:
    peer = build_peer(peer_settings(soap_server, **overrides))
    try:
        with pytest.raises(PeerError, match=fault) as caught:
            _parts(peer)[1].pending(MessageKind.EDOC)
        assert caught.value.code == "soap.fault"
        assert not isinstance(caught.value, PeerUnavailable)
    finally:
        peer.close()


def test_server_down_is_peer_unavailable(soap_server: SoapHubServer) -> None:
    peer = build_peer(peer_settings(soap_server))
    soap_server.stop()
    try:
        with pytest.raises(PeerUnavailable, match="unreachable"):
            peer.link.send(OUTBOUND, from_code=H41, to_codes=[H14], kind=MessageKind.EDOC)
    finally:
        peer.close()


@pytest.mark.parametrize("status", [200, 502, 503])
def test_an_html_page_instead_of_soap_is_peer_unavailable(
    soap_peer: Peer, soap_server: SoapHubServer, status: int
) -> None:
    page = b"<!DOCTYPE html><html><body><h1>Bao tri he thong</h1></body></html>"
    soap_server.canned = (status, "text/html; charset=utf-8", page)
    with pytest.raises(PeerUnavailable, match="not SOAP") as caught:
        _parts(soap_peer)[1].pending(MessageKind.EDOC)
    assert caught.value.details["http_status"] == status


def test_a_4xx_page_is_a_peer_error_retrying_does_not_mend(
    soap_peer: Peer, soap_server: SoapHubServer
) -> None:
    soap_server.canned = (404, "text/html", b"<html><body>Not Found</body></html>")
    with pytest.raises(PeerError) as caught:
        _parts(soap_peer)[1].pending(MessageKind.EDOC)
    assert not isinstance(caught.value, PeerUnavailable)
    assert caught.value.code == "soap.http"


def test_an_http_error_with_xml_but_no_fault_is_peer_unavailable(
    soap_peer: Peer, soap_server: SoapHubServer
) -> None:
    envelope = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body/></soap:Envelope>"
    )
    soap_server.canned = (500, "text/xml", envelope)
    with pytest.raises(PeerUnavailable, match="without a SOAP fault"):
        _parts(soap_peer)[1].pending(MessageKind.EDOC)


def test_xml_that_is_not_an_envelope_is_peer_unavailable(
    soap_peer: Peer, soap_server: SoapHubServer
) -> None:
    soap_server.canned = (200, "text/xml", b"<status>maintenance</status>")
    with pytest.raises(PeerUnavailable, match="not a SOAP envelope"):
        _parts(soap_peer)[1].pending(MessageKind.EDOC)


def test_a_reply_with_a_dtd_is_refused_unparsed(
    soap_peer: Peer, soap_server: SoapHubServer
) -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body>&e;</soap:Body></soap:Envelope>"
    )
    soap_server.canned = (200, "text/xml", hostile)
    with pytest.raises(PeerError) as caught:
        _parts(soap_peer)[1].pending(MessageKind.EDOC)
    assert caught.value.code == "soap.unsafe_reply"
    assert "root:" not in str(caught.value.to_dict())


def test_a_slow_server_times_out_as_peer_unavailable(soap_server: SoapHubServer) -> None:
    options = {"timeout_s": "0.3", "connect_timeout_s": "1"}
    peer = build_peer(peer_settings(soap_server, options=options))
    soap_server.delay_s = 2.0
    try:
        with pytest.raises(PeerUnavailable, match="timed out"):
            peer.link.send(OUTBOUND, from_code=H41, to_codes=[H14], kind=MessageKind.EDOC)
    finally:
        soap_server.delay_s = 0.0
        peer.close()


# ------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"options": {"proxy": "http://x"}}, "unknown soap option(s) proxy"),
        ({"options": {"timeout_s": "soon"}}, "timeout_s must be a positive number"),
        ({"options": {"auth": "kerberos"}}, "auth must be one of"),
        ({"secret": None}, "needs system_id and secret"),
        ({"options": {"wsdl": "/nonexistent/edoc.wsdl"}}, "cannot load WSDL"),
        ({"options": {"zone": "Asia/Hanoi-ish"}}, "unknown zone"),
    ],
)
def test_bad_settings_fail_at_build(
    soap_server: SoapHubServer, overrides: dict[str, object], fragment: str
) -> None:
    with pytest.raises(SettingsError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        build_peer(peer_settings(soap_server, **overrides))


# -------------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("auth", ["digest", "text"])
def test_the_secret_and_the_bodies_stay_out_of_logs_and_reprs(
    soap_server: SoapHubServer,
    remote: SoapHubClient,
    caplog: pytest.LogCaptureFixture,
    auth: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = peer_settings(soap_server, options={"auth": auth})
    peer = build_peer(settings)
    try:
        link, inbox, tracker, _ = _parts(peer)
        remote_id = link.send(OUTBOUND, from_code=H41, to_codes=[H14], kind=MessageKind.EDOC)
        tracker.delivery_states(remote_id)
        remote.send(INBOUND, from_code=H14, to_codes=[H41], kind=MessageKind.EDOC)
        (item,) = inbox.pending(MessageKind.EDOC)
        inbox.fetch(item)
        inbox.acknowledge(item, accepted=True)
        shown = " ".join([caplog.text, repr(peer), repr(link), repr(settings), str(settings)])
    finally:
        peer.close()
    assert remote_id in caplog.text  # the logs do name the document…
    assert HUB_SYSTEM in repr(link)
    for secret in (HUB_SECRET, REMOTE_SECRET):
        assert secret not in shown  # …never the secret
    for body in (OUTBOUND, INBOUND):  # neither the package nor its base64 form
        assert base64.b64encode(body)[:60].decode() not in caplog.text
    assert "liên thông văn bản" not in caplog.text
    assert "lịch họp" not in caplog.text


def test_a_digest_token_keeps_the_secret_off_the_wire(soap_server: SoapHubServer) -> None:
    soap_server.record = True
    for auth in ("digest", "text"):
        soap_server.bodies.clear()
        peer = build_peer(peer_settings(soap_server, options={"auth": auth}))
        try:
            _parts(peer)[1].pending(MessageKind.EDOC)
        finally:
            peer.close()
        (body,) = soap_server.bodies
        assert HUB_SYSTEM.encode() in body
        assert (HUB_SECRET.encode() in body) is (auth == "text")


def _traces_reply(entry: bytes) -> bytes:
    return (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soap:Body><GetTracesResponse xmlns="urn:lienthong:edoc-hub"><GetTracesResult>'
        + entry
        + b"</GetTracesResult></GetTracesResponse></soap:Body></soap:Envelope>"
    )


@pytest.mark.parametrize(
    "entry",
    [
        # a time that is not an xs:dateTime
        b"<TraceEntry><organizationCode>000.00.00.H14</organizationCode>"
        b"<statusCode>received</statusCode><statusTime>hom qua</statusTime></TraceEntry>",
        # a member the contract does not have
        b"<TraceEntry><organizationCode>000.00.00.H14</organizationCode><unexpected/>"
        b"<statusCode>received</statusCode>"
        b"<statusTime>2026-12-04T08:00:00Z</statusTime></TraceEntry>",
    ],
)
def test_a_soap_reply_outside_the_contract_is_a_peer_error(
    soap_peer: Peer, soap_server: SoapHubServer, entry: bytes
) -> None:
    soap_server.canned = (200, "text/xml; charset=utf-8", _traces_reply(entry))
    with pytest.raises(PeerError) as caught:
        _parts(soap_peer)[2].delivery_states("EDOC-000001")
    assert caught.value.code == "soap.reply"
    assert not isinstance(caught.value, PeerUnavailable)


@pytest.mark.parametrize(
    "written",
    [b"2026-12-04T08:00:00Z", b"2026-12-04T15:00:00+07:00", b"2026-12-04T15:00:00"],
    ids=["utc", "offset", "local-time-read-in-ICT"],
)
def test_a_well_formed_canned_reply_is_read_in_utc(
    soap_peer: Peer, soap_server: SoapHubServer, written: bytes
) -> None:
    """The canned replies above differ from these only by the fault they carry."""
    entry = (
        b"<TraceEntry><organizationCode>000.00.00.H14</organizationCode>"
        b"<statusCode>received</statusCode>"
        b"<statusTime>" + written + b"</statusTime></TraceEntry>"
    )
    soap_server.canned = (200, "text/xml; charset=utf-8", _traces_reply(entry))
    (state,) = _parts(soap_peer)[2].delivery_states("EDOC-000001")
    assert (state.recipient_code, state.status) == (H14, TransportStatus.DONE)
    assert state.at == dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)
    assert state.at is not None
    assert state.at.tzinfo is dt.UTC
