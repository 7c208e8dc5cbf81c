"""Dead letters: discard (hub/services/dispatch.py ``discard`` through ``Monitor.discard``) over
every store — the in-memory fake, SQLite and PostgreSQL (this folder's ``uow_factory``)."""

from __future__ import annotations

import pytest

from adapters.memory import ManualClock, MemoryBlobStore
from hub.delivery import TERMINAL, Event, State, advance, allowed
from hub.errors import InvalidRequest
from hub.messaging import RetryPolicy
from hub.ports import UnitOfWorkFactory
from hub.services.contracts import PushResult
from hub.services.dispatch import DispatchHandler, ForwardHandler
from hub.services.hub import HubServices
from hub.services.monitor import Monitor
from hub.vxp.replies import sent_row
from tests.factories import make_edoc
from tests.unit.hub.conftest import UBND

LOCAL_TO = "000.00.02.H41"  # hosted by qlvb.so
UNKNOWN_TO = "000.99.99.H41"  # hosted by nobody → undeliverable at intake
NATIONAL_TO = "000.00.00.G22"  # → national axis
REASON = "Cơ quan nhận đã giải thể; gửi lại qua đường bưu điện"


@pytest.fixture
def monitor(uow_factory: UnitOfWorkFactory, clock: ManualClock) -> Monitor:
    return Monitor(uow_factory, clock)


@pytest.fixture
def pushed(hub: HubServices) -> PushResult:
    return hub.push(UBND, make_edoc(sender="000.00.00.H41", to=[LOCAL_TO, UNKNOWN_TO, NATIONAL_TO]))


def _delivery(result: PushResult, recipient: str) -> str:
    return next(r.delivery_id for r in result.recipients if r.recipient == recipient)


def _to_state(
    uow_factory: UnitOfWorkFactory, clock: ManualClock, delivery_id: str, *events: Event
) -> None:
    with uow_factory() as uow:
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        for event in events:
            row = advance(uow.deliveries, row, event, at=clock.now(), reason="peer down")
        uow.commit()


def test_state_machine_discard_only_from_dead_undeliverable_retry_wait() -> None:
    sources = {s for (s, e) in _pairs() if e is Event.DISCARD}
    assert sources == {State.DEAD, State.UNDELIVERABLE, State.RETRY_WAIT}
    assert State.DISCARDED in TERMINAL
    assert not any(allowed(State.DISCARDED, e) for e in Event)  # nothing leaves it


def _pairs() -> list[tuple[State, Event]]:
    from hub.delivery import TRANSITIONS

    return list(TRANSITIONS)


def test_discard_moves_keeps_reason_and_audits(
    monitor: Monitor,
    pushed: PushResult,
    uow_factory: UnitOfWorkFactory,
    clock: ManualClock,
) -> None:
    undeliverable = _delivery(pushed, UNKNOWN_TO)
    local = _delivery(pushed, LOCAL_TO)  # available from the push on: not discardable
    clock.advance(60)

    moved = monitor.discard(
        [undeliverable, local, "no-such-id", undeliverable], reason=f"  {REASON} ", actor="cli"
    )

    assert moved == [undeliverable]
    with uow_factory() as uow:
        row = uow.deliveries.get(undeliverable)
        assert row is not None
        assert (row.state, row.last_error, row.updated_at) == ("discarded", REASON, clock.now())
        last = uow.deliveries.events(undeliverable)[-1]
        assert (last.from_state, last.to_state) == ("undeliverable", "discarded")
        assert last.reason == f"discard by cli: {REASON}"
        other = uow.deliveries.get(local)
        assert other is not None
        assert other.state == State.AVAILABLE
    [entry] = monitor.audit(action="delivery.discard")
    assert (entry.actor, entry.details["deliveries"], entry.details["reason"]) == (
        "cli",
        [undeliverable],
        REASON,
    )
    assert monitor.deliveries("discarded")[0].delivery.id == undeliverable
    # discarded is final: neither a redrive nor a second discard moves it
    assert monitor.redrive([undeliverable], actor="cli") == []
    assert monitor.discard([undeliverable], reason="again", actor="cli") == []


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_discard_without_reason_is_refused_and_changes_nothing(
    monitor: Monitor, pushed: PushResult, uow_factory: UnitOfWorkFactory, reason: str
) -> None:
    target = _delivery(pushed, UNKNOWN_TO)
    with pytest.raises(InvalidRequest) as caught:
        monitor.discard([target], reason=reason, actor="cli")
    assert caught.value.code == "discard.reason_required"
    assert caught.value.details["field"] == "reason"
    with uow_factory() as uow:
        row = uow.deliveries.get(target)
        assert row is not None
        assert row.state == State.UNDELIVERABLE
    assert monitor.audit(action="delivery.discard") == []


def test_discard_of_an_over_long_reason_is_refused(monitor: Monitor, pushed: PushResult) -> None:
    with pytest.raises(InvalidRequest, match="longer than 1000"):
        monitor.discard([_delivery(pushed, UNKNOWN_TO)], reason="x" * 1001, actor="cli")


@pytest.mark.parametrize(
    ("events", "state"),
    [
        ((Event.FORWARD_FAILED,), State.RETRY_WAIT),
        ((Event.FORWARD_FAILED, Event.GIVE_UP), State.DEAD),
    ],
)
def test_discard_of_dead_and_retry_wait_and_the_late_retry_does_nothing(
    monitor: Monitor,
    pushed: PushResult,
    uow_factory: UnitOfWorkFactory,
    clock: ManualClock,
    blobs: MemoryBlobStore,
    events: tuple[Event, ...],
    state: State,
) -> None:
    DispatchHandler(uow_factory, clock, wake_outbox=lambda: None).dispatch(
        [r.delivery_id for r in pushed.recipients]
    )
    national = _delivery(pushed, NATIONAL_TO)
    _to_state(uow_factory, clock, national, *events)
    assert [i.delivery.id for i in monitor.deliveries(state)] == [national]
    assert monitor.deliveries(state)[0].discardable
    assert monitor.discard([national], reason=REASON, actor="admin@x") == [national]

    # The retry the broker may still hold finds the copy past its step: no push, no change.
    forward = ForwardHandler(
        uow_factory, blobs, {}, clock, organ_id="000.00.00.H41", retry=RetryPolicy()
    )
    assert forward.forward(national) is None
    with uow_factory() as uow:
        row = uow.deliveries.get(national)
        assert row is not None
        assert row.state == State.DISCARDED


def test_sent_list_shows_discarded_and_vxp_says_fail(
    monitor: Monitor, pushed: PushResult, hub: HubServices
) -> None:
    target = _delivery(pushed, UNKNOWN_TO)
    monitor.discard([target], reason=REASON, actor="cli")
    sent = {s.to_code: s for s in hub.list_sent(UBND, pushed.doc_id)}
    row = sent[UNKNOWN_TO]
    assert row.send_status == "discarded"
    assert REASON in row.send_status_desc
    wire = sent_row(row)
    assert wire["sendStatus"] == "fail"  # the word the SDK knows for a copy that will not arrive
    assert REASON in wire["sendStatusDesc"]
    assert sent_row(sent[LOCAL_TO])["sendStatus"] == "available"  # other states are unchanged
