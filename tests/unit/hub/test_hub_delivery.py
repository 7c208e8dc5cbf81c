"""The delivery state machine: the table, and a property walk over random event sequences."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory import MemoryStore
from hub.delivery import (
    INBOX,
    TERMINAL,
    TRANSITIONS,
    Event,
    State,
    advance,
    allowed,
    apply,
    describe,
    transition,
)
from hub.errors import Conflict, IllegalTransition
from hub.ports import DeliveryRow

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def _row(state: State = State.QUEUED) -> DeliveryRow:
    return DeliveryRow(
        id="d1", doc_id="doc1", recipient_code="000.00.02.H41", resolved_code=None,
        route="local", peer_name=None, system_id="qlvb.so", state=state.value, attempts=0,
        next_attempt_at=None, last_error=None, business_status=None, business_status_desc=None,
        business_status_at=None, created_at=T0, updated_at=T0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("state", "event", "expected"),
    [
        (State.QUEUED, Event.DISPATCH_LOCAL, State.AVAILABLE),
        (State.QUEUED, Event.DISPATCH_REMOTE, State.FORWARDING),
        (State.QUEUED, Event.NO_ROUTE, State.UNDELIVERABLE),
        (State.AVAILABLE, Event.FETCH, State.FETCHED),
        (State.FETCHED, Event.PROCESSING, State.FETCHED),
        (State.FETCHED, Event.DONE, State.DONE),
        (State.FETCHED, Event.FAIL, State.AVAILABLE),
        (State.AVAILABLE, Event.REVOKE, State.REVOKED),
        (State.FORWARDING, Event.FORWARD_FAILED, State.RETRY_WAIT),
        (State.RETRY_WAIT, Event.RETRY, State.FORWARDING),
        (State.RETRY_WAIT, Event.GIVE_UP, State.DEAD),
        (State.DEAD, Event.REDRIVE, State.QUEUED),
    ],
)
def test_legal_transitions(state: State, event: Event, expected: State) -> None:
    assert transition(state, event) is expected
    assert allowed(state.value, event.value)


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (State.FETCHED, Event.REVOKE),  # the recipient has it: a revoke is a new delivery
        (State.DONE, Event.FAIL),
        (State.QUEUED, Event.FETCH),  # not in the inbox yet
        (State.FORWARDED, Event.REDRIVE),
        (State.REVOKED, Event.DISPATCH_LOCAL),
    ],
)
def test_illegal_transitions_raise(state: State, event: Event) -> None:
    assert not allowed(state, event)
    with pytest.raises(IllegalTransition) as info:
        transition(state, event)
    assert info.value.details == {"state": state.value, "event": event.value}


def test_unknown_names_are_illegal_not_crashes() -> None:
    assert not allowed("lost", "fetch")
    with pytest.raises(IllegalTransition):
        transition("lost", Event.FETCH)


def test_every_state_has_a_description_and_is_reachable_from_queued() -> None:
    reachable = {State.QUEUED}
    frontier = [State.QUEUED]
    while frontier:
        state = frontier.pop()
        for (src, _event), dst in TRANSITIONS.items():
            if src is state and dst not in reachable:
                reachable.add(dst)
                frontier.append(dst)
    assert reachable == set(State)
    assert all(describe(s) != s.value for s in State)


def test_apply_counts_attempts_and_stamps_times() -> None:
    row = _row(State.AVAILABLE)
    fetched, event = apply(row, Event.FETCH, at=T0 + dt.timedelta(seconds=5))
    assert fetched.state == "fetched"
    assert fetched.fetched_at == T0 + dt.timedelta(seconds=5)
    assert (event.from_state, event.to_state) == ("available", "fetched")
    failed, _ = apply(fetched, Event.FAIL, at=T0, reason="parse error at recipient")
    assert failed.attempts == 1
    assert failed.last_error == "parse error at recipient"
    done, _ = apply(apply(failed, Event.FETCH, at=T0)[0], Event.DONE, at=T0)
    assert done.done_at == T0


def test_advance_is_compare_and_set() -> None:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.deliveries.add(_row())
        uow.commit()
    with store.unit_of_work() as first, store.unit_of_work() as second:
        row1 = first.deliveries.get("d1")
        row2 = second.deliveries.get("d1")
        assert row1 is not None
        assert row2 is not None
        advance(first.deliveries, row1, Event.DISPATCH_LOCAL, at=T0)
        first.commit()
        # second read "queued" before first committed; its write must lose.
        second.rollback()
        with pytest.raises(Conflict):
            advance(second.deliveries, row2, Event.NO_ROUTE, at=T0)
    with store.unit_of_work() as uow:
        final = uow.deliveries.get("d1")
        assert final is not None
        assert final.state == "available"
        assert [e.to_state for e in uow.deliveries.events("d1")] == ["available"]


@given(st.lists(st.sampled_from(list(Event)), max_size=40))
def test_random_walks_stay_in_the_table(events: list[Event]) -> None:
    row = _row()
    history = [State.QUEUED]
    for event in events:
        state = State(row.state)
        if not allowed(state, event):
            with pytest.raises(IllegalTransition):
                apply(row, event, at=T0)
            continue
        row, record = apply(row, event, at=T0)
        new = State(row.state)  # never an undefined state
        assert record.from_state == state.value
        assert record.to_state == new.value
        if state in TERMINAL:
            # terminal states stay terminal; only redrive (back to queued) or discard (for
            # good) leaves dead / undeliverable, and nothing leaves discarded
            assert (event, new) in ((Event.REDRIVE, State.QUEUED), (Event.DISCARD, State.DISCARDED))
            assert state in (State.DEAD, State.UNDELIVERABLE)
        if new is State.DISCARDED:
            assert state in (State.DEAD, State.UNDELIVERABLE, State.RETRY_WAIT)
        if new is State.DONE:
            assert row.done_at is not None
            assert history[-1] is State.FETCHED  # done only after the recipient took it
        if new is State.REVOKED:
            assert state in (State.QUEUED, State.AVAILABLE)  # never after a fetch
        history.append(new)
    assert row.attempts == sum(
        1
        for a, b in itertools.pairwise(history)
        if (a, b) in ((State.FETCHED, State.AVAILABLE), (State.AVAILABLE, State.AVAILABLE),
                      (State.FORWARDING, State.RETRY_WAIT))
    )  # fmt: skip


def test_inbox_states_are_not_terminal() -> None:
    assert not set(INBOX) & TERMINAL
