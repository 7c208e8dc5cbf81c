"""The circuit breaker of a peer and the guard around its ports, on a manual clock: closed →
open after N failures, fail fast without touching the peer, half-open probe after the cool-down,
closed on success; a refused credential alerts once and opens at once; health is recorded."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import pytest

from adapters.memory import ManualClock, MemoryPeerHealthStore, RecordingPeerLink
from hub.circuit import CIRCUIT_OPEN, BreakerPolicy, BreakerState, CircuitBreaker
from hub.edxml.model import MessageKind
from hub.errors import PeerAuthRefused, PeerError, PeerUnavailable
from hub.peer_guard import HealthRecorder, breaker_of, guard
from hub.ports import (
    AgencyRow,
    Peer,
    PeerDirectoryDetails,
    PeerHealth,
    RemoteDeliveryState,
    RemoteItem,
)

POLICY = BreakerPolicy(failure_threshold=3, cooldown_s=60.0, auth_cooldown_s=900.0)


def _send(peer: Peer) -> str:
    return peer.link.send(b"<edXML/>", from_code="A", to_codes=["B"], kind=MessageKind.EDOC)


@pytest.fixture
def link() -> RecordingPeerLink:
    return RecordingPeerLink("axis")


@pytest.fixture
def store() -> MemoryPeerHealthStore:
    return MemoryPeerHealthStore()


@pytest.fixture
def peer(link: RecordingPeerLink, clock: ManualClock, store: MemoryPeerHealthStore) -> Peer:
    return guard(Peer("axis", "vxp", link), POLICY, clock=clock, health=store)


def test_opens_after_consecutive_failures_and_then_fails_fast(
    peer: Peer, link: RecordingPeerLink, store: MemoryPeerHealthStore
) -> None:
    link.fail_next(100)
    for _ in range(3):
        with pytest.raises(PeerUnavailable) as exc:
            _send(peer)
        assert exc.value.code == "peer.unavailable"
    assert link.calls == 3
    for _ in range(10):
        with pytest.raises(PeerUnavailable) as exc:
            _send(peer)
        assert exc.value.code == CIRCUIT_OPEN
        assert exc.value.details["retry_at"] is not None
    assert link.calls == 3  # open: the network was not touched
    [row] = store.all()
    assert (row.state, row.consecutive_failures, row.up) == ("open", 3, False)
    assert row.last_error is not None
    assert row.last_error.startswith("peer.unavailable")


def test_a_success_resets_the_count(peer: Peer, link: RecordingPeerLink) -> None:
    for _ in range(5):
        link.fail_next(2)
        for _ in range(2):
            with pytest.raises(PeerUnavailable):
                _send(peer)
        _send(peer)  # two failures, then a success: never three in a row
    breaker = breaker_of(peer)
    assert breaker is not None
    assert breaker.state is BreakerState.CLOSED
    assert len(link.sent) == 5


def test_half_open_probe_after_cooldown_closes_on_success(
    peer: Peer, link: RecordingPeerLink, clock: ManualClock, store: MemoryPeerHealthStore
) -> None:
    link.fail_next(3)
    for _ in range(3):
        with pytest.raises(PeerUnavailable):
            _send(peer)
    clock.advance(59)
    with pytest.raises(PeerUnavailable, match="circuit open"):
        _send(peer)
    clock.advance(1)
    assert _send(peer) == "axis-1"  # the probe goes through and succeeds
    [row] = store.all()
    assert (row.state, row.consecutive_failures, row.alert) == ("closed", 0, None)
    assert row.last_success_at == clock.now()


def test_a_failed_probe_opens_again_for_another_cooldown(
    peer: Peer, link: RecordingPeerLink, clock: ManualClock
) -> None:
    link.fail_next(4)
    for _ in range(3):
        with pytest.raises(PeerUnavailable):
            _send(peer)
    clock.advance(60)
    with pytest.raises(PeerUnavailable) as exc:
        _send(peer)  # the probe: reaches the peer, fails
    assert exc.value.code == "peer.unavailable"
    assert link.calls == 4
    clock.advance(30)
    with pytest.raises(PeerUnavailable) as exc:
        _send(peer)
    assert exc.value.code == CIRCUIT_OPEN
    assert link.calls == 4
    clock.advance(30)
    _send(peer)
    assert link.calls == 5


def test_only_one_probe_at_a_time(clock: ManualClock) -> None:
    breaker = CircuitBreaker("axis", "vxp", POLICY, clock)
    for _ in range(3):
        breaker.before_call()
        breaker.record(PeerUnavailable("down"))
    straggler = False
    clock.advance(60)
    assert breaker.before_call()  # the probe is admitted …
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(PeerUnavailable) as exc:
        breaker.before_call()  # … and a second caller meanwhile fails fast
    assert exc.value.code == CIRCUIT_OPEN
    breaker.record(KeyError("a call admitted long ago ends"), probe=straggler)
    with pytest.raises(PeerUnavailable):
        breaker.before_call()  # still one probe in flight
    breaker.record(None, probe=True)
    assert breaker.state is BreakerState.CLOSED
    assert not breaker.before_call()


def test_a_refusal_of_the_package_is_a_healthy_peer(clock: ManualClock) -> None:
    breaker = CircuitBreaker("axis", "vxp", POLICY, clock)
    for _ in range(10):
        breaker.before_call()
        breaker.record(PeerError("bad package", code="vxp.fail"))
    assert breaker.state is BreakerState.CLOSED
    assert breaker.health.consecutive_failures == 0


def test_a_bug_in_an_adapter_leaves_the_breaker_alone(clock: ManualClock) -> None:
    breaker = CircuitBreaker("axis", "vxp", POLICY, clock)
    for _ in range(10):
        breaker.before_call()
        breaker.record(KeyError("bug"))
    assert breaker.state is BreakerState.CLOSED


class RefusingLink:
    """A link whose peer refuses this hub's credential."""

    def __init__(self) -> None:
        self.calls = 0

    def send(
        self, data: bytes, *, from_code: str, to_codes: Sequence[str], kind: MessageKind
    ) -> str:
        self.calls += 1
        raise PeerAuthRefused("sendEdoc: Authentication failed (ErrorCode 401)")


