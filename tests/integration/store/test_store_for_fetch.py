"""``DeliveryRepository.for_fetch``: the delivery and what a fetch hands out, in one read — on
the in-memory fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from hub.edxml.model import MessageKind
from hub.ports import DeliveryRow, DocumentRow, FetchEntry, PackageRow, UnitOfWorkFactory

T0 = dt.datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=dt.UTC)
ICT = dt.timezone(dt.timedelta(hours=7))


def _stored(
    uow_factory: UnitOfWorkFactory, data: bytes, *, in_row: bool, kind: MessageKind
) -> tuple[DeliveryRow, DocumentRow]:
    digest = hashlib.sha256(data).hexdigest()
    received_at = T0.astimezone(ICT) + dt.timedelta(minutes=len(data))
    doc = DocumentRow(
        id=str(uuid.uuid4()),
        digest=digest,
        kind=kind,
        document_id=None,
        sender_code="000.00.00.H41",
        sender_system="qlvb-a",
        business_type=0,
        related_doc_id=None,
        subject="Báo cáo tình hình",
        code_number=None,
        code_notation=None,
        verdicts={"schema": "valid"},
        problems=[],
        flags=["envelope.missing"],
        received_at=received_at,
    )
    row = DeliveryRow(
        str(uuid.uuid4()), doc.id, "000.00.02.H41", None, "local", None, "qlvb-b",
        "available", 1, None, "hệ thống nhận báo lỗi (fail)", "03", "Đã tiếp nhận", T0,
        T0, T0 + dt.timedelta(seconds=1),
    )  # fmt: skip
    with uow_factory() as uow:
        body = data if in_row else None
        uow.packages.add(PackageRow(digest, len(data), kind, received_at, body))
        uow.documents.add(doc)
        uow.deliveries.add(row)
        uow.commit()
    return row, doc


def test_for_fetch_reads_the_delivery_its_document_facts_and_a_body_kept_in_the_row(
    uow_factory: UnitOfWorkFactory,
) -> None:
    small, large = b"<edXMLEnvelope>small</edXMLEnvelope>", b"<edXMLEnvelope>large</edXMLEnvelope>"
    row, doc = _stored(uow_factory, small, in_row=True, kind=MessageKind.STATUS)
    other, other_doc = _stored(uow_factory, large, in_row=False, kind=MessageKind.EDOC)
    with uow_factory() as uow:
        found = uow.deliveries.for_fetch(row.id)
        assert found == FetchEntry(row, MessageKind.STATUS, doc.digest, doc.received_at, small)
        assert found is not None
        assert found.kind is MessageKind.STATUS
        assert found.delivery == uow.deliveries.get(row.id)
        assert found.received_at.utcoffset() is not None
        # A body in the blob store: the row says where, the caller reads it there.
        assert uow.deliveries.for_fetch(other.id) == FetchEntry(
            other, MessageKind.EDOC, other_doc.digest, other_doc.received_at, None
        )
        assert uow.deliveries.for_fetch("no-such-delivery") is None
