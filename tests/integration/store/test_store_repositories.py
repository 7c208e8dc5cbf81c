"""Each SQL repository keeps the contract of ``hub.ports``, on SQLite and on PostgreSQL: rows
round-trip (Vietnamese JSON, UTC instants), unique keys answer as the port says, the
compare-and-set refuses a stale write, and the unit of work commits or leaves nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.store import migrate, tables
from adapters.store.engine import create_engine
from adapters.store.uow import SqlStore, SqlUnitOfWork
from hub.edxml.model import MessageKind
from hub.errors import Conflict, InternalError, NotFound
from hub.ports import (
    AgencyRow,
    AuditRow,
    DeliveryEvent,
    DeliveryRow,
    DocumentRow,
    InboxEntry,
    PackageRow,
    SystemRow,
)

T0 = dt.datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=dt.UTC)
ICT = dt.timezone(dt.timedelta(hours=7))
SUBJECT = "V/v triển khai Nghị định 30/2020/NĐ-CP về công tác văn thư — Ủy ban nhân dân tỉnh"

Uow = Callable[[], SqlUnitOfWork]


@pytest.fixture
def uow(sql_store: SqlStore) -> Uow:
    return sql_store.unit_of_work


def package(n: int = 1, kind: MessageKind = MessageKind.EDOC) -> PackageRow:
    return PackageRow(f"{n:064x}", 4096 + n, kind, T0)


def document(
    pkg: PackageRow,
    *,
    system: str = "qlvb-a",
    doc_id: str | None = None,
    document_id: str = "000.00.00.H41,2026/03/02,17/UBND-VP",
) -> DocumentRow:
    return DocumentRow(
        id=doc_id or str(uuid.uuid4()),
        digest=pkg.digest,
        kind=pkg.kind,
        document_id=document_id,
        sender_code="000.00.00.H41",
        sender_system=system,
        business_type=0,
        related_doc_id=None,
        subject=SUBJECT,
        code_number="17",
        code_notation="UBND-VP",
        verdicts={"envelope": "valid", "details": {"signer": "Nguyễn Văn Ánh", "n": [1, 2]}},
        problems=[{"code": "trace.missing", "message": "thiếu TraceHeader — cảnh báo"}],
        flags=["chữ-ký-pdf"],
        received_at=T0,
    )


def delivery(
    doc: DocumentRow, recipient: str, *, state: str = "queued", **kw: object
) -> DeliveryRow:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "doc_id": doc.id,
        "recipient_code": recipient,
        "resolved_code": None,
        "route": "local",
        "peer_name": None,
        "system_id": "qlvb-b",
        "state": state,
        "attempts": 0,
        "next_attempt_at": None,
        "last_error": None,
        "business_status": None,
        "business_status_desc": None,
        "business_status_at": None,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    return DeliveryRow(**values)  # type: ignore[arg-type]


def stored_document(uow: Uow, n: int = 1, **kw: object) -> DocumentRow:
    pkg = package(n)
    doc = document(pkg, **kw)  # type: ignore[arg-type]
    with uow() as u:
        u.packages.add(pkg)
        u.documents.add(doc)
        u.commit()
    return doc


# ------------------------------------------------------------------------------- packages


def test_package_add_is_idempotent_on_the_digest(uow: Uow) -> None:
    with uow() as u:
        assert u.packages.add(package(1)) is True
        assert u.packages.add(package(1)) is False  # same digest: nothing new, no error
        assert u.packages.get(package(1).digest) == package(1)
        assert u.packages.get(package(2).digest) is None
        u.commit()
    with uow() as u:
        assert u.packages.add(package(1)) is False
        assert u.packages.get(package(1).digest) == package(1)


# ------------------------------------------------------------------------------ documents


def test_document_round_trip_keeps_vietnamese_json_and_utc(uow: Uow) -> None:
    doc = stored_document(uow)
    with uow() as u:
        got = u.documents.get(doc.id)
    assert got == dataclasses.replace(
        doc, verdicts=dict(doc.verdicts), problems=list(doc.problems), flags=list(doc.flags)
    )
    assert got is not None
    assert got.subject == SUBJECT
    assert got.verdicts["details"]["signer"] == "Nguyễn Văn Ánh"
    assert got.received_at.tzinfo is not None
    assert got.received_at.utcoffset() == dt.timedelta(0)


def test_second_push_of_same_bytes_by_same_system_is_a_conflict_and_tx_survives(uow: Uow) -> None:
    doc = stored_document(uow)
    with uow() as u:
        with pytest.raises(Conflict) as info:
            u.documents.add(dataclasses.replace(doc, id=str(uuid.uuid4())))
        assert info.value.code == "document.duplicate"
        # The transaction is still usable after the refused insert (PostgreSQL would abort a
        # transaction whose statement failed): the service reads the original and answers it.
        assert u.documents.by_digest(doc.sender_system, doc.digest) == u.documents.get(doc.id)
        u.audit.append(AuditRow(T0, "system:qlvb-a", "push", doc.id, "duplicate"))
        u.commit()
    with uow() as u:
        assert len(u.audit.recent(subject=doc.id)) == 1


def test_same_bytes_from_another_system_is_another_document(uow: Uow) -> None:
    doc = stored_document(uow)
    with uow() as u:
        # A status message (no DocumentId): a second *new* document with the same DocumentId
        # from the same agency is refused by the store whoever pushes it (migration 0007).
        other = dataclasses.replace(
            doc, id=str(uuid.uuid4()), sender_system="qlvb-z", document_id=None
        )
        u.documents.add(other)
        u.commit()
        assert u.documents.by_digest("qlvb-z", doc.digest) is not None
        assert u.documents.by_digest("qlvb-a", doc.digest) is not None
        assert u.documents.by_digest("qlvb-q", doc.digest) is None


def test_document_lookups_by_document_id_and_sender(uow: Uow) -> None:
    first = stored_document(uow, 1)
    with uow() as u:
        pkg = package(2)
        u.packages.add(pkg)
        later = dataclasses.replace(
            document(pkg), received_at=T0 + dt.timedelta(minutes=5), business_type=1
        )
        u.documents.add(later)
        u.commit()
        found = u.documents.by_document_id(first.sender_code, first.document_id or "")
        assert [d.id for d in found] == [first.id, later.id]  # oldest first
        assert u.documents.by_document_id("other", first.document_id or "") == []
        sent = u.documents.sent_by("qlvb-a")
        assert [d.id for d in sent] == [later.id, first.id]  # newest first
        assert [d.id for d in u.documents.sent_by("qlvb-a", doc_id=first.id)] == [first.id]
        assert [d.id for d in u.documents.sent_by("qlvb-a", limit=1)] == [later.id]
        assert u.documents.sent_by("nobody") == []


def test_document_without_its_package_is_refused_as_our_bug(uow: Uow) -> None:
    with uow() as u, pytest.raises(InternalError) as info:
        u.documents.add(document(package(9)))
    assert info.value.code == "store.integrity"


# ----------------------------------------------------------------------------- deliveries


def test_deliveries_round_trip_and_unique_recipient(uow: Uow) -> None:
    doc = stored_document(uow)
    a = delivery(doc, "000.01.00.H41", next_attempt_at=T0.astimezone(ICT))
    b = delivery(doc, "000.02.00.H41", created_at=T0 + dt.timedelta(seconds=1))
    with uow() as u:
        u.deliveries.add_many([b, a])
        u.commit()
    with uow() as u:
        got = u.deliveries.get(a.id)
        assert got == a
        assert got is not None
        assert got.next_attempt_at is not None
        assert got.next_attempt_at.utcoffset() == dt.timedelta(0)  # stored ICT, read as UTC
        assert [d.id for d in u.deliveries.for_document(doc.id)] == [a.id, b.id]
        with pytest.raises(Conflict) as info:
            u.deliveries.add(delivery(doc, "000.01.00.H41"))
        assert info.value.code == "delivery.duplicate"
        assert u.deliveries.get(str(uuid.uuid4())) is None


def test_save_is_a_compare_and_set_on_the_state(uow: Uow) -> None:
    doc = stored_document(uow)
    row = delivery(doc, "000.01.00.H41")
    with uow() as u:
        u.deliveries.add(row)
        u.commit()
    later = T0 + dt.timedelta(minutes=1)
    available = dataclasses.replace(row, state="available", updated_at=later, attempts=1)
    with uow() as u:
        assert u.deliveries.save(available, expected_state="queued") is True
        u.commit()
    with uow() as u:
        # A second worker that read the row while it was still "queued" loses the race.
        stale = dataclasses.replace(row, state="forwarding", updated_at=later)
        assert u.deliveries.save(stale, expected_state="queued") is False
        assert u.deliveries.get(row.id) == available
        fetched = dataclasses.replace(
            available,
            state="fetched",
            fetched_at=later,
            business_status="03",
            business_status_desc="Đã tiếp nhận",
            business_status_at=later,
        )
        assert u.deliveries.save(fetched, expected_state="available") is True
        u.commit()
    with uow() as u:
        assert u.deliveries.get(row.id) == fetched


def test_inbox_lists_local_deliveries_of_one_system_kind_and_states(uow: Uow) -> None:
    doc = stored_document(uow, 1)
    with uow() as u:
        status_pkg = package(2, MessageKind.STATUS)
        u.packages.add(status_pkg)
        status_doc = dataclasses.replace(
            document(status_pkg), document_id=None, related_doc_id=doc.id
        )
        u.documents.add(status_doc)
        mine_old = delivery(doc, "A", state="available")
        mine_new = delivery(doc, "B", state="fetched", created_at=T0 + dt.timedelta(seconds=5))
        done = delivery(doc, "C", state="done")
        other_sys = delivery(doc, "D", state="available", system_id="qlvb-c")
        forwarded = delivery(doc, "E", state="available", route="national", system_id=None)
        status_for_me = delivery(status_doc, "A", state="available")
        u.deliveries.add_many([mine_new, mine_old, done, other_sys, forwarded, status_for_me])
        u.commit()
    with uow() as u:
        items = u.deliveries.inbox("qlvb-b", MessageKind.EDOC, ["available", "fetched"])
        assert items == [InboxEntry.of(d, doc) for d in (mine_old, mine_new)]
        assert [(e.subject, list(e.flags)) for e in items] == [(SUBJECT, list(doc.flags))] * 2
        assert items[0].created_at.tzinfo is not None  # UTC attached on both backends
        assert u.deliveries.with_document(mine_new.id) == (mine_new, doc)
        assert u.deliveries.with_document("no-such-delivery") is None
        assert u.deliveries.count_inbox("qlvb-b", MessageKind.EDOC, ["available", "fetched"]) == 2
        assert len(u.deliveries.inbox("qlvb-b", MessageKind.EDOC, ["available"], limit=1)) == 1
        statuses = u.deliveries.inbox("qlvb-b", MessageKind.STATUS, ["available"])
        assert [e.delivery_id for e in statuses] == [status_for_me.id]
        assert u.deliveries.count_inbox("qlvb-x", MessageKind.EDOC, ["available"]) == 0


def test_in_state_is_oldest_update_first(uow: Uow) -> None:
    doc = stored_document(uow)
    rows = [
        delivery(doc, f"R{i}", state="retry_wait", updated_at=T0 + dt.timedelta(seconds=10 - i))
        for i in range(3)
    ]
    with uow() as u:
        u.deliveries.add_many(rows)
        u.deliveries.add(delivery(doc, "Q", state="queued"))
        u.commit()
        assert [d.recipient_code for d in u.deliveries.in_state("retry_wait")] == ["R2", "R1", "R0"]
        assert len(u.deliveries.in_state("retry_wait", limit=2)) == 2
        assert u.deliveries.in_state("dead") == []


def test_events_keep_their_order_and_text(uow: Uow) -> None:
    doc = stored_document(uow)
    row = delivery(doc, "A")
    with uow() as u:
        u.deliveries.add(row)
        u.deliveries.add_event(DeliveryEvent(row.id, T0, None, "queued"))
        u.deliveries.add_events(
            [
                DeliveryEvent(row.id, T0, "queued", "undeliverable", "mã đã đóng → 000.00.01.H41"),
                DeliveryEvent(row.id, T0 + dt.timedelta(seconds=1), "undeliverable", "queued"),
            ]
        )
        u.commit()
    with uow() as u:
        events = u.deliveries.events(row.id)
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, "queued"),
        ("queued", "undeliverable"),
        ("undeliverable", "queued"),
    ]
    assert events[1].reason == "mã đã đóng → 000.00.01.H41"
    assert all(e.id is not None for e in events)
    assert events[0].at == T0


# -------------------------------------------------------------------------------- systems


def system(sid: str = "qlvb-a", **kw: object) -> SystemRow:
    row = SystemRow(sid, "Hệ thống QLVB Sở Nội vụ", "gAAAA-token", None, True, 300, T0)
    return dataclasses.replace(row, **kw)  # type: ignore[arg-type]


def test_systems_add_update_list_and_hosted_agencies(uow: Uow) -> None:
    with uow() as u:
        u.systems.add(system("qlvb-b"))
        u.systems.add(system("qlvb-a"))
        with pytest.raises(Conflict):
            u.systems.add(system("qlvb-a"))
        u.systems.set_agencies("qlvb-a", ["000.02.00.H41", "000.01.00.H41", "000.01.00.H41"])
        u.systems.set_agencies("qlvb-b", ["000.03.00.H41"])
        u.commit()
    with uow() as u:
        assert [s.id for s in u.systems.list()] == ["qlvb-a", "qlvb-b"]
        rotated = system("qlvb-a", secret_enc="new", secret_prev_enc="gAAAA-token", enabled=False)
        u.systems.update(rotated)
        assert u.systems.get("qlvb-a") == rotated
        assert u.systems.get("nobody") is None
        with pytest.raises(NotFound):
            u.systems.update(system("nobody"))
        assert u.systems.agencies("qlvb-a") == ("000.01.00.H41", "000.02.00.H41")
        assert u.systems.hosting() == {
            "000.01.00.H41": "qlvb-a",
            "000.02.00.H41": "qlvb-a",
            "000.03.00.H41": "qlvb-b",
        }
        u.systems.set_agencies("qlvb-a", ["000.09.00.H41"])
        assert u.systems.agencies("qlvb-a") == ("000.09.00.H41",)
        assert u.systems.agencies("nobody") == ()
        assert "gAAAA" not in repr(u.systems.get("qlvb-b"))


# ------------------------------------------------------------------------------- agencies


def test_agency_upsert_replaces_and_list_hides_deleted(uow: Uow) -> None:
    a = AgencyRow(
        "000.01.00.H41",
        "Sở Nội vụ tỉnh Nghệ An",
        code_qd20="H41.01",
        parent_code="000.00.00.H41",
        level=2,
        valid_from=dt.date(2025, 7, 1),
        source="sample",
        modified_at=T0,
    )
    b = AgencyRow("000.02.00.H41", "Sở Tư pháp", deleted=True)
    with uow() as u:
        u.agencies.upsert(a)
        u.agencies.upsert(b)
        u.commit()
    with uow() as u:
        assert u.agencies.get(a.code) == a
        closed = dataclasses.replace(
            a, valid_to=dt.date(2025, 6, 30), successor_code="000.09.00.H41", source="national"
        )
        u.agencies.upsert(closed)
        u.commit()
    with uow() as u:
        assert u.agencies.get(a.code) == closed
        assert [r.code for r in u.agencies.list()] == [a.code]
        assert [r.code for r in u.agencies.list(include_deleted=True)] == [a.code, b.code]
        assert u.agencies.get("nope") is None


# --------------------------------------------------------------------------------- outbox


def test_outbox_add_pending_claim_delete(uow: Uow) -> None:
    with uow() as u:
        first = u.outbox.add("lienthong.dispatch", b'{"delivery_id":"x"}', T0)
        second = u.outbox.add("lienthong.forward", b'{"delivery_id":"y"}', T0)
        u.outbox.add_many([("lienthong.dispatch", b"[1]"), ("lienthong.dispatch", b"[2]")], T0)
        u.commit()
    assert second > first
    with uow() as u:
        pending = u.outbox.pending()
        assert [m.body for m in pending] == [
            b'{"delivery_id":"x"}',
            b'{"delivery_id":"y"}',
            b"[1]",
            b"[2]",
        ]
        assert pending[0].id == first
        assert pending[0].created_at == T0
        claimed = u.outbox.claim(2)
        assert [m.id for m in claimed] == [first, second]
        u.outbox.delete([first, second, 10_000])  # unknown ids are ignored
        u.commit()
    with uow() as u:
        assert [m.body for m in u.outbox.pending()] == [b"[1]", b"[2]"]
        assert u.outbox.count() == 2
        u.outbox.delete([])


@pytest.mark.integration
def test_two_relays_claim_disjoint_outbox_rows_on_postgresql(postgres_url: str) -> None:
    # FOR UPDATE SKIP LOCKED is the PostgreSQL path; SQLite has one writer (BEGIN IMMEDIATE).
    migrate.upgrade(postgres_url)
    engine = create_engine(postgres_url)
    store = SqlStore(engine)
    try:
        with store.unit_of_work() as u:
            ids = [u.outbox.add("lienthong.claim-test", str(i).encode(), T0) for i in range(6)]
            u.commit()
        with store.unit_of_work() as first, store.unit_of_work() as second:
            a = [m.id for m in first.outbox.claim(4) if m.id in ids]
            b = [m.id for m in second.outbox.claim(4) if m.id in ids]  # no wait on first's locks
            assert len(a) == 4
            assert len(b) == 2
            assert not set(a) & set(b)
            first.outbox.delete(a)
            second.outbox.delete(b)
            first.commit()
            second.commit()
        with store.unit_of_work() as u:
            assert not {m.id for m in u.outbox.pending()} & set(ids)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------- audit


def test_audit_is_newest_first_and_filtered_by_subject(uow: Uow) -> None:
    with uow() as u:
        for i in range(3):
            u.audit.append(
                AuditRow(
                    T0 + dt.timedelta(seconds=i),
                    "cli",
                    "system.rotate",
                    "qlvb-a" if i < 2 else "qlvb-b",
                    "ok",
                    {"ghi_chú": f"xoay khóa lần {i}"},
                )
            )
        u.commit()
    with uow() as u:
        rows = u.audit.recent()
        assert [r.details["ghi_chú"] for r in rows] == [f"xoay khóa lần {i}" for i in (2, 1, 0)]
        assert [r.at for r in u.audit.recent(subject="qlvb-a")] == [
            T0 + dt.timedelta(seconds=1),
            T0,
        ]
        assert len(u.audit.recent(limit=1)) == 1


# --------------------------------------------------------------------------- unit of work


def _count_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return sum(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in tables.ALL_TABLES
        )


def test_leaving_without_commit_leaves_nothing(uow: Uow, migrated_engine: Engine) -> None:
    with uow() as u:
        pkg = package(1)
        doc = document(pkg)
        u.packages.add(pkg)
        u.documents.add(doc)
        u.deliveries.add(delivery(doc, "A"))
        u.outbox.add("lienthong.dispatch", b"{}", T0)
    assert _count_rows(migrated_engine) == 0


def test_an_exception_rolls_back_everything(uow: Uow, migrated_engine: Engine) -> None:
    class Boom(Exception):
        pass

    def work() -> None:
        with uow() as u:
            u.packages.add(package(1))
            u.audit.append(AuditRow(T0, "hub", "push", None, "ok"))
            raise Boom

    with pytest.raises(Boom):
        work()
    assert _count_rows(migrated_engine) == 0


def test_commit_then_more_work_in_the_same_unit(uow: Uow, migrated_engine: Engine) -> None:
    with uow() as u:
        u.packages.add(package(1))
        u.commit()
        u.packages.add(package(2))  # a new transaction, never committed
    with uow() as u:
        assert u.packages.get(package(1).digest) is not None
        assert u.packages.get(package(2).digest) is None


def test_unit_of_work_outside_its_block_is_refused(uow: Uow) -> None:
    u = uow()
    with pytest.raises(InternalError):
        u.packages.get("0" * 64)
    with u:
        u.commit()  # nothing done: a no-op
    with pytest.raises(InternalError):
        u.packages.get("0" * 64)


def test_timestamps_come_back_utc_whatever_zone_went_in(uow: Uow) -> None:
    local = dt.datetime(2026, 3, 2, 8, 0, tzinfo=ICT)
    with uow() as u:
        u.packages.add(PackageRow("a" * 64, 1, MessageKind.EDOC, local))
        u.commit()
        got = u.packages.get("a" * 64)
    assert got is not None
    assert got.received_at == local
    assert got.received_at.tzinfo is dt.UTC
    assert got.received_at.hour == 1


def test_naive_datetimes_are_refused(uow: Uow) -> None:
    with uow() as u, pytest.raises(sa.exc.StatementError) as info:
        u.packages.add(PackageRow("b" * 64, 1, MessageKind.EDOC, dt.datetime(2026, 3, 2)))
    assert isinstance(info.value.orig, ValueError)