def test_a_refused_credential_opens_at_once_and_alerts_once(
    clock: ManualClock, store: MemoryPeerHealthStore, caplog: pytest.LogCaptureFixture
) -> None:
    link = RefusingLink()
    peer = guard(Peer("axis", "vxp", link), POLICY, clock=clock, health=store)
    caplog.set_level(logging.INFO)
    for _ in range(20):  # an hour of callers, one every three minutes
        with pytest.raises(PeerError):
            _send(peer)
        clock.advance(180)
    # open at once, probed once per auth cool-down (900 s): 4 calls in the hour, not 20
    assert link.calls == 4
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    security = [r for r in errors if r.name == "lienthong.security"]
    assert len(security) == 1
    assert json.loads(security[0].getMessage())["event"] == "peer_credential_refused"
    assert len([r for r in errors if r.name == "hub.circuit"]) == 1
    assert "secret" not in caplog.text.lower()
    [row] = store.all()
    assert row.alert is not None
    assert row.alert.startswith("peer.auth_refused")
    assert (row.state, row.up) == ("open", False)


def test_a_success_clears_the_alert(clock: ManualClock, store: MemoryPeerHealthStore) -> None:
    breaker = CircuitBreaker("axis", "vxp", POLICY, clock, on_change=HealthRecorder(store))
    breaker.before_call()
    breaker.record(PeerAuthRefused("refused"))
    clock.advance(900)
    probe = breaker.before_call()
    breaker.record(None, probe=probe)
    [row] = store.all()
    assert (row.alert, row.state, row.up) == (None, "closed", True)


class Everything:
    """Inbox, tracker and directory (with the details) of a peer that is down."""

    def __init__(self) -> None:
        self.calls = 0

    def _down(self) -> None:
        self.calls += 1
        raise PeerUnavailable("down")

    def pending(self, kind: MessageKind, *, limit: int = 100) -> Sequence[RemoteItem]:
        self._down()
        return []

    def fetch(self, item: RemoteItem) -> bytes:
        self._down()
        return b""

    def acknowledge(self, item: RemoteItem, *, accepted: bool, reason: str | None = None) -> None:
        self._down()

    def delivery_states(self, remote_id: str) -> Sequence[RemoteDeliveryState]:
        self._down()
        return []

    def agencies(self) -> Sequence[AgencyRow]:
        self._down()
        return []

    def register(self, agency: AgencyRow) -> None:
        self._down()

    def delete(self, code: str) -> None:
        self._down()

    def agencies_qd20(self) -> Sequence[AgencyRow]:
        self._down()
        return []

    def agency_changes(self) -> Sequence[AgencyRow]:
        self._down()
        return []


def test_every_port_of_a_peer_shares_one_breaker(clock: ManualClock) -> None:
    inner = Everything()
    link = RecordingPeerLink("axis")
    peer = guard(
        Peer("axis", "vxp", link, inbox=inner, tracker=inner, directory=inner),
        POLICY,
        clock=clock,
    )
    assert peer.inbox is not None
    assert peer.tracker is not None
    assert peer.directory is not None
    assert isinstance(peer.directory, PeerDirectoryDetails)
    with pytest.raises(PeerUnavailable):
        peer.inbox.pending(MessageKind.EDOC)
    with pytest.raises(PeerUnavailable):
        peer.tracker.delivery_states("r1")
    with pytest.raises(PeerUnavailable):
        peer.directory.agency_changes()
    assert inner.calls == 3
    calls = [
        lambda: _send(peer),
        lambda: peer.inbox.fetch(RemoteItem("r1", MessageKind.EDOC)) if peer.inbox else None,
        lambda: peer.directory.agencies() if peer.directory else None,
    ]
    for call in calls:
        with pytest.raises(PeerUnavailable) as exc:
            call()
        assert exc.value.code == CIRCUIT_OPEN
    assert inner.calls == 3
    assert link.calls == 0


def test_successes_are_recorded_at_most_every_interval(
    clock: ManualClock, store: MemoryPeerHealthStore
) -> None:
    recorder = HealthRecorder(store, success_interval_s=30)
    breaker = CircuitBreaker("axis", "vxp", POLICY, clock, on_change=recorder)
    for _ in range(100):  # 100 pushes in 50 s
        breaker.before_call()
        breaker.record(None)
        clock.advance(0.5)
    assert store.writes == 2  # the first, and one 30 s later
    breaker.before_call()
    breaker.record(PeerUnavailable("down"))
    assert store.writes == 3  # a change is written at once
    [row] = store.all()
    assert row.consecutive_failures == 1


def test_health_up_means_closed_without_alert() -> None:
    assert PeerHealth("a").up
    assert not PeerHealth("a", state="half_open").up
    assert not PeerHealth("a", alert="peer.auth_refused: x").up


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        BreakerPolicy(failure_threshold=0)
