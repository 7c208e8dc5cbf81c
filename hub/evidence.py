"""Delivery evidence: the delivery events as a hash chain, anchored by RFC 3161 timestamps.

Theory of operation. Every state change of every delivery is already a ``delivery_events`` row,
written in the transaction that did the work (accepted, available, fetched, done, forwarded,
undeliverable, dead, revoked… and the business statuses 01–16 a recipient sends back — a refusal
among them — recorded on the original's delivery as a same-state event ``status NN``). A push
the hub refuses at intake creates no delivery: it is in the audit log, not here.

The hot path stays as it is: a **sealer** (one process across the nodes, under a lease) links
the rows afterwards, in id order, with :func:`hub.audit_chain.link` — the audit log's own
linking code — and then asks the configured time-stamping authority for ONE timestamp over the
new chain head. A stamped head is an **evidence batch** ``(from_seq, to_seq, head_hash, token,
at)``: the TSA attests that every event up to ``to_seq`` existed, as it is now, at the token's
time.

What a link covers. An event is joined with what it is evidence of (:class:`EvidenceEvent`:
the package digest, the DocumentId, sender, recipient, delivery, states, reason, time) and its
canonical form (:func:`canonical`: sorted compact JSON, UTC microseconds) is hashed to a
**leaf** (SHA-256 hex). The chain links leaves: ``hash = SHA-256(prev_hash ‖ leaf)``. So a
**chain path** from one document's event to the timestamped head needs the full canonical form
of that document's events only; the events of other documents in between appear as their leaf
digests — the proof discloses nothing about other agencies' mail.

Receipts. :func:`statement` is the hub's canonical statement of one document's events and their
chain positions; the hub signs it (CMS, CAdES-BES, detached) with its own key, and the export
(:mod:`signing.evidence_asic`) packs the package bytes, the statement, the timestamps and the
chain paths into an ASiC-E container that is checked offline.

A TSA outage never holds delivery up: sealing goes on and the next successful stamp covers
every event sealed meanwhile. An outage longer than :attr:`EvidencePolicy.max_outage_s` is an
alert (:mod:`hub.services.evidence_seal`).

Sans-I/O: rows in, hashes and statements out. Storage is :class:`EvidenceStore`; the TSA and
the hub's key are :class:`Timestamper` and :class:`ReceiptSigner` (``signing/evidence.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from hub.audit_chain import GENESIS, SealedRow

#: Format tag of statements and chain paths (bumped when their shape changes).
FORMAT = "lienthong-evidence/1"


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """A delivery event joined with the document, package and parties it is evidence for."""

    id: int | None
    """``delivery_events.id`` (the store's; not part of the hash)."""
    at: dt.datetime
    delivery_id: str
    doc_id: str
    """The hub's id of the accepted push (VXP DocId)."""
    document_id: str | None
    """The edXML DocumentId (absent for status messages)."""
    digest: str
    """SHA-256 hex of the package bytes as received."""
    sender: str
    recipient: str
    from_state: str | None
    to_state: str
    reason: str | None


#: The fields a leaf covers: every field of :class:`EvidenceEvent` but the store's id.
_HASHED = tuple(f.name for f in fields(EvidenceEvent) if f.name != "id")


def event_fields(event: EvidenceEvent) -> dict[str, Any]:
    """The hashed fields of ``event`` as JSON-able data (everything but the store's id).

    Read field by field, not with ``dataclasses.asdict``: its deep copy cost more than the
    hashing (the sealer canonicalises every event); the fields are flat, so the data is the same.
    """
    out = {name: getattr(event, name) for name in _HASHED}
    out["at"] = event.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return out


def event_from_fields(data: dict[str, Any]) -> EvidenceEvent:
    """The inverse of :func:`event_fields` (a chain path's or statement's event)."""
    return EvidenceEvent(
        id=None,
        at=dt.datetime.fromisoformat(data["at"]),
        delivery_id=str(data["delivery_id"]),
        doc_id=str(data["doc_id"]),
        document_id=data["document_id"],
        digest=str(data["digest"]),
        sender=str(data["sender"]),
        recipient=str(data["recipient"]),
        from_state=data["from_state"],
        to_state=str(data["to_state"]),
        reason=data["reason"],
    )


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def canonical(event: EvidenceEvent) -> bytes:
    """The bytes an event's leaf covers: sorted compact JSON of :func:`event_fields`."""
    return _dump(event_fields(event))


def leaf(event: EvidenceEvent) -> str:
    """SHA-256 hex of :func:`canonical` — what the chain links."""
    return hashlib.sha256(canonical(event)).hexdigest()


def chain_canon(event: EvidenceEvent) -> bytes:
    """The ``canon`` given to :func:`hub.audit_chain.link` / ``verify``: the leaf, as ASCII."""
    return leaf(event).encode("ascii")


def step(prev_hash: str, leaf_hex: str) -> str:
    """One link: ``SHA-256(prev_hash ‖ leaf)`` hex (= :func:`hub.audit_chain.link_hash`)."""
    return hashlib.sha256(prev_hash.encode("ascii") + leaf_hex.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class Batch:
    """One timestamped chain head: events ``from_seq``…``to_seq`` attested at ``at``."""

    from_seq: int
    to_seq: int
    head_hash: str
    token: bytes
    """The RFC 3161 ``TimeStampToken`` (DER), imprint = SHA-256 ``head_hash`` bytes."""
    at: dt.datetime
    """When the sealer received it (the token's ``genTime`` is the authority's word)."""
    id: int | None = None

    def __repr__(self) -> str:
        return f"Batch({self.from_seq}..{self.to_seq}, head={self.head_hash[:12]}…)"


@dataclass(frozen=True, slots=True)
class EvidencePolicy:
    """How the sealer batches and how long a TSA outage is tolerated."""

    max_outage_s: float = 3600.0
    """A TSA failing for longer than this is an alert (error log + security event)."""
    batch: int = 1000
    """Events linked per store transaction."""
    max_per_round: int = 20_000
    """At most this many events sealed in one round (then one timestamp over them)."""
    max_lag_s: float = 600.0
    """An event left unsealed longer than this makes the evidence health degraded (the sealer
    stopped, or falls behind the traffic)."""


class Timestamper(Protocol):
    """An RFC 3161 time-stamping authority (``signing/evidence.py``)."""

    def stamp(self, imprint: bytes) -> bytes:
        """A ``TimeStampToken`` (DER) over the SHA-256 ``imprint``; raises
        :class:`hub.errors.PeerUnavailable` (``tsa.unavailable``) when the TSA does not answer."""
        ...


class ReceiptSigner(Protocol):
    """The hub's own key, signing receipts (``signing/evidence.py``)."""

    def sign(self, data: bytes) -> bytes:
        """A detached CMS ``ContentInfo`` (DER, CAdES-BES) over ``data``."""
        ...


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """What an export needs of one accepted document."""

    doc_id: str
    document_id: str | None
    digest: str
    sender: str
    received_at: dt.datetime


class EvidenceStore(Protocol):
    """Where the chain and its batches live (``adapters/store/evidence.py``)."""

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last sealed event; ``(0, GENESIS)`` for an empty chain."""
        ...

    def unsealed(self, limit: int) -> Sequence[EvidenceEvent]:
        """Events not sealed yet, in id order, at most ``limit``."""
        ...

    def seal(self, sealed: Sequence[SealedRow[EvidenceEvent]]) -> None:
        """Write the links in one transaction; raise :class:`hub.errors.Conflict`
        (``evidence.raced``) and write nothing when another sealer got there first."""
        ...

    def add_batch(self, batch: Batch) -> None:
        """Record a timestamped head; ``evidence.raced`` when its ``to_seq`` is recorded."""
        ...

    def last_batch(self) -> Batch | None: ...

    def batches(self) -> Sequence[Batch]:
        """Every batch, ascending ``to_seq``."""
        ...

    def chain(
        self, from_seq: int = 1, to_seq: int | None = None
    ) -> Iterator[SealedRow[EvidenceEvent]]:
        """Sealed events ``from_seq``…``to_seq`` (all when ``None``), ascending, in pages."""
        ...

    def document(self, ref: str) -> DocumentRecord | None:
        """The document whose hub id or edXML DocumentId is ``ref`` (the latest such push)."""
        ...

    def events_of(self, doc_id: str) -> Sequence[SealedRow[EvidenceEvent] | EvidenceEvent]:
        """Every event of the document's deliveries in id order: sealed ones with their links,
        the others (not sealed yet) bare."""
        ...


def covering(batches: Sequence[Batch], seq: int) -> Batch | None:
    """The first batch whose head attests event ``seq`` (``None``: not timestamped yet)."""
    for batch in batches:
        if batch.to_seq >= seq:
            return batch
    return None


def statement(
    doc: DocumentRecord,
    events: Sequence[SealedRow[EvidenceEvent] | EvidenceEvent],
    *,
    hub_id: str,
    issued_at: dt.datetime,
) -> bytes:
    """The receipt statement: the document, and each of its events with its chain position
    (``seq``, ``prev_hash``, ``hash``; all three ``null`` for an event not sealed yet)."""
    items: list[dict[str, Any]] = []
    for item in events:
        if isinstance(item, SealedRow):
            items.append(
                {
                    "seq": item.seq,
                    "prev_hash": item.prev_hash,
                    "hash": item.hash,
                    "event": event_fields(item.row),
                }
            )
        else:
            items.append(
                {"seq": None, "prev_hash": None, "hash": None, "event": event_fields(item)}
            )
    return _dump(
        {
            "format": FORMAT,
            "hub": hub_id,
            "issued_at": issued_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "document": {
                "doc_id": doc.doc_id,
                "document_id": doc.document_id,
                "digest": doc.digest,
                "sender": doc.sender,
                "received_at": doc.received_at.astimezone(dt.UTC).isoformat(
                    timespec="microseconds"
                ),
            },
            "events": items,
        }
    )


def chain_path(
    batch: Batch, rows: Sequence[SealedRow[EvidenceEvent]], own: set[int]
) -> dict[str, Any]:
    """The proof that events ``own`` (seqs) lead to ``batch``'s head: ``rows`` are the sealed
    events from the first of ``own`` to ``batch.to_seq``; those in ``own`` appear in full, the
    others as their leaf only."""
    entries: list[dict[str, Any]] = []
    for row in rows:
        if row.seq in own:
            entries.append({"seq": row.seq, "event": event_fields(row.row)})
        else:
            entries.append({"seq": row.seq, "leaf": leaf(row.row)})
    return {
        "format": FORMAT,
        "start_prev_hash": rows[0].prev_hash if rows else GENESIS,
        "entries": entries,
        "head": {"seq": batch.to_seq, "hash": batch.head_hash},
    }


@dataclass(frozen=True, slots=True)
class PathCheck:
    """What :func:`check_path` found: the head reached, and the events proven on the way."""

    head_seq: int
    head_hash: str
    events: dict[int, tuple[str, EvidenceEvent]]
    """seq → (link hash, event) of every event given in full."""
    problem: str | None = None


def check_path(path: dict[str, Any]) -> PathCheck:
    """Recompute a chain path; ``problem`` says where it does not lead to its head."""
    head = path.get("head") or {}
    head_seq, head_hash = int(head.get("seq", -1)), str(head.get("hash", ""))
    prev = str(path.get("start_prev_hash", ""))
    expected: int | None = None
    proven: dict[int, tuple[str, EvidenceEvent]] = {}
    for entry in path.get("entries", []):
        seq = int(entry["seq"])
        if expected is not None and seq != expected:
            return PathCheck(head_seq, head_hash, proven, f"gap in the chain path at {seq}")
        if "event" in entry:
            event = event_from_fields(entry["event"])
            value = leaf(event)
        else:
            event, value = None, str(entry["leaf"])
        prev = step(prev, value)
        if event is not None:
            proven[seq] = (prev, event)
        expected = seq + 1
    if expected is None or expected - 1 != head_seq:
        return PathCheck(head_seq, head_hash, proven, "the chain path does not end at its head")
    if prev != head_hash:
        return PathCheck(head_seq, head_hash, proven, "the chain path does not hash to its head")
    return PathCheck(head_seq, head_hash, proven)
