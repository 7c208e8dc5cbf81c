"""Forwarding to a peer that is down for hours, simulated on a manual clock over every store
(memory, SQLite, PostgreSQL): retried with backoff until the give-up age (not an attempt count),
circuit-open waits burn no attempt, a refused credential does not storm the peer, a redrive
starts a fresh day."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.memory import ManualClock, MemoryBlobStore, MemoryPeerHealthStore, RecordingPeerLink
from hub.circuit import CIRCUIT_OPEN, BreakerPolicy
from hub.errors import PeerAuthRefused, PeerError
from hub.messaging import GiveUp, Retry, RetryPolicy
from hub.peer_guard import guard
from hub.ports import NATIONAL_LINK, Peer, PeerLink, UnitOfWorkFactory
from hub.services.dispatch import DispatchHandler, ForwardHandler, redrive
from hub.services.hub import HubServices
from tests.factories import make_edoc
from tests.unit.hub.conftest import UBND, UBND_AGENCIES

G22 = "000.00.00.G22"  # a central body: routed to the national axis
DAY = 86400.0
POLICY = RetryPolicy(max_attempts=8, base_delay_s=2.0, max_delay_s=600.0, peer_give_up_s=DAY)
BREAKER = BreakerPolicy(failure_threshold=5, cooldown_s=60.0, auth_cooldown_s=900.0)


def _forwarding(
    hub: HubServices, uow: UnitOfWorkFactory, clock: ManualClock, number: int = 1
) -> str:
    data = make_edoc(sender=UBND_AGENCIES[0], to=[G22], code_number=str(number))
    result = hub.push(UBND, data)
    delivery_id = result.recipients[0].delivery_id
    DispatchHandler(uow, clock, wake_outbox=lambda: None).dispatch([delivery_id])
    return delivery_id


def _handler(
    uow: UnitOfWorkFactory, blobs: MemoryBlobStore, clock: ManualClock, link: PeerLink
) -> ForwardHandler:
    return ForwardHandler(
        uow,
        blobs,
        {NATIONAL_LINK: link},
        clock,
        organ_id="000.00.00.H41",
        retry=POLICY,
        draw=lambda: 0.5,  # no jitter: the schedule below is exact
    )


def _run_until_settled(
    forward: ForwardHandler, delivery_id: str, clock: ManualClock, *, hours: float
) -> tuple[str, int, float]:
    """Drive the retries as the broker would (wait each Retry's delay) for at most ``hours``;
    return (outcome, retries, hours elapsed)."""
    start = clock.now()
    retries = 0
    while (clock.now() - start).total_seconds() < hours * 3600:
        try:
            forward.forward(delivery_id)
        except Retry as retry:
            retries += 1
            clock.advance(retry.delay_s)
            continue
        except GiveUp:
            return "dead", retries, (clock.now() - start).total_seconds() / 3600
        return "forwarded", retries, (clock.now() - start).total_seconds() / 3600
    return "waiting", retries, hours


def _state(uow: UnitOfWorkFactory, delivery_id: str) -> tuple[str, int]:
    with uow() as work:
        row = work.deliveries.get(delivery_id)
        assert row is not None
        return row.state, row.attempts


def test_a_peer_down_for_30_hours_is_given_up_at_the_give_up_age(
    hub: HubServices, uow_factory: UnitOfWorkFactory, blobs: MemoryBlobStore, clock: ManualClock
) -> None:
    link = RecordingPeerLink("national")
    link.fail_next(10**6)
    store = MemoryPeerHealthStore()
    peer = guard(Peer(NATIONAL_LINK, "vxp", link), BREAKER, clock=clock, health=store)
    delivery_id = _forwarding(hub, uow_factory, clock)
    outcome, retries, hours = _run_until_settled(
        _handler(uow_factory, blobs, clock, peer.link), delivery_id, clock, hours=30
    )
    assert outcome == "dead"
    assert 24.0 <= hours < 24.0 + 600 / 3600 + 0.01  # at the give-up age, not before
    assert retries > POLICY.max_attempts * 10  # far beyond the old attempt cap
    state, attempts = _state(uow_factory, delivery_id)
    assert state == "dead"
    # every push that reached the network counts (the last one is recorded by the give-up);
    # past the first minutes each retry comes after the breaker's cool-down: a probe
    assert attempts == link.calls - 1
    with uow_factory() as uow:
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        assert row.last_error is not None
    [health] = store.all()
    assert health.consecutive_failures == link.calls
    assert not health.up


def test_a_peer_back_after_20_hours_gets_the_package(
    hub: HubServices, uow_factory: UnitOfWorkFactory, blobs: MemoryBlobStore, clock: ManualClock
) -> None:
    link = RecordingPeerLink("national")
    link.fail_next(10**6)
    peer = guard(Peer(NATIONAL_LINK, "vxp", link), BREAKER, clock=clock)
    delivery_id = _forwarding(hub, uow_factory, clock)
    forward = _handler(uow_factory, blobs, clock, peer.link)
    assert _run_until_settled(forward, delivery_id, clock, hours=20)[0] == "waiting"
    link.fail_next(0)  # the axis is back
    outcome, _, hours = _run_until_settled(forward, delivery_id, clock, hours=1)
    assert outcome == "forwarded"
    assert hours <= 0.2  # found within the capped backoff / cool-down, not hours later
    assert [s.to_codes for s in link.sent] == [(G22,)]
    assert _state(uow_factory, delivery_id)[0] == "forwarded"


def test_circuit_open_waits_do_not_burn_attempts(
    hub: HubServices, uow_factory: UnitOfWorkFactory, blobs: MemoryBlobStore, clock: ManualClock
) -> None:
    link = RecordingPeerLink("national")
    link.fail_next(5)
    peer = guard(Peer(NATIONAL_LINK, "vxp", link), BREAKER, clock=clock)
    first = _forwarding(hub, uow_factory, clock)
    forward = _handler(uow_factory, blobs, clock, peer.link)
    for _ in range(5):
        with pytest.raises(Retry):
            forward.forward(first)
        # the broker would wait; move just past the delay's floor (breaker cool-down is longer)
        clock.advance(POLICY.base_delay_s)
    assert _state(uow_factory, first) == ("retry_wait", 5)
    second = _forwarding(hub, uow_factory, clock, 2)
    with pytest.raises(Retry) as retry:
        forward.forward(second)  # the breaker is open: refused before the network
    assert link.calls == 5
    assert _state(uow_factory, second) == ("retry_wait", 0)
    # it comes back when the breaker lets a probe through (cool-down 60 s), not 2 s later
    assert 55 <= retry.value.delay_s <= 60 * 1.1 + POLICY.base_delay_s
    with uow_factory() as uow:
        row = uow.deliveries.get(second)
        assert row is not None
        assert row.last_error is not None
        assert row.last_error.startswith(CIRCUIT_OPEN)


class RefusingLink:
    """A peer that refuses this hub's credential on every call."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, data: bytes, **kw: object) -> str:
        self.calls += 1
        raise PeerAuthRefused("sendEdoc: Authentication failed (ErrorCode 401)")


def test_a_refused_credential_does_not_storm_the_peer(
    hub: HubServices, uow_factory: UnitOfWorkFactory, blobs: MemoryBlobStore, clock: ManualClock
) -> None:
    link = RefusingLink()
    peer = guard(Peer(NATIONAL_LINK, "vxp", link), BREAKER, clock=clock)  # type: ignore[arg-type]
    forward = _handler(uow_factory, blobs, clock, peer.link)
    deliveries = [_forwarding(hub, uow_factory, clock, n) for n in range(10)]
    due = dict.fromkeys(deliveries, clock.now())
    end = clock.now().timestamp() + 2 * 3600
    while clock.now().timestamp() < end:  # two hours, ten deliveries waiting
        delivery_id, at = min(due.items(), key=lambda kv: kv[1])
        if at > clock.now():
            clock.advance((at - clock.now()).total_seconds())
        with pytest.raises(Retry) as retry:
            forward.forward(delivery_id)
        due[delivery_id] = clock.now() + dt.timedelta(seconds=retry.value.delay_s)
    # once per auth cool-down (900 s), whatever the number of waiting deliveries
    assert link.calls <= 2 * 3600 / 900 + 1
    assert {_state(uow_factory, d)[0] for d in deliveries} == {"retry_wait"}


def test_a_redrive_starts_a_fresh_day(
    hub: HubServices, uow_factory: UnitOfWorkFactory, blobs: MemoryBlobStore, clock: ManualClock
) -> None:
    link = RecordingPeerLink("national")
    link.fail_next(10**6)
    delivery_id = _forwarding(hub, uow_factory, clock)
    forward = _handler(uow_factory, blobs, clock, link)
    assert _run_until_settled(forward, delivery_id, clock, hours=30)[0] == "dead"
    assert redrive(uow_factory, clock, [delivery_id]) == [delivery_id]
    DispatchHandler(uow_factory, clock, wake_outbox=lambda: None).dispatch([delivery_id])
    with pytest.raises(Retry):
        forward.forward(delivery_id)  # age counts from the redrive's dispatch, not the push
    assert _state(uow_factory, delivery_id)[0] == "retry_wait"


def test_a_peer_refusing_the_package_is_dead_after_max_attempts(
    hub: HubServices, uow_factory: UnitOfWorkFactory, blobs: MemoryBlobStore, clock: ManualClock
) -> None:
    class Refuses:
        def send(self, data: bytes, **kw: object) -> str:
            raise PeerError("sendEdoc refused by peer: bad package", code="vxp.fail")

    delivery_id = _forwarding(hub, uow_factory, clock)
    forward = _handler(uow_factory, blobs, clock, Refuses())  # type: ignore[arg-type]
    outcome, retries, hours = _run_until_settled(forward, delivery_id, clock, hours=30)
    assert (outcome, retries) == ("dead", POLICY.max_attempts - 1)
    assert hours < 1
