"""The delivery evidence chain in the database (:class:`hub.evidence.EvidenceStore`).

Events are read joined with their delivery and document (recipient, sender, package digest,
DocumentId), so what is hashed is what the event is evidence of. Each method is a short
transaction of its own on the engine (the sealer is not part of any unit of work). Racing
sealers cannot fork the chain: ``chain_seq`` and a batch's ``to_seq`` are unique and a link is
written only onto an event that is still unsealed; the loser's transaction rolls back whole and
it raises :class:`hub.errors.Conflict` (``evidence.raced``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

from adapters.store import tables as t
from adapters.store.audit_chain import head_statement, link_params, link_statement, write_links
from adapters.store.engine import reading, translate_errors
from hub.audit_chain import GENESIS, SealedRow
from hub.errors import Conflict
from hub.evidence import Batch, DocumentRecord, EvidenceEvent

PAGE = 1000

_e, _d, _doc = t.delivery_events, t.deliveries, t.documents
_JOINED = sa.select(
    _e.c.id,
    _e.c.at,
    _e.c.delivery_id,
    _e.c.from_state,
    _e.c.to_state,
    _e.c.reason,
    _e.c.chain_seq,
    _e.c.prev_hash,
    _e.c.hash,
    _d.c.doc_id,
    _d.c.recipient_code,
    _doc.c.document_id,
    _doc.c.digest,
    _doc.c.sender_code,
).select_from(_e.join(_d, _d.c.id == _e.c.delivery_id).join(_doc, _doc.c.id == _d.c.doc_id))

# Built once (the sealer runs them every round; the link UPDATE once per batch).
_HEAD = head_statement(_e)
_UNSEALED = _JOINED.where(_e.c.chain_seq.is_(None)).order_by(_e.c.id).limit(sa.bindparam("limit"))
_LINK = link_statement(_e)


def _raced() -> Conflict:
    return Conflict(
        "another sealer linked these delivery events first",
        message_vi="một tiến trình khác đã niêm phong các sự kiện chuyển phát này",
        code="evidence.raced",
    )


def _event(r: Any) -> EvidenceEvent:
    # Unpacked by position, in the order of ``_JOINED``'s columns: eleven attribute lookups on
    # a Row cost the sealer more per event than hashing it.
    (rid, at, delivery_id, from_state, to_state, reason, _, _, _, doc_id, recipient,
     document_id, digest, sender) = r  # fmt: skip
    return EvidenceEvent(
        id=int(rid),
        at=at,
        delivery_id=delivery_id,
        doc_id=doc_id,
        document_id=document_id,
        digest=digest,
        sender=sender,
        recipient=recipient,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
    )


def _sealed(r: Any) -> SealedRow[EvidenceEvent]:
    return SealedRow(_event(r), int(r.chain_seq), str(r.prev_hash), str(r.hash))


def _batch(r: sa.Row[Any]) -> Batch:
    return Batch(int(r.from_seq), int(r.to_seq), r.head_hash, bytes(r.token), r.at, int(r.id))


class SqlEvidenceChain:
    """The evidence chain over an engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Reads in a DEFERRED transaction: on SQLite they never queue for the write lock behind
        # the pushes (a race is caught by the sealing transaction, which takes it).
        self._reader = engine.execution_options(sqlite_begin="DEFERRED")

    def head(self) -> tuple[int, str]:
        with translate_errors("reading the evidence chain"), reading(self._reader) as conn:
            row = conn.execute(_HEAD).first()
        return (0, GENESIS) if row is None else (int(row.chain_seq), str(row.hash))

    def unsealed(self, limit: int) -> Sequence[EvidenceEvent]:
        with translate_errors("reading the evidence chain"), reading(self._reader) as conn:
            rows = conn.execute(_UNSEALED, {"limit": limit}).all()
        return [_event(r) for r in rows]

    def seal(self, sealed: Sequence[SealedRow[EvidenceEvent]]) -> None:
        try:
            with translate_errors("sealing the evidence chain"), self._engine.begin() as conn:
                # A row sealed by another process aborts the whole transaction.
                if not write_links(conn, _LINK, link_params(sealed)):
                    raise _raced()
        except exc.IntegrityError as err:  # a racing sealer took the same chain_seq
            raise _raced() from err

    def add_batch(self, batch: Batch) -> None:
        try:
            with translate_errors("recording an evidence batch"), self._engine.begin() as conn:
                conn.execute(
                    t.evidence_batches.insert().values(
                        from_seq=batch.from_seq,
                        to_seq=batch.to_seq,
                        head_hash=batch.head_hash,
                        token=batch.token,
                        at=batch.at,
                    )
                )
        except exc.IntegrityError as err:
            raise _raced() from err

    def last_batch(self) -> Batch | None:
        b = t.evidence_batches
        with translate_errors("reading the evidence batches"), reading(self._reader) as conn:
            row = conn.execute(sa.select(b).order_by(b.c.to_seq.desc()).limit(1)).first()
        return None if row is None else _batch(row)

    def batches(self) -> Sequence[Batch]:
        b = t.evidence_batches
        with translate_errors("reading the evidence batches"), reading(self._reader) as conn:
            rows = conn.execute(sa.select(b).order_by(b.c.to_seq)).all()
        return [_batch(r) for r in rows]

    def chain(
        self, from_seq: int = 1, to_seq: int | None = None
    ) -> Iterator[SealedRow[EvidenceEvent]]:
        after = from_seq - 1
        while True:
            query = _JOINED.where(_e.c.chain_seq > after)
            if to_seq is not None:
                query = query.where(_e.c.chain_seq <= to_seq)
            with translate_errors("reading the evidence chain"), reading(self._reader) as conn:
                rows = conn.execute(query.order_by(_e.c.chain_seq).limit(PAGE)).all()
            if not rows:
                return
            yield from (_sealed(r) for r in rows)
            after = int(rows[-1].chain_seq)

    def document(self, ref: str) -> DocumentRecord | None:
        with translate_errors("reading a document"), reading(self._reader) as conn:
            row = conn.execute(
                sa.select(_doc)
                .where(sa.or_(_doc.c.id == ref, _doc.c.document_id == ref))
                .order_by(_doc.c.received_at.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return DocumentRecord(row.id, row.document_id, row.digest, row.sender_code, row.received_at)

    def events_of(self, doc_id: str) -> Sequence[SealedRow[EvidenceEvent] | EvidenceEvent]:
        with translate_errors("reading the evidence chain"), reading(self._reader) as conn:
            rows = conn.execute(_JOINED.where(_d.c.doc_id == doc_id).order_by(_e.c.id)).all()
        return [_sealed(r) if r.chain_seq is not None else _event(r) for r in rows]
