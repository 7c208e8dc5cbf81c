"""Peer faults as a real loopback HTTP server produces them, through the hub's VXP client and
the peer guard: an HTML page answered with 200 is a failure (never "no documents" or a refusal
of the package), a refused credential is an alert, and an open breaker stops the requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from adapters.memory import ManualClock, MemoryPeerHealthStore
from adapters.vxp_client import VxpClient
from hub.circuit import CIRCUIT_OPEN, BreakerPolicy
from hub.edxml.model import MessageKind
from hub.errors import PeerAuthRefused, PeerBadReply, PeerError, PeerUnavailable
from hub.peer_guard import guard
from hub.ports import Peer
from tests.loopback import LoopbackServer, QuietHandler

HTML = "<!DOCTYPE html><html><body><h1>Cổng đăng nhập</h1>Please log in</body></html>".encode()
POLICY = BreakerPolicy(failure_threshold=3, cooldown_s=60.0, auth_cooldown_s=900.0)


class Answers:
    """What the loopback peer answers, and how many requests it saw."""

    def __init__(self) -> None:
        self.status = 200
        self.body = HTML
        self.ctype = "text/html; charset=utf-8"
        self.requests = 0
        self.lock = threading.Lock()

    def envelope(self, status: int, error_code: str, desc: str) -> None:
        self.status = status
        self.ctype = "application/json"
        envelope = {"status": "FAIL", "ErrorCode": error_code, "ErrorDesc": desc}
        self.body = json.dumps(envelope).encode()


@pytest.fixture
def manual() -> ManualClock:
    return ManualClock()


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def server(answers: Answers) -> Iterator[LoopbackServer]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with answers.lock:
                answers.requests += 1
            self._answer(answers.status, answers.body, answers.ctype)

    srv = LoopbackServer(Handler)
    yield srv
    srv.stop()


@pytest.fixture
def client(server: LoopbackServer) -> Iterator[VxpClient]:
    with VxpClient(server.base_url, "hub.h41", "s3cret-never-logged") as c:
        yield c


def _send(link: object) -> str:
    return link.send(  # type: ignore[attr-defined, no-any-return]
        b"<edXML/>", from_code="000.00.00.H41", to_codes=["000.00.00.G22"], kind=MessageKind.EDOC
    )


def test_an_html_page_with_200_is_a_bad_reply(client: VxpClient) -> None:
    with pytest.raises(PeerBadReply) as exc:
        _send(client)
    assert isinstance(exc.value, PeerUnavailable)  # retried like an outage
    assert exc.value.code == "vxp.reply"
    with pytest.raises(PeerBadReply):
        client.get_received_edoc_list()  # never "no new documents"


def test_html_answers_open_the_breaker_and_stop_the_requests(
    client: VxpClient, answers: Answers, manual: ManualClock
) -> None:
    store = MemoryPeerHealthStore()
    peer = guard(Peer("national", "vxp", client), POLICY, clock=manual, health=store)
    for _ in range(3):
        with pytest.raises(PeerBadReply):
            _send(peer.link)
    for _ in range(20):
        with pytest.raises(PeerUnavailable) as exc:
            _send(peer.link)
        assert exc.value.code == CIRCUIT_OPEN
    assert answers.requests == 3
    [row] = store.all()
    assert (row.state, row.consecutive_failures) == ("open", 3)
    assert row.last_error is not None
    assert "not JSON" in row.last_error


@pytest.mark.parametrize(
    ("status", "error_code", "desc"),
    [
        pytest.param(401, "401", "Authentication failed", id="http-401"),
        pytest.param(403, "403", "Forbidden", id="http-403"),
        pytest.param(200, "01", "Xác thực thất bại", id="fail-envelope-200"),
    ],
)
def test_a_refused_credential_is_an_alert_not_a_storm(
    client: VxpClient,
    answers: Answers,
    manual: ManualClock,
    caplog: pytest.LogCaptureFixture,
    status: int,
    error_code: str,
    desc: str,
) -> None:
    answers.envelope(status, error_code, desc)
    store = MemoryPeerHealthStore()
    peer = guard(Peer("national", "vxp", client), POLICY, clock=manual, health=store)
    for _ in range(30):
        with pytest.raises(PeerError):
            _send(peer.link)
        manual.advance(60)
    assert answers.requests == 2  # at once, then one probe after the 900 s auth cool-down
    [row] = store.all()
    assert row.alert is not None
    assert row.alert.startswith("peer.auth_refused")
    security = [r for r in caplog.records if r.name == "lienthong.security"]
    assert len(security) == 1
    assert "s3cret" not in caplog.text


def test_a_refusal_of_the_package_leaves_the_peer_up(
    client: VxpClient, answers: Answers, manual: ManualClock
) -> None:
    answers.envelope(200, "-1", "Văn bản không hợp lệ")
    peer = guard(Peer("national", "vxp", client), POLICY, clock=manual)
    for _ in range(10):
        with pytest.raises(PeerError) as exc:
            _send(peer.link)
        assert not isinstance(exc.value, PeerUnavailable | PeerAuthRefused)
    assert answers.requests == 10


def test_a_forward_answered_with_html_waits_and_retries(
    client: VxpClient, answers: Answers, manual: ManualClock
) -> None:
    """The forward handler treats the HTML page like an outage: retry_wait, retried by age."""
    from adapters.memory import MemoryBlobStore, MemoryStore
    from hub.agency.loading import load_sample_registry
    from hub.messaging import Retry, RetryPolicy
    from hub.ports import NATIONAL_LINK
    from hub.routing import Scope
    from hub.secrets import SecretBox, generate_key
    from hub.services.base import Deps, HubConfig
    from hub.services.dispatch import DispatchHandler, ForwardHandler
    from hub.services.hub import HubServices
    from tests.factories import make_edoc

    uow = MemoryStore().unit_of_work
    blobs = MemoryBlobStore()
    registry = load_sample_registry()
    deps = Deps(uow, blobs, lambda: registry, manual, wake_outbox=lambda: None)
    config = HubConfig(organ_id="000.00.00.H41", scope=Scope.parse(["H41"]))
    hub = HubServices(deps, config, SecretBox(generate_key()))
    hub.systems.add("qlvb.ubnd", ["000.00.00.H41"], secret="a")
    pushed = hub.push("qlvb.ubnd", make_edoc(sender="000.00.00.H41", to=["000.00.00.G22"]))
    delivery_id = pushed.recipients[0].delivery_id
    DispatchHandler(uow, manual, wake_outbox=lambda: None).dispatch([delivery_id])
    peer = guard(Peer(NATIONAL_LINK, "vxp", client), POLICY, clock=manual)
    forward = ForwardHandler(
        uow,
        blobs,
        {NATIONAL_LINK: peer.link},
        manual,
        organ_id="000.00.00.H41",
        retry=RetryPolicy(max_attempts=2),  # a package refusal would be dead after 2
    )
    for _ in range(4):
        with pytest.raises(Retry):
            forward.forward(delivery_id)
        manual.advance(120)
    with uow() as work:
        row = work.deliveries.get(delivery_id)
    assert row is not None
    assert row.state == "retry_wait"
    assert row.last_error is not None
    assert row.last_error.startswith("vxp.reply")
