"""The console's activity figures (``uow.activity``) on SQLite, PostgreSQL and the in-memory fake:
rates per time bucket, per-system counts and times, newest deliveries, the last pull.

Times are computed from now and placed inside buckets (never on an edge), so the test reads the
same whatever the wall clock says.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from adapters.memory import MemoryStore
from adapters.store.uow import SqlStore, SqlUnitOfWork
from hub.ports import (
    AuditRow,
    Buckets,
    DeliveryEvent,
    DeliveryRow,
    DocumentRow,
    PackageRow,
    SystemRow,
    UnitOfWorkFactory,
)
from hub.services.activity import DELIVERED_STATES, FAILED_STATES, REFUSAL_ACTIONS, window
from tests.db_fixtures import BACKENDS, migrated_engine_on

NOW = dt.datetime.now(dt.UTC)
W = window("hour", NOW)  # 60 one-minute buckets ending with the current minute


def at(bucket: int, second: int = 30) -> dt.datetime:
    """Inside bucket ``bucket`` of :data:`W` (mid-minute: no edge)."""
    return W.start + dt.timedelta(seconds=bucket * W.width_s + second)


@pytest.fixture(params=[*BACKENDS, pytest.param("memory", id="memory")])
def uow(request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield MemoryStore().unit_of_work
        return
    with migrated_engine_on(request, request.param) as engine:
        yield SqlStore(engine).unit_of_work


def _doc(n: int, system: str, received: dt.datetime) -> tuple[PackageRow, DocumentRow]:
    pkg = PackageRow(f"{n:064x}", 100, "edoc", received)  # type: ignore[arg-type]
    doc = DocumentRow(
        id=str(uuid.uuid4()),
        digest=pkg.digest,
        kind=pkg.kind,
        document_id=f"000.00.00.H41,2026/03/02,{n}/UBND",
        sender_code="000.00.00.H41",
        sender_system=system,
        business_type=0,
        related_doc_id=None,
        subject=f"Công văn {n}",
        code_number=str(n),
        code_notation="UBND",
        verdicts={},
        problems=[],
        flags=[],
        received_at=received,
    )
    return pkg, doc


def _delivery(doc: DocumentRow, code: str, system: str | None, state: str, created: dt.datetime,
              **kw: object) -> DeliveryRow:  # fmt: skip
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "doc_id": doc.id,
        "recipient_code": code,
        "resolved_code": None,
        "route": "local" if system else "peer",
        "peer_name": None if system else "national",
        "system_id": system,
        "state": state,
        "attempts": 0,
        "next_attempt_at": None,
        "last_error": None,
        "business_status": None,
        "business_status_desc": None,
        "business_status_at": None,
        "created_at": created,
        "updated_at": created,
    }
    values.update(kw)
    return DeliveryRow(**values)  # type: ignore[arg-type]


def _populate(uow: UnitOfWorkFactory) -> dict[str, object]:
    with uow() as u:
        for sid in ("qlvb.ubnd", "qlvb.xa"):
            u.systems.add(SystemRow(sid, sid, "enc", None, True, 900, NOW))
        docs = []
        # received: 2 in bucket 10, 1 in bucket 59 (now's minute), 1 before the window
        for n, when in enumerate([at(10, 5), at(10, 50), at(59, 0), W.start - dt.timedelta(1)]):
            pkg, doc = _doc(n + 1, "qlvb.ubnd", when)
            u.packages.add(pkg)
            u.documents.add(doc)
            docs.append(doc)
        d_fetched = _delivery(docs[0], "000.01.00.H41", "qlvb.xa", "fetched", at(10, 6),
                              fetched_at=at(12))  # fmt: skip
        d_wait1 = _delivery(docs[1], "000.01.00.H41", "qlvb.xa", "available", at(10, 51))
        d_wait2 = _delivery(docs[2], "000.02.00.H41", "qlvb.xa", "available", at(59, 1),
                            resolved_code="000.01.00.H41")  # fmt: skip
        d_dead = _delivery(docs[0], "000.00.00.G22", None, "dead", at(10, 7))
        d_undeliv = _delivery(docs[1], "000.99.99.H41", None, "undeliverable", at(10, 52))
        d_fwd = _delivery(docs[2], "000.00.00.G22", None, "forwarded", at(59, 2))
        for d in (d_fetched, d_wait1, d_wait2, d_dead, d_undeliv, d_fwd):
            u.deliveries.add(d)
        ev = DeliveryEvent
        for e in [
            ev(d_fetched.id, at(10, 6), None, "queued"),
            ev(d_fetched.id, at(10, 7), "queued", "available"),
            ev(d_fetched.id, at(12), "available", "fetched"),
            ev(d_fetched.id, at(12, 40), "fetched", "fetched"),  # a repeat fetch: not a move
            ev(d_fwd.id, at(59, 3), "forwarding", "forwarded"),
            ev(d_dead.id, at(20), "retry_wait", "dead"),
            ev(d_undeliv.id, at(10, 52), "queued", "undeliverable"),
            ev(d_undeliv.id, W.start - dt.timedelta(seconds=5), "queued", "undeliverable"),
        ]:
            u.deliveries.add_event(e)
        for row in [
            AuditRow(at(30), "system:qlvb.ubnd", "push", None, "edxml.invalid", {}),
            AuditRow(at(30, 40), "peer:national", "inbound", "r1", "refused", {}),
            AuditRow(at(31), "system:qlvb.ubnd", "push", "doc", "ok", {}),
            AuditRow(at(32), "qlvb.ubnd", "vxp.getEdoc", None, "auth.hmac", {}),
        ]:
            u.audit.append(row)
        u.commit()
    return {"fetched": d_fetched, "wait1": d_wait1, "wait2": d_wait2}


def test_rates_are_counted_per_bucket(uow: UnitOfWorkFactory) -> None:
    _populate(uow)
    with uow() as u:
        received = u.activity.received(W)
        delivered = u.activity.transitions(DELIVERED_STATES, W)
        failed = u.activity.transitions(FAILED_STATES, W)
        refused = u.activity.refusals(REFUSAL_ACTIONS, W)
    assert len(received) == 60
    assert {i: n for i, n in enumerate(received) if n} == {10: 2, 59: 1}
    assert {i: n for i, n in enumerate(delivered) if n} == {12: 1, 59: 1}
    assert {i: n for i, n in enumerate(failed) if n} == {10: 1, 20: 1}
    assert {i: n for i, n in enumerate(refused) if n} == {30: 2}


def test_wider_buckets_sum_the_narrow_ones(uow: UnitOfWorkFactory) -> None:
    _populate(uow)
    day = window("day", NOW)
    with uow() as u:
        received = u.activity.received(day)
        hours = u.activity.received(Buckets(W.start, 3600, 1))
    # the hour window may straddle two hourly buckets of the day: their sum is the total
    assert sum(received[-2:]) == 3
    assert hours == [3]


def test_a_window_not_aligned_on_minutes_counts_alike(uow: UnitOfWorkFactory) -> None:
    _populate(uow)
    odd = Buckets(W.start + dt.timedelta(seconds=17), 90, 40)  # 90 s buckets from :17
    with uow() as u:
        received = u.activity.received(odd)
    # received at buckets 10 (:05 and :50) and 59 (:00) of W, i.e. W-seconds 605, 650, 3540
    expected = [0] * 40
    for second in (605, 650, 3540):
        expected[(second - 17) // 90] += 1
    assert received == expected


def test_per_system_figures_and_newest_deliveries(uow: UnitOfWorkFactory) -> None:
    rows = _populate(uow)
    with uow() as u:
        assert u.activity.system_states("qlvb.xa") == {"fetched": 1, "available": 2}
        assert u.activity.system_states("nobody") == {}
        assert u.activity.sent_count("qlvb.ubnd") == 4
        assert u.activity.sent_count("qlvb.xa") == 0
        oldest, fetched = u.activity.system_times("qlvb.xa")
        assert oldest == at(10, 51)
        assert fetched == at(12)
        assert u.activity.system_times("qlvb.ubnd") == (None, None)
        recent = u.activity.recent_deliveries(system_id="qlvb.xa", limit=2)
        assert [d.id for d in recent] == [rows["wait2"].id, rows["wait1"].id]  # type: ignore[attr-defined]
        by_code = u.activity.recent_deliveries(recipient_code="000.01.00.H41")
        # addressed to it, or resolved to it (a successor code), newest first
        assert [d.id for d in by_code] == [
            rows["wait2"].id,  # type: ignore[attr-defined]
            rows["wait1"].id,  # type: ignore[attr-defined]
            rows["fetched"].id,  # type: ignore[attr-defined]
        ]


def test_last_pull_only_moves_forward(uow: UnitOfWorkFactory) -> None:
    _populate(uow)
    with uow() as u:
        assert u.activity.last_pulls() == {}
        u.activity.record_pull("qlvb.xa", at(40))
        u.activity.record_pull("qlvb.xa", at(30))  # an older one (another process): ignored
        u.activity.record_pull("nobody", at(40))  # no such system: nothing
        u.commit()
    with uow() as u:
        assert u.activity.last_pulls() == {"qlvb.xa": at(40)}


# ----------------------------------------------------------------------------- query plans


@pytest.mark.parametrize("backend", BACKENDS)
def test_counts_and_lists_use_their_indexes(request: pytest.FixtureRequest, backend: str) -> None:
    """Each console query can be answered from an index (on PostgreSQL with sequential scans
    disabled, since tiny test tables make a scan the planner's cheapest choice)."""
    with migrated_engine_on(request, backend) as engine:
        captured: list[tuple[str, object]] = []

        @sa.event.listens_for(engine, "before_cursor_execute")
        def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            captured.append((statement, parameters))

        uow = SqlStore(engine).unit_of_work
        expected: dict[str, tuple[str, Callable[[SqlUnitOfWork], object]]] = {
            "received": ("ix_documents_received_at", lambda u: u.activity.received(W)),
            "transitions": (
                "ix_delivery_events_to_state_at_from_state",
                lambda u: u.activity.transitions(FAILED_STATES, W),
            ),
            "system": (
                "ix_deliveries_system_id",  # either of the system_id indexes serves it
                lambda u: u.activity.recent_deliveries(system_id="qlvb.xa"),
            ),
            "recipient": (
                "ix_deliveries_recipient_code_created_at",
                lambda u: u.activity.recent_deliveries(recipient_code="000.01.00.H41"),
            ),
        }
        for name, (index, call) in expected.items():
            captured.clear()
            with uow() as u:
                call(u)
            statement, params = captured[-1]
            with engine.connect() as conn:
                if backend == "postgresql":
                    conn.exec_driver_sql("SET enable_seqscan = off")
                    plan = conn.exec_driver_sql("EXPLAIN " + statement, params).all()  # type: ignore[arg-type]
                else:
                    plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()  # type: ignore[arg-type]
                conn.rollback()
            text = " ".join(str(v) for row in plan for v in row)
            assert index in text, f"{name}: {text}"
