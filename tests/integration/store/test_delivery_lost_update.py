"""A delivery's ``save`` writes only what the caller changed (no lost update).

The compare-and-set used to write every column, guarded by the state only: a worker that read a
delivery before a status message recorded ``business_status`` on it, then advanced it, wrote
the old (empty) ``business_status`` back. The state was still the one it read, so the guard let
it through. Now ``save`` is given the row as read and writes only the columns that differ from
it, each guarded by the value read.

Two shapes of the race: two real transactions interleaved on PostgreSQL (two connections,
READ COMMITTED), and the same stale read replayed in order on every store (memory, SQLite,
PostgreSQL) — SQLite serialises writers (``BEGIN IMMEDIATE``), so only a stale read can show it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from sqlalchemy.engine import Engine

from adapters.store.uow import SqlStore
from hub.delivery import Event, advance
from hub.edxml.model import MessageKind
from hub.errors import Conflict
from hub.ports import (
    AuditRow,
    DeliveryEvent,
    DeliveryRow,
    DocumentRow,
    PackageRow,
    UnitOfWorkFactory,
)
from tests.db_fixtures import migrated_engine_on

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=1)
T2 = T0 + dt.timedelta(minutes=2)


def _fetched_delivery(uow_factory: UnitOfWorkFactory) -> DeliveryRow:
    digest = uuid.uuid4().hex * 2
    doc = DocumentRow(
        id=str(uuid.uuid4()),
        digest=digest,
        kind=MessageKind.EDOC,
        document_id="000.00.00.H41,2026/03/02,17/UBND-VP",
        sender_code="000.00.00.H41",
        sender_system="qlvb-a",
        business_type=0,
        related_doc_id=None,
        subject="V/v thử nghiệm",
        code_number="17",
        code_notation="UBND-VP",
        verdicts={},
        problems=[],
        flags=[],
        received_at=T0,
    )
    row = DeliveryRow(
        id=str(uuid.uuid4()),
        doc_id=doc.id,
        recipient_code="000.00.02.H41",
        resolved_code=None,
        route="local",
        peer_name=None,
        system_id="qlvb-b",
        state="fetched",
        attempts=0,
        next_attempt_at=None,
        last_error=None,
        business_status=None,
        business_status_desc=None,
        business_status_at=None,
        created_at=T0,
        updated_at=T0,
        fetched_at=T0,
    )
    with uow_factory() as uow:
        uow.packages.add(PackageRow(digest, 10, MessageKind.EDOC, T0))
        uow.documents.add(doc)
        uow.deliveries.add(row)
        uow.commit()
    return row


def _with_status(row: DeliveryRow, code: str, at: dt.datetime) -> DeliveryRow:
    return dataclasses.replace(
        row,
        business_status=code,
        business_status_desc="Đã tiếp nhận",
        business_status_at=at,
        updated_at=at,
    )


def test_advance_from_a_stale_read_keeps_a_status_recorded_since(
    uow_factory: UnitOfWorkFactory,
) -> None:
    stale = _fetched_delivery(uow_factory)  # a worker reads the copy …
    with uow_factory() as uow:  # … a status message records "03" on it meanwhile …
        fresh = uow.deliveries.get(stale.id)
        assert fresh is not None
        # (as hub.services.intake writes a status: guarded by the state only)
        assert uow.deliveries.save(_with_status(fresh, "03", T1), expected_state="fetched")
        uow.commit()
    with uow_factory() as uow:  # … then the worker acts on what it read.
        advance(uow.deliveries, stale, Event.DONE, at=T2)
        uow.commit()
    with uow_factory() as uow:
        got = uow.deliveries.get(stale.id)
    assert got is not None
    assert got.state == "done"
    assert got.done_at == T2
    assert (got.business_status, got.business_status_desc) == ("03", "Đã tiếp nhận")
    assert got.business_status_at == T1


def test_a_changed_column_is_guarded_by_the_value_read(uow_factory: UnitOfWorkFactory) -> None:
    stale = _fetched_delivery(uow_factory)
    with uow_factory() as uow:
        assert uow.deliveries.save(_with_status(stale, "03", T1), read=stale) is True
        uow.commit()
    with uow_factory() as uow:
        # A second status written from the same old read must not silently replace the first.
        assert uow.deliveries.save(_with_status(stale, "05", T2), read=stale) is False
        got = uow.deliveries.get(stale.id)
        assert got is not None
        assert got.business_status == "03"
        # Re-read and write again: now it goes in.
        assert uow.deliveries.save(_with_status(got, "05", T2), read=got) is True
        uow.commit()


def test_a_stale_state_still_loses(uow_factory: UnitOfWorkFactory) -> None:
    stale = _fetched_delivery(uow_factory)
    with uow_factory() as uow:
        advance(uow.deliveries, stale, Event.DONE, at=T1)
        uow.commit()
    with uow_factory() as uow, pytest.raises(Conflict) as info:
        advance(uow.deliveries, stale, Event.FAIL, at=T2)
    assert info.value.code == "delivery.raced"


def test_a_state_step_writes_its_event_exactly_when_its_compare_and_set_wins(
    uow_factory: UnitOfWorkFactory,
) -> None:
    stale = _fetched_delivery(uow_factory)
    done = dataclasses.replace(stale, state="done", done_at=T1, updated_at=T1)
    event = DeliveryEvent(stale.id, T1, "fetched", "done", "xong")
    logged = AuditRow(T1, "system:qlvb.so", "update_status", stale.id, "ok", {"status": "done"})
    with uow_factory() as uow:
        assert uow.deliveries.save_with_event(done, read=stale, event=event, audit=logged)
        uow.commit()
    with uow_factory() as uow:
        assert uow.deliveries.get(stale.id) == done
        (entry,) = uow.audit.recent(subject=stale.id)
        assert dataclasses.replace(entry, id=None) == logged
        (written,) = uow.deliveries.events(stale.id)
        assert (written.at, written.from_state, written.to_state, written.reason) == (
            T1,
            "fetched",
            "done",
            "xong",
        )
        # From the old read again: neither the row nor a second event is written.
        failed = dataclasses.replace(stale, state="available", attempts=1, updated_at=T2)
        again = DeliveryEvent(stale.id, T2, "fetched", "available", "lỗi")
        lost = dataclasses.replace(logged, at=T2, details={"status": "fail"})
        assert uow.deliveries.save_with_event(failed, read=stale, event=again, audit=lost) is False
        assert uow.deliveries.get(stale.id) == done
        assert len(uow.deliveries.events(stale.id)) == 1
        assert len(uow.audit.recent(subject=stale.id)) == 1  # nor its audit row


@pytest.mark.integration
def test_two_interleaved_transactions_on_postgresql(request: pytest.FixtureRequest) -> None:
    with migrated_engine_on(request, "postgresql") as engine:
        _interleave(engine)


def _interleave(engine: Engine) -> None:
    store = SqlStore(engine)
    row = _fetched_delivery(store.unit_of_work)
    with store.unit_of_work() as worker, store.unit_of_work() as status:
        # The worker's transaction reads the copy first (READ COMMITTED snapshot per statement).
        read = worker.deliveries.get(row.id)
        assert read is not None
        # Another connection records the recipient's status and commits.
        seen = status.deliveries.get(row.id)
        assert seen is not None
        assert status.deliveries.save(_with_status(seen, "03", T1), expected_state=seen.state)
        status.commit()
        # The worker, still in its own transaction, acknowledges the copy from its old read.
        advance(worker.deliveries, read, Event.DONE, at=T2)
        worker.commit()
    with store.unit_of_work() as uow:
        got = uow.deliveries.get(row.id)
    assert got is not None
    assert (got.state, got.business_status, got.business_status_at) == ("done", "03", T1)
