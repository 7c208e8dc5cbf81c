"""A batch of deliveries read and advanced at once (``get_many``, ``save_many``,
:func:`hub.delivery.advance_many`) behaves like the same deliveries advanced one by one.

On every store (memory, SQLite, PostgreSQL): the rows after the batch, their events in order,
the compare-and-set of each row (a delivery moved, or a column changed, since the read makes
the whole batch lose with ``delivery.raced`` and the unit of work roll back), an illegal event
refused before anything is written, and a column the batch leaves alone surviving.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from hub.delivery import Event, advance, advance_many
from hub.edxml.model import MessageKind
from hub.errors import Conflict, IllegalTransition
from hub.ports import DeliveryRow, DocumentRow, PackageRow, UnitOfWorkFactory

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=1)
T2 = T0 + dt.timedelta(minutes=2)


def _queued(uow_factory: UnitOfWorkFactory, n: int) -> list[DeliveryRow]:
    """``n`` queued deliveries of one document (recipients 1…n, local; the last has no route)."""
    digest = uuid.uuid4().hex * 2
    doc = DocumentRow(
        id=str(uuid.uuid4()),
        digest=digest,
        kind=MessageKind.EDOC,
        document_id=f"000.00.00.H41,2026/03/02,{uuid.uuid4().hex[:6]}/UBND-VP",
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
    rows = [
        DeliveryRow(
            id=str(uuid.uuid4()),
            doc_id=doc.id,
            recipient_code=f"000.00.{i:02d}.H41",
            resolved_code=None,
            route="none" if i == n else "local",
            peer_name=None,
            system_id=None if i == n else "qlvb-b",
            state="queued",
            attempts=0,
            next_attempt_at=None,
            last_error="không xác định nơi nhận" if i == n else None,
            business_status=None,
            business_status_desc=None,
            business_status_at=None,
            created_at=T0,
            updated_at=T0,
        )
        for i in range(1, n + 1)
    ]
    with uow_factory() as uow:
        uow.packages.add(PackageRow(digest, 10, MessageKind.EDOC, T0))
        uow.documents.add(doc)
        uow.deliveries.add_many(rows)
        uow.commit()
    return rows


def _moves(rows: list[DeliveryRow]) -> list[tuple[DeliveryRow, Event, str | None]]:
    *local, unroutable = rows
    return [(r, Event.DISPATCH_LOCAL, None) for r in local] + [
        (unroutable, Event.NO_ROUTE, "no route: 000.00.09.H41")  # a second shape of change
    ]


def test_get_many_reads_the_existing_ones(uow_factory: UnitOfWorkFactory) -> None:
    rows = _queued(uow_factory, 3)
    with uow_factory() as uow:
        got = uow.deliveries.get_many([rows[2].id, "no-such-id", rows[0].id, rows[0].id])
        assert uow.deliveries.get_many([]) == {}
    assert got == {rows[0].id: rows[0], rows[2].id: rows[2]}


def test_a_batch_advances_like_single_steps(uow_factory: UnitOfWorkFactory) -> None:
    rows = _queued(uow_factory, 4)
    with uow_factory() as uow:
        after = advance_many(uow.deliveries, _moves(rows), at=T1)
        uow.commit()
    assert [r.state for r in after] == ["available"] * 3 + ["undeliverable"]
    with uow_factory() as uow:
        stored = uow.deliveries.get_many([r.id for r in rows])
        events = [uow.deliveries.events(r.id) for r in rows]
    assert [stored[r.id] for r in rows] == after
    assert stored[rows[-1].id].last_error == "no route: 000.00.09.H41"
    assert all(stored[r.id].updated_at == T1 for r in rows)
    assert [(e[-1].from_state, e[-1].to_state, e[-1].at) for e in events] == [
        ("queued", "available", T1)
    ] * 3 + [("queued", "undeliverable", T1)]
    assert [e[-1].reason for e in events] == [None, None, None, "no route: 000.00.09.H41"]
    ids = [e[-1].id for e in events]
    assert ids == sorted(ids)  # recorded in the order of the moves


def test_one_delivery_moved_since_the_read_loses_the_whole_batch(
    uow_factory: UnitOfWorkFactory,
) -> None:
    rows = _queued(uow_factory, 4)
    with uow_factory() as uow:  # another worker dispatches the second copy first
        advance(uow.deliveries, rows[1], Event.REVOKE, at=T1)
        uow.commit()
    with uow_factory() as uow, pytest.raises(Conflict) as info:
        advance_many(uow.deliveries, _moves(rows), at=T2)
    assert info.value.code == "delivery.raced"
    assert rows[1].id in info.value.details["deliveries"]
    with uow_factory() as uow:  # rolled back whole: the others are still queued, no events
        stored = uow.deliveries.get_many([r.id for r in rows])
        counts = [len(uow.deliveries.events(r.id)) for r in rows]
    assert [stored[r.id].state for r in rows] == ["queued", "revoked", "queued", "queued"]
    assert counts == [0, 1, 0, 0]


def test_a_changed_column_is_guarded_in_a_batch(uow_factory: UnitOfWorkFactory) -> None:
    rows = _queued(uow_factory, 3)
    with uow_factory() as uow:  # the unroutable copy's reason is rewritten meanwhile
        moved = dataclasses.replace(rows[2], last_error="đổi lý do", updated_at=T1)
        assert uow.deliveries.save(moved, read=rows[2])
        uow.commit()
    with uow_factory() as uow, pytest.raises(Conflict):
        advance_many(uow.deliveries, _moves(rows), at=T2)


def test_a_column_the_batch_leaves_alone_survives(uow_factory: UnitOfWorkFactory) -> None:
    rows = _queued(uow_factory, 3)
    with uow_factory() as uow:  # a status recorded on the first copy after the batch's read
        status = dataclasses.replace(rows[0], business_status="03", business_status_at=T1)
        assert uow.deliveries.save(status, expected_state="queued")
        uow.commit()
    with uow_factory() as uow:
        advance_many(uow.deliveries, _moves(rows), at=T2)
        uow.commit()
    with uow_factory() as uow:
        got = uow.deliveries.get(rows[0].id)
    assert got is not None
    assert (got.state, got.business_status, got.business_status_at) == ("available", "03", T1)


def test_an_illegal_event_writes_nothing(uow_factory: UnitOfWorkFactory) -> None:
    rows = _queued(uow_factory, 3)
    moves = [(rows[0], Event.DISPATCH_LOCAL, None), (rows[1], Event.DONE, None)]
    with uow_factory() as uow:
        with pytest.raises(IllegalTransition):
            advance_many(uow.deliveries, moves, at=T1)
        stored = uow.deliveries.get_many([r.id for r in rows])
        assert {r.state for r in stored.values()} == {"queued"}
        assert advance_many(uow.deliveries, [], at=T1) == []
