"""The IT read model (hub/services/monitor.py) over every store: the in-memory fake, SQLite and
PostgreSQL (``uow_factory`` is parametrized in this folder's conftest)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from adapters.memory import ManualClock
from hub.delivery import Event, State, advance
from hub.errors import NotFound
from hub.ports import UnitOfWorkFactory
from hub.services.contracts import PushResult
from hub.services.dispatch import DispatchHandler
from hub.services.hub import HubServices
from hub.services.monitor import Monitor
from tests.factories import make_edoc
from tests.unit.hub.conftest import SO, UBND

LOCAL_TO = "000.00.02.H41"  # hosted by qlvb.so
UNKNOWN_TO = "000.99.99.H41"  # in scope, hosted by nobody → undeliverable at intake
NATIONAL_TO = "000.00.00.G22"  # a ministry outside the scope and every peer → national axis
HOSTILE = "<script>alert('x')</script> & “trích yếu”"


@pytest.fixture
def monitor(uow_factory: UnitOfWorkFactory, clock: ManualClock) -> Monitor:
    return Monitor(uow_factory, clock)


@pytest.fixture
def pushed(hub: HubServices) -> PushResult:
    data = make_edoc(
        sender="000.00.00.H41", to=[LOCAL_TO, UNKNOWN_TO, NATIONAL_TO], subject=HOSTILE
    )
    return hub.push(UBND, data)


def _delivery(result: PushResult, recipient: str) -> str:
    return next(r.delivery_id for r in result.recipients if r.recipient == recipient)


def test_overview_counts_deliveries_by_state_and_route(
    monitor: Monitor, pushed: PushResult, clock: ManualClock
) -> None:
    ov = monitor.overview()
    assert ov.by_state_route == {
        ("available", "local"): 1,  # in its system's inbox from the push on
        ("queued", "national"): 1,
        ("undeliverable", "none"): 1,
    }
    assert ov.by_state() == {"available": 1, "queued": 1, "undeliverable": 1}
    assert (ov.documents_last_hour, ov.documents_last_day) == (1, 1)
    clock.advance(2 * 3600)
    later = monitor.overview()
    assert (later.documents_last_hour, later.documents_last_day) == (0, 1)


def test_overview_oldest_waiting_and_failing_peers(
    monitor: Monitor,
    pushed: PushResult,
    uow_factory: UnitOfWorkFactory,
    clock: ManualClock,
) -> None:
    DispatchHandler(uow_factory, clock, wake_outbox=lambda: None).dispatch(
        [r.delivery_id for r in pushed.recipients]
    )
    national = _delivery(pushed, NATIONAL_TO)
    clock.advance(30)
    with uow_factory() as uow:
        row = uow.deliveries.get(national)
        assert row is not None
        assert row.state == State.FORWARDING
        advance(uow.deliveries, row, Event.FORWARD_FAILED, at=clock.now(), reason="peer down")
        uow.commit()
    clock.advance(90)

    ov = monitor.overview()
    assert [(w.system_id, w.waiting) for w in ov.oldest_waiting] == [(SO, 1)]
    assert (ov.at - ov.oldest_waiting[0].oldest_at).total_seconds() == 120
    assert [(p.peer, p.retry_wait, p.dead) for p in ov.failing_peers] == [("national", 1, 0)]


def test_problem_list_carries_reason_subject_and_sender(
    monitor: Monitor, pushed: PushResult
) -> None:
    [item] = monitor.deliveries("undeliverable")
    assert item.delivery.id == _delivery(pushed, UNKNOWN_TO)
    assert item.subject == HOSTILE
    assert item.sender_code == "000.00.00.H41"
    assert item.delivery.last_error
    assert UNKNOWN_TO in item.delivery.last_error
    assert item.redrivable
    assert monitor.deliveries("dead") == []
    with pytest.raises(ValueError, match="nonsense"):
        monitor.deliveries("nonsense")


def test_redrive_requeues_audits_and_queues_dispatch(
    monitor: Monitor, pushed: PushResult, uow_factory: UnitOfWorkFactory
) -> None:
    target = _delivery(pushed, UNKNOWN_TO)
    local = _delivery(pushed, LOCAL_TO)
    with uow_factory() as uow:
        outbox_before = len(uow.outbox.pending())

    moved = monitor.redrive([target, local, "no-such-id"], actor="admin@127.0.0.1")

    assert moved == [target]  # a queued delivery is not redrivable; unknown ids are ignored
    with uow_factory() as uow:
        row = uow.deliveries.get(target)
        assert row is not None
        assert row.state == State.QUEUED
        assert [e.to_state for e in uow.deliveries.events(target)][-1] == "queued"
        assert len(uow.outbox.pending()) == outbox_before + 1
    [entry] = monitor.audit(action="delivery.redrive")
    assert entry.actor == "admin@127.0.0.1"
    assert entry.details["deliveries"] == [target]


def test_search_by_every_key(monitor: Monitor, pushed: PushResult) -> None:
    for term in (
        pushed.doc_id,
        pushed.document_id,
        "000.00.00.H41",
        UBND,
        f"  {pushed.doc_id} ",
        _delivery(pushed, LOCAL_TO),  # a receiver's docId leads to the document
    ):
        assert [d.id for d in monitor.search(term or "")] == [pushed.doc_id], term
    assert monitor.search("000.00.00.H4") == []  # exact, not a prefix scan
    assert monitor.search("   ") == []


def test_document_timeline(monitor: Monitor, pushed: PushResult) -> None:
    view = monitor.document(pushed.doc_id)
    assert view.document.subject == HOSTILE
    assert {d.delivery.recipient_code for d in view.deliveries} == {
        LOCAL_TO,
        UNKNOWN_TO,
        NATIONAL_TO,
    }
    undeliverable = next(d for d in view.deliveries if d.delivery.recipient_code == UNKNOWN_TO)
    assert undeliverable.events[-1].to_state == "undeliverable"
    assert undeliverable.state_desc.startswith("Không chuyển được")
    with pytest.raises(NotFound):
        monitor.document("nope")


def test_systems_show_activity_and_never_a_secret(monitor: Monitor, pushed: PushResult) -> None:
    systems = {s.id: s for s in monitor.systems()}
    assert set(systems) == {UBND, SO}
    assert systems[UBND].last_seen is not None  # it pushed
    assert systems[SO].last_seen is None  # it has fetched nothing yet
    assert systems[SO].agencies == ("000.00.02.H41", "000.00.03.H41", "000.00.65.H41")
    fields = {f.name for f in dataclasses.fields(systems[UBND])}
    assert not any("secret" in f for f in fields)
    dumped = json.dumps([dataclasses.asdict(s) for s in systems.values()], default=str)
    assert "ubnd-secret" not in dumped


def test_audit_newest_first_with_prefix_filters(monitor: Monitor, pushed: PushResult) -> None:
    monitor.record("admin@10.0.0.5", "dashboard.login", None, "auth.failed")
    rows = monitor.audit()
    assert rows[0].action == "dashboard.login"  # newest first
    assert {r.actor for r in monitor.audit(actor="admin@")} == {"admin@10.0.0.5"}
    assert all(r.action.startswith("system.") for r in monitor.audit(action="system."))
    assert len(monitor.audit(action="system.")) == 2
    assert monitor.audit(actor="%") == []  # LIKE wildcards are matched literally
    assert len(monitor.audit(limit=1)) == 1
