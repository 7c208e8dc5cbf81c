"""Test support for the delivery evidence suites: documents delivered through the real store.

:class:`EvidenceWorld` stores a package (the project's own edXML writer), its document row and
one delivery per recipient, and moves each delivery through the state machine
(:func:`hub.delivery.advance`) exactly as the services do — accepted, available, fetched, done,
plus a business status — so the evidence sealer chains the rows the hub really writes. The same
on the SQL store and on the in-memory fake (:class:`adapters.memory.MemoryEvidenceChain`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from adapters.memory import ManualClock, MemoryBlobStore, MemoryEvidenceChain, MemoryStore
from adapters.store import tables as t
from adapters.store.blobs import FileBlobStore
from adapters.store.evidence import SqlEvidenceChain
from adapters.store.uow import SqlStore
from hub.delivery import Event, State, advance
from hub.edxml.model import MessageKind
from hub.evidence import EvidencePolicy, EvidenceStore, Timestamper
from hub.ports import (
    BlobStore,
    DeliveryEvent,
    DeliveryRow,
    DocumentRow,
    PackageRow,
    UnitOfWorkFactory,
)
from hub.services.evidence_seal import EvidenceSealer
from tests.factories import make_edoc

T0 = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)
SENDER = "000.00.00.G22"


@dataclass
class EvidenceWorld:
    """A store (SQL on an engine, or the in-memory fake), a blob store and a clock;
    :meth:`deliver` makes events."""

    uow: UnitOfWorkFactory
    store: EvidenceStore
    blobs: BlobStore
    clock: ManualClock
    engine: sa.Engine | None = None
    memory: MemoryStore | None = None

    @classmethod
    def on(cls, engine: sa.Engine, tmp: Path, blobs: BlobStore | None = None) -> EvidenceWorld:
        return cls(
            SqlStore(engine).unit_of_work,
            SqlEvidenceChain(engine),
            blobs or FileBlobStore(tmp / "blobs", fsync=False),
            ManualClock(T0),
            engine=engine,
        )

    @classmethod
    def in_memory(cls) -> EvidenceWorld:
        store = MemoryStore()
        return cls(
            store.unit_of_work,
            MemoryEvidenceChain(store),
            MemoryBlobStore(),
            ManualClock(T0),
            memory=store,
        )

    def sealer(
        self, timestamper: Timestamper | None, policy: EvidencePolicy | None = None
    ) -> EvidenceSealer:
        return EvidenceSealer(
            self.store, self.clock, timestamper, policy or EvidencePolicy(), tsa_name="test-tsa"
        )

    def deliver(
        self,
        *,
        recipients: Sequence[str] = ("000.00.00.H41",),
        steps: Sequence[Event] = (Event.DISPATCH_LOCAL, Event.FETCH, Event.DONE),
        status: str | None = "03",
        subject: str = "Về việc thử nghiệm",
    ) -> DocumentRow:
        """Accept one document for ``recipients`` and take each copy through ``steps``."""
        data = make_edoc(sender=SENDER, to=list(recipients), subject=subject)
        digest = self.blobs.put(data)
        assert digest == hashlib.sha256(data).hexdigest()
        now = self.clock.advance(1)
        doc = DocumentRow(
            id=str(uuid.uuid4()),
            digest=digest,
            kind=MessageKind.EDOC,
            document_id=f"{SENDER},{now:%Y/%m/%d},{uuid.uuid4().hex[:8]}/QĐ-UBND",
            sender_code=SENDER,
            sender_system="qlvb.g22",
            business_type=0,
            related_doc_id=None,
            subject=subject,
            code_number="1",
            code_notation="QĐ-UBND",
            verdicts={},
            problems=[],
            flags=[],
            received_at=now,
        )
        rows = [
            DeliveryRow(
                id=str(uuid.uuid4()),
                doc_id=doc.id,
                recipient_code=code,
                resolved_code=None,
                route="local",
                peer_name=None,
                system_id="qlvb.h41",
                state=State.QUEUED.value,
                attempts=0,
                next_attempt_at=None,
                last_error=None,
                business_status=None,
                business_status_desc=None,
                business_status_at=None,
                created_at=now,
                updated_at=now,
            )
            for code in recipients
        ]
        with self.uow() as uow:
            uow.packages.add(PackageRow(digest, len(data), MessageKind.EDOC, now))
            uow.documents.add(doc)
            uow.deliveries.add_many(rows)
            uow.deliveries.add_events(
                [DeliveryEvent(r.id, now, None, r.state, "accepted") for r in rows]
            )
            uow.commit()
        for row in rows:
            for event in steps:
                with self.uow() as uow:
                    row = advance(uow.deliveries, row, event, at=self.clock.advance(1))
                    uow.commit()
            if status is not None:
                with self.uow() as uow:
                    at = self.clock.advance(1)
                    updated = dataclasses.replace(row, business_status=status, updated_at=at)
                    assert uow.deliveries.save(updated, expected_state=row.state)
                    uow.deliveries.add_event(
                        DeliveryEvent(row.id, at, row.state, row.state, f"status {status}")
                    )
                    uow.commit()
        return doc

    def advance(self, doc_id: str, event: Event) -> None:
        """Move every copy of ``doc_id`` on by ``event`` (a later step of the same journey)."""
        with self.uow() as uow:
            for row in uow.deliveries.for_document(doc_id):
                advance(uow.deliveries, row, event, at=self.clock.advance(1))
            uow.commit()

    def _seq_to_id(self, seq: int) -> int:
        assert isinstance(self.store, MemoryEvidenceChain)
        return next(rid for rid, (s, _, _) in self.store.links.items() if s == seq)

    def tamper_event(self, seq: int, **changes: object) -> None:
        """Change a sealed event behind the hub's back (a DBA with write access)."""
        if self.memory is not None:
            rid, events = self._seq_to_id(seq), self.memory.tables.events
            i = next(k for k, e in enumerate(events) if e.id == rid)
            events[i] = dataclasses.replace(events[i], **changes)  # type: ignore[arg-type]
            return
        assert self.engine is not None
        e = t.delivery_events
        with self.engine.begin() as conn:
            conn.execute(sa.update(e).where(e.c.chain_seq == seq).values(**changes))

    def delete_event(self, seq: int) -> None:
        if self.memory is not None:
            rid = self._seq_to_id(seq)
            self.memory.tables.events[:] = [e for e in self.memory.tables.events if e.id != rid]
            return
        assert self.engine is not None
        e = t.delivery_events
        with self.engine.begin() as conn:
            conn.execute(sa.delete(e).where(e.c.chain_seq == seq))
