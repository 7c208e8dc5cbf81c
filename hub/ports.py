"""The ports of the hub core: what the services need from storage, peers, signatures and time.

Theory of operation. The services (:mod:`hub.services`) are synchronous Python that own the
transaction: each operation opens one :class:`UnitOfWork`, reads and writes through its
repositories, and calls :meth:`UnitOfWork.commit` once. Repositories never commit and never
decide a delivery's state (:mod:`hub.delivery` does); they persist rows. Leaving the ``with``
block without a commit rolls everything back.

The rows below mirror the tables (hub-common.md; the Alembic migrations under
``adapters/store/migrations/`` are the only schema authority). They are frozen values: to change
a delivery, build the new row with :func:`dataclasses.replace` and :meth:`DeliveryRepository.save`
it with the row as read (compare-and-set of the columns it changes, so two workers racing on one
delivery cannot both win — the loser sees ``False`` and re-reads — and a column neither of them
touched is never written back from an old read).

Package bytes never go into the database: the :class:`BlobStore` keeps them content-addressed
(SHA-256 hex) and is written BEFORE the transaction that references the digest — an orphan blob
is harmless, a row without its blob must be impossible.

Timestamps are timezone-aware UTC everywhere; an adapter that reads a naive datetime back (SQLite)
must attach UTC before handing the row out.

Implementations: ``adapters/memory.py`` (dict-backed, for fast tests), ``adapters/store/``
(SQLAlchemy Core over SQLite/PostgreSQL; :class:`PeerHealthStore` in ``peer_health.py``),
``adapters/peers/`` (:class:`Peer` by kind: link, inbox, tracker, directory; ``vxp`` on
``adapters/vxp_client.py``), ``signing/`` (:class:`SignatureVerifier`). Every :class:`Peer` the
composition root builds is wrapped by :func:`hub.peer_guard.guard` (one circuit breaker per
peer, :mod:`hub.circuit`), so the services see the same ports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple, Protocol, Self, runtime_checkable

from hub.edxml.model import MessageKind
from hub.edxml.reader import ParsedPackage
from hub.edxml.source import Package

# --------------------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class PackageRow:
    """``packages``: one stored package body (the bytes live in the :class:`BlobStore`, or in
    the row itself when small: ``body``)."""

    digest: str  # SHA-256 hex of the bytes as received
    size: int
    kind: MessageKind
    received_at: dt.datetime
    body: bytes | None = None
    """The bytes, when at most :attr:`BlobStore.inline_max_bytes`: written with the row, in the
    push's own transaction, and read back through the blob store. ``None``: in the blob store."""


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """``documents``: one accepted push (the VXP ``DocId``), its header facts and verdicts.

    ``(sender_system, digest)`` is unique: the same bytes pushed again by the same system are the
    same document (idempotent push).
    """

    id: str  # uuid4 text, the VXP DocId answered to sendEdoc
    digest: str
    kind: MessageKind
    document_id: str | None  # edXML DocumentId (None for status messages)
    sender_code: str  # From/OrganId
    sender_system: str  # the authenticated system that pushed it
    business_type: int  # BussinessDocType (0 new, 1 revoke, 2 update, 3 replace); 0 for status
    related_doc_id: str | None  # original doc for revoke/update/replace, the edoc a status is about
    subject: str | None
    code_number: str | None
    code_notation: str | None
    verdicts: Mapping[str, Any]  # JSON-able (Verdicts.to_dict())
    problems: Sequence[Mapping[str, Any]]  # JSON-able profile findings
    flags: Sequence[str]  # policy flags (accepted but flagged)
    received_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """``deliveries``: one recipient's copy of a document (the receiver's VXP ``docId``).

    ``(doc_id, recipient_code)`` is unique. ``state`` is a :class:`hub.delivery.State` value and
    changes only through :func:`hub.delivery.transition`. ``business_status`` is the last status
    code (01…16) the recipient reported about this document — a column, not a state.
    """

    id: str
    doc_id: str
    recipient_code: str  # as addressed in the package
    resolved_code: str | None  # the live code after successors (2025 reform), else None
    route: str  # hub.services.contracts.Route value
    peer_name: str | None  # for PEER routes
    system_id: str | None  # hosting system, for LOCAL routes
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None  # the reason of the last failure / reroute (vi), shown to the sender
    business_status: str | None
    business_status_desc: str | None
    business_status_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    fetched_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    remote_id: str | None = None  # PEER/NATIONAL routes: the peer's id of the pushed copy
    remote_status: str | None = None  # what the peer last said of it (TransportStatus value)
    remote_status_desc: str | None = None
    remote_status_at: dt.datetime | None = None  # when the peer said so (else when we asked)


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """``delivery_events``: one state change (or one noteworthy non-change) of a delivery."""

    delivery_id: str
    at: dt.datetime
    from_state: str | None  # None for the creation event
    to_state: str
    reason: str | None = None
    id: int | None = None  # assigned by the store


@dataclass(frozen=True, slots=True)
class SystemRow:
    """``systems``: a connected document system (QLVB); secrets are Fernet tokens (hub.secrets)."""

    id: str
    name: str
    secret_enc: str
    secret_prev_enc: str | None
    enabled: bool
    max_age_s: int
    created_at: dt.datetime

    def __repr__(self) -> str:  # encrypted or not, secrets stay out of logs
        return f"SystemRow(id={self.id!r}, name={self.name!r}, enabled={self.enabled})"


@dataclass(frozen=True, slots=True)
class AgencyRow:
    """``agencies``: a registry record as stored (imported, synced or registered by a system)."""

    code: str
    name: str
    code_qd20: str | None = None
    parent_code: str | None = None
    level: int | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    successor_code: str | None = None
    email: str | None = None
    source: str = "local"  # "sample", "import", "national", "system:<id>"
    modified_at: dt.datetime | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """``outbox``: a broker message stored in the transaction that made it necessary."""

    id: int
    queue: str
    body: bytes
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    """``audit``: append-only record of who did what, with which outcome."""

    at: dt.datetime
    actor: str  # "system:<id>", "cli", "worker:<name>", "hub"
    action: str  # e.g. "push", "fetch", "system.add", "system.rotate"
    subject: str | None  # doc id, delivery id, system id …
    outcome: str  # "ok" or an error code (hub.errors ``code``)
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON-able, never bodies/secrets
    id: int | None = None


@dataclass(frozen=True, slots=True)
class InboundRow:
    """``inbound_items``: one item taken from a peer's inbox, and what became of it.

    ``(peer, remote_id)`` is unique: an item is decided once and never fetched again.
    ``outcome`` is ``accepted`` (``doc_id`` set) or ``refused`` (``reason`` says why);
    ``acked_at`` is when the peer was told (``None``: the acknowledgement is still owed).
    """

    peer: str
    remote_id: str
    kind: MessageKind
    outcome: str  # "accepted" | "refused"
    reason: str | None
    doc_id: str | None
    digest: str | None
    received_at: dt.datetime
    acked_at: dt.datetime | None = None


class InboxEntry(NamedTuple):
    """One line of an inbox page: only what a listing shows, read as a plain tuple.

    A page is up to ``limits.inbox_page`` lines and clients poll it every few seconds: whole
    :class:`DeliveryRow` and :class:`DocumentRow` values would decode the document's JSON
    columns (verdicts, problems) and build two dataclasses per line for nothing.
    """

    delivery_id: str
    doc_id: str
    sender_code: str
    recipient_code: str
    resolved_code: str | None
    state: str
    created_at: dt.datetime
    updated_at: dt.datetime
    document_id: str | None
    subject: str | None
    flags: Sequence[str]

    @classmethod
    def of(cls, d: DeliveryRow, doc: DocumentRow) -> InboxEntry:
        """The line of delivery ``d`` of document ``doc``."""
        return cls(
            d.id,
            d.doc_id,
            doc.sender_code,
            d.recipient_code,
            d.resolved_code,
            d.state,
            d.created_at,
            d.updated_at,
            doc.document_id,
            doc.subject,
            doc.flags,
        )


class FetchEntry(NamedTuple):
    """A delivery as a fetch hands it out: the row (for the state step), the three facts of its
    document the hand-out uses, and the package body when the package row keeps it.

    A fetch is one of the two calls of every pulled package: read as one statement, not as
    a joined pair of whole rows (the document's JSON columns decoded for nothing) followed by
    two more reads of the blob store on connections of their own.
    """

    delivery: DeliveryRow
    kind: MessageKind
    digest: str  # of the package: where the body is when ``body`` is None
    received_at: dt.datetime  # the document's acceptance, the time of this hub's trace hop
    body: bytes | None
    """The stored bytes, already checked against ``digest``; ``None`` when they live in the
    blob store (a large body, or one stored before the package row kept bodies)."""


@dataclass(frozen=True, slots=True)
class DeliveryGroup:
    """One line of the deliveries summary (IT views, ``/metrics``): how many deliveries share a
    state, route and destination, and how long the oldest of them has waited."""

    state: str
    route: str
    system_id: str | None  # hosting system (LOCAL routes)
    peer_name: str | None  # peer hub (PEER routes)
    count: int
    oldest_created_at: dt.datetime | None
    oldest_updated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What the message log (IT views, CSV export) is narrowed to; ``None`` is "any".

    Every text criterion is an exact match, so each one can use an index (migration 0017).
    """

    document: str | None = None
    """The edXML DocumentId, or the hub's DocId of the document."""
    code: str | None = None
    """Số/ký hiệu: ``"123/QĐ-UBND"`` matches number and notation; ``"123"`` or ``"QĐ-UBND"``
    alone matches either column."""
    sender: str | None = None
    """The sending agency's code or the pushing system's id."""
    recipient: str | None = None
    """The recipient code as addressed, or the live code it resolved to."""
    state: str | None = None
    """A :class:`hub.delivery.State` value."""
    since: dt.datetime | None = None
    """Deliveries created at or after this instant."""
    until: dt.datetime | None = None
    """Deliveries created before this instant."""
    status: str | None = None
    """The last business status (01…16) the recipient reported."""

    def code_parts(self) -> tuple[str | None, str | None]:
        """:attr:`code` as (number, notation): ``"123/QĐ-UBND"`` → ``("123", "QĐ-UBND")``; a
        single part is ``(part, None)`` (to match either column)."""
        number, sep, notation = (self.code or "").strip().partition("/")
        if not sep:
            return number or None, None
        return number.strip() or None, notation.strip() or None


# ------------------------------------------------------------------------------- repositories


class PackageRepository(Protocol):
    def add(self, row: PackageRow) -> bool:
        """Insert unless the digest is already stored; ``True`` when a row was inserted."""
        ...

    def get(self, digest: str) -> PackageRow | None: ...


class DocumentRepository(Protocol):
    def add(self, row: DocumentRow, package: PackageRow | None = None) -> None:
        """Insert (after ``package``, when given, stored as :meth:`PackageRepository.add` stores
        it: one statement for both in the PostgreSQL store). A second row with the same
        ``(sender_system, digest)`` raises :class:`hub.errors.Conflict` (code
        ``document.duplicate``), and a second *new* document (``business_type`` 0) with the
        same ``(sender_code, document_id)`` raises it with code ``document.id_reused`` — the
        service checks :meth:`by_digest` and
        :meth:`by_document_id` first; the constraints are the last line against a race."""
        ...

    def get(self, doc_id: str) -> DocumentRow | None: ...

    def by_digest(self, sender_system: str, digest: str) -> DocumentRow | None: ...

    def by_document_id(self, sender_code: str, document_id: str) -> Sequence[DocumentRow]:
        """Documents with this edXML DocumentId from this sending agency, oldest first."""
        ...

    def sent_by(
        self, sender_system: str, *, doc_id: str | None = None, limit: int = 500
    ) -> Sequence[DocumentRow]:
        """Documents pushed by ``sender_system`` (one when ``doc_id``), newest first."""
        ...

    def count_since(self, at: dt.datetime) -> int:
        """How many documents were received at or after ``at`` (IT overview)."""
        ...

    def search(self, term: str, *, limit: int = 50) -> Sequence[DocumentRow]:
        """Documents whose DocId, edXML DocumentId, sender code or sender system equals
        ``term`` exactly, newest first (IT document search; exact match keeps it indexed)."""
        ...

    def related_to(self, doc_id: str, *, limit: int = 500) -> Sequence[DocumentRow]:
        """Documents about ``doc_id`` (statuses, revokes, updates, replacements: their
        ``related_doc_id`` is it), oldest first (the IT timeline)."""
        ...


class DeliveryRepository(Protocol):
    def add(self, row: DeliveryRow) -> None:
        """Insert; ``(doc_id, recipient_code)`` must be new (else :class:`hub.errors.Conflict`)."""
        ...

    def add_many(self, rows: Sequence[DeliveryRow], events: Sequence[DeliveryEvent] = ()) -> None:
        """:meth:`add` for several rows at once, then ``events`` as :meth:`add_events` adds
        them (one statement for the rows, one for the events in the SQL store)."""
        ...

    def get(self, delivery_id: str) -> DeliveryRow | None: ...

    def with_document(self, delivery_id: str) -> tuple[DeliveryRow, DocumentRow] | None:
        """The delivery and its document in one read (a fetch needs both)."""
        ...

    def for_fetch(self, delivery_id: str) -> FetchEntry | None:
        """The delivery with what a fetch hands out (see :class:`FetchEntry`), in one read."""
        ...

    def get_many(self, delivery_ids: Sequence[str]) -> Mapping[str, DeliveryRow]:
        """The deliveries among ``delivery_ids`` that exist, by id (one SELECT in the SQL
        store: a dispatch batch reads its deliveries at once, not one round trip each)."""
        ...

    def save(
        self,
        row: DeliveryRow,
        *,
        expected_state: str | None = None,
        read: DeliveryRow | None = None,
    ) -> bool:
        """Compare-and-set ``row``; ``False`` (and nothing written) when another transaction
        got there first. Portable to SQLite and PostgreSQL.

        With ``read`` (the row as the caller read it — the usual way): only the columns in
        which ``row`` differs from ``read`` are written, each guarded by its ``read`` value,
        and the state by ``read.state``. A column another transaction changed since the read
        and that this write leaves alone survives (a ``business_status`` recorded while a
        worker advanced the copy). ``updated_at`` is written unguarded (last writer wins).

        Without ``read``: every column is written, guarded by ``expected_state`` only.
        Hazard: that overwrites whatever another transaction changed since the caller's read
        without moving the state; pass ``read`` whenever there is one.
        """
        ...

    def save_with_event(
        self,
        row: DeliveryRow,
        *,
        read: DeliveryRow,
        event: DeliveryEvent,
        audit: AuditRow | None = None,
    ) -> bool:
        """:meth:`save` with ``read``, then :meth:`add_event` of ``event`` and, given, the
        ``audit`` row (:meth:`AuditRepository.append`) when it won — one statement on
        PostgreSQL (a state step is a fetch's or an acknowledgement's main write).

        ``False``, and nothing written, when the compare-and-set lost.
        """
        ...

    def save_many(self, steps: Sequence[tuple[DeliveryRow, DeliveryRow]]) -> bool:
        """:meth:`save` with ``read`` for several ``(row, read)`` pairs of distinct deliveries
        (one statement per shape of change in the SQL store, not one per row).

        ``False`` when any of them lost its compare-and-set. Hazard: the others may have been
        written by then — the caller must roll its unit of work back (as
        :func:`hub.delivery.advance_many` does by raising).
        """
        ...

    def for_document(self, doc_id: str) -> Sequence[DeliveryRow]:
        """All deliveries of a document, in creation order."""
        ...

    def inbox(
        self,
        system_id: str,
        kind: MessageKind,
        states: Sequence[str],
        *,
        limit: int = 500,
    ) -> Sequence[InboxEntry]:
        """LOCAL deliveries hosted by ``system_id`` in ``states`` whose document is of ``kind``,
        oldest first (``created_at``, then ``id``), the first ``limit`` of them."""
        ...

    def count_inbox(self, system_id: str, kind: MessageKind, states: Sequence[str]) -> int: ...

    def in_state(self, state: str, *, limit: int = 100) -> Sequence[DeliveryRow]:
        """Deliveries in ``state``, oldest ``updated_at`` first (sweepers, IT views)."""
        ...

    def summary(self) -> Sequence[DeliveryGroup]:
        """Counts by (state, route, system_id, peer_name) with the oldest timestamps (one
        GROUP BY over the table: callers cache it — the IT overview and ``/metrics``)."""
        ...

    def add_event(self, event: DeliveryEvent) -> None: ...

    def add_events(self, events: Iterable[DeliveryEvent]) -> None:
        """:meth:`add_event` for several events at once, in order (one statement in SQL)."""
        ...

    def events(self, delivery_id: str) -> Sequence[DeliveryEvent]:
        """A delivery's events, oldest first."""
        ...

    def tracked(
        self,
        since: dt.datetime,
        *,
        after: tuple[dt.datetime, str] | None = None,
        limit: int = 100,
    ) -> Sequence[DeliveryRow]:
        """``forwarded`` deliveries of edocs with a ``remote_id`` whose remote status is not
        ``done`` yet, updated at or after ``since``, by ``(updated_at, id)`` and beyond
        ``after`` when given (the tracker's work list, paged: what a peer may still have news
        about)."""
        ...

    def log(
        self,
        where: LogFilter,
        *,
        before: tuple[dt.datetime, str] | None = None,
        limit: int = 100,
    ) -> Sequence[tuple[DeliveryRow, DocumentRow]]:
        """Deliveries matching ``where`` with their document, newest first by
        ``(created_at, id)`` and strictly older than ``before`` when given (the message log,
        paged by key: a page stays the same however many deliveries arrive meanwhile)."""
        ...


class SystemRepository(Protocol):
    def add(self, row: SystemRow) -> None:
        """Insert; an existing id raises :class:`hub.errors.Conflict`."""
        ...

    def get(self, system_id: str) -> SystemRow | None: ...

    def list(self) -> Sequence[SystemRow]:
        """All systems, by id."""
        ...

    def update(self, row: SystemRow) -> None: ...

    def agencies(self, system_id: str) -> tuple[str, ...]:
        """Codes of the agencies the system hosts (sorted)."""
        ...

    def set_agencies(self, system_id: str, codes: Sequence[str]) -> None:
        """Replace the hosted set of ``system_id``."""
        ...

    def hosting(self) -> Mapping[str, str]:
        """Every hosted agency code → the id of the system hosting it (enabled or not)."""
        ...

    def last_activity(self) -> Mapping[str, dt.datetime]:
        """System id → the last time it pushed a document or first fetched a delivery (the
        hub records no row for a mere poll, so a system that only polls has no entry)."""
        ...


class AgencyRepository(Protocol):
    def upsert(self, row: AgencyRow) -> None: ...

    def upsert_many(self, rows: Sequence[AgencyRow]) -> None:
        """:meth:`upsert` for several rows (one executemany in the SQL store: a registry
        import of tens of thousands is not one round trip per agency)."""
        ...

    def get(self, code: str) -> AgencyRow | None: ...

    def list(self, *, include_deleted: bool = False) -> Sequence[AgencyRow]:
        """All records, by code."""
        ...


class OutboxRepository(Protocol):
    def add(self, queue: str, body: bytes, created_at: dt.datetime) -> int:
        """Store a message to publish; returns its id."""
        ...

    def pending(self, limit: int = 500) -> Sequence[OutboxRow]:
        """Stored messages, oldest first."""
        ...

    def delete(self, ids: Sequence[int]) -> None:
        """Forget published messages (ids already gone are ignored)."""
        ...


class AuditRepository(Protocol):
    def append(self, row: AuditRow) -> None: ...

    def append_many(self, rows: Sequence[AuditRow]) -> None:
        """Append ``rows`` in their order (one statement)."""
        ...

    def recent(
        self,
        *,
        subject: str | None = None,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
    ) -> Sequence[AuditRow]:
        """Newest first; only ``subject``'s rows when given; ``actor`` and ``action`` filter by
        prefix (``"system:"``, ``"delivery."``)."""
        ...


class InboundRepository(Protocol):
    def add(self, row: InboundRow) -> None:
        """Insert; an existing ``(peer, remote_id)`` raises :class:`hub.errors.Conflict`."""
        ...

    def get(self, peer: str, remote_id: str) -> InboundRow | None: ...

    def mark_acked(self, peer: str, remote_id: str, at: dt.datetime) -> None:
        """Record that the peer was told the outcome."""
        ...

    def recent(
        self, *, peer: str | None = None, outcome: str | None = None, limit: int = 100
    ) -> Sequence[InboundRow]:
        """Newest first, optionally one peer's or one outcome's (IT view)."""
        ...

    def for_document(self, doc_id: str) -> Sequence[InboundRow]:
        """The items that became document ``doc_id`` (its origin at a peer), oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class Buckets:
    """``count`` consecutive time buckets of ``width_s`` seconds from ``start`` (inclusive) —
    the x axis of a rate chart. ``start`` is a whole second, so both backends bucket alike."""

    start: dt.datetime
    width_s: int
    count: int

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.width_s * self.count)

    def index(self, at: dt.datetime) -> int | None:
        """The bucket ``at`` falls in, ``None`` outside the window."""
        if at < self.start or at >= self.end:
            return None
        return int((at - self.start).total_seconds()) // self.width_s


class ActivityRepository(Protocol):
    """Figures over time and per system for the operations console, and the pull record.

    Counting queries are bounded by a time range on an indexed column (``received_at``,
    ``delivery_events.at``, ``audit.at``) or by a system / recipient key, never a whole scan.
    """

    def received(self, window: Buckets) -> list[int]:
        """Documents accepted per bucket (``documents.received_at``)."""
        ...

    def transitions(self, to_states: Sequence[str], window: Buckets) -> list[int]:
        """Delivery events per bucket that moved a delivery INTO one of ``to_states`` (an
        event whose ``from_state`` already was the same state is not a move)."""
        ...

    def refusals(self, actions: Sequence[str], window: Buckets) -> list[int]:
        """Audit rows per bucket with ``action`` in ``actions`` and an outcome other than
        ``ok`` (refused pushes and inbound items)."""
        ...

    def system_states(self, system_id: str) -> Mapping[str, int]:
        """Deliveries hosted by ``system_id`` by state."""
        ...

    def system_times(self, system_id: str) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(creation of the oldest ``available`` delivery in ``system_id``'s inbox, its last
        fetch); ``None`` where there is none."""
        ...

    def sent_count(self, system_id: str) -> int:
        """Documents ``system_id`` has pushed (accepted)."""
        ...

    def recent_deliveries(
        self, *, system_id: str | None = None, recipient_code: str | None = None, limit: int = 50
    ) -> Sequence[DeliveryRow]:
        """The newest deliveries hosted by ``system_id`` or addressed to ``recipient_code`` (as
        addressed or as resolved), newest first (``created_at``, then ``id``)."""
        ...

    def record_pull(self, system_id: str, at: dt.datetime) -> None:
        """Remember that ``system_id`` listed its inbox at ``at`` (a later value only)."""
        ...

    def last_pulls(self) -> Mapping[str, dt.datetime]:
        """Each system's last recorded inbox listing."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository.

    Use as ``with uow_factory() as uow: …; uow.commit()``. Leaving the block without
    :meth:`commit` (or by an exception) rolls back. After a commit the unit is finished; open a
    new one for more work. Store failures surface as :class:`hub.errors.StoreUnavailable`.
    """

    # Read-only members, so an adapter's unit may expose its own (narrower) repository types.
    @property
    def packages(self) -> PackageRepository: ...
    @property
    def documents(self) -> DocumentRepository: ...
    @property
    def deliveries(self) -> DeliveryRepository: ...
    @property
    def systems(self) -> SystemRepository: ...
    @property
    def agencies(self) -> AgencyRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def inbound(self) -> InboundRepository: ...
    @property
    def activity(self) -> ActivityRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


#: Opens a fresh unit of work (the composition root binds it to an engine).
UnitOfWorkFactory = Callable[[], UnitOfWork]


# ------------------------------------------------------------------------------------ blobs


class BlobStore(Protocol):
    """Content-addressed storage of package bodies (SHA-256 hex).

    ``put`` is idempotent and durable when it returns (temp file, fsync, rename). ``get`` /
    ``open`` of a digest that is not stored raise :class:`hub.errors.InternalError` (code
    ``blob.missing``): a referenced blob that vanished is our fault, never the caller's.
    """

    inline_max_bytes: int
    """Bodies of at most this many bytes are not put here: the push writes them into its
    package row (:attr:`PackageRow.body`) in its own transaction — no write and no fsync of
    their own, the commit is their durability — and ``get``/``open``/``size``/``exists`` find
    them there. 0 for a store that cannot read package rows (everything is put)."""

    def put(self, data: bytes) -> str:
        """Store ``data``; return its digest."""
        ...

    def put_stream(self, source: BinaryIO, *, max_size: int | None = None) -> tuple[str, int]:
        """Store everything ``source`` yields, one chunk in memory at a time; return
        ``(digest, size)`` (:class:`hub.errors.PackageTooLarge` past ``max_size``)."""
        ...

    def get(self, digest: str) -> bytes: ...

    def size(self, digest: str) -> int:
        """Length of the stored body (``blob.missing`` when it is not stored)."""
        ...

    def open(self, digest: str) -> BinaryIO: ...

    def exists(self, digest: str) -> bool: ...


# ------------------------------------------------------------------------------------- peers


class PeerLink(Protocol):
    """A push channel to another hub: the national axis (VXP) or a peer provincial hub.

    Raises :class:`hub.errors.PeerUnavailable` when the peer cannot be reached or answers with a
    server error (retried with backoff), :class:`hub.errors.PeerError` when it refuses the
    package for a reason of its own.
    """

    def send(
        self, data: bytes, *, from_code: str, to_codes: Sequence[str], kind: MessageKind
    ) -> str:
        """Push ``data`` and return the remote id (the peer's DocId)."""
        ...


#: The name of the national axis (or of this hub's parent) among the peers, and its key among
#: the :class:`PeerLink` s handed to the forward handler; peer hubs use their configured name.
NATIONAL_LINK = "national"


@dataclass(frozen=True, slots=True)
class RemoteItem:
    """One package a peer holds for the agencies this hub serves (an entry of its inbox)."""

    remote_id: str  # the peer's id for it: VXP docId, SOAP document id, LGSP docId
    kind: MessageKind
    from_code: str | None = None  # the sender as the peer lists it, when it does
    listed_at: dt.datetime | None = None  # when the peer received it, when it says


@dataclass(frozen=True, slots=True)
class RemoteDeliveryState:
    """What a peer says became of one package this hub pushed to it, for one recipient."""

    remote_id: str
    recipient_code: str
    status: str  # a hub.services.contracts.TransportStatus value (the peer's words mapped)
    description: str | None = None
    at: dt.datetime | None = None


class PeerInbox(Protocol):
    """The pull side of a peer: packages it holds for agencies this hub serves.

    Hazard: :meth:`acknowledge` only after the package is committed here. A crash between the
    commit and the acknowledgement lists and fetches the item again; the intake recognises the
    same bytes (idempotent on digest), so the result is neither a loss nor a second delivery.
    Errors as for :class:`PeerLink`.
    """

    def pending(self, kind: MessageKind, *, limit: int = 100) -> Sequence[RemoteItem]:
        """Items waiting for this hub, oldest first, at most ``limit``."""
        ...

    def fetch(self, item: RemoteItem) -> bytes:
        """The package bytes exactly as the peer holds them."""
        ...

    def acknowledge(self, item: RemoteItem, *, accepted: bool, reason: str | None = None) -> None:
        """Tell the peer the item was taken (``accepted``) or refused with ``reason``; either
        way the peer stops listing it."""
        ...


class PeerTracker(Protocol):
    """What a peer knows of the packages this hub pushed to it (remote delivery state)."""

    def delivery_states(self, remote_id: str) -> Sequence[RemoteDeliveryState]:
        """One state per recipient of the pushed package ``remote_id`` (may be empty)."""
        ...


class PeerDirectory(Protocol):
    """The agency registry a peer keeps, and registration of the agencies hosted here."""

    def agencies(self) -> Sequence[AgencyRow]:
        """The peer's whole agency list, as rows (``source`` names the peer)."""
        ...

    def register(self, agency: AgencyRow) -> None:
        """Announce an agency hosted by this hub to the peer."""
        ...

    def delete(self, code: str) -> None:
        """Withdraw an agency this hub no longer hosts."""
        ...


@runtime_checkable
class PeerDirectoryDetails(Protocol):
    """Optional extras of a :class:`PeerDirectory` whose peer keeps the national registry.

    A directory that has them also offers the QĐ 20/2020 code list and incremental changes;
    the registry sync uses them when present (``isinstance(directory, PeerDirectoryDetails)``).
    """

    def agencies_qd20(self) -> Sequence[AgencyRow]:
        """The agency list keyed by QCVN 102 code with ``code_qd20`` set (QĐ 20/2020)."""
        ...

    def agency_changes(self) -> Sequence[AgencyRow]:
        """Records changed at the peer since it last reported (``deleted`` marks removals)."""
        ...


@dataclass(frozen=True, slots=True)
class Peer:
    """One connection to another hub, of any kind (``vxp``, ``soap``, ``lgsp``…).

    ``link`` pushes; the other capabilities are ``None`` where the kind (or the configuration)
    lacks them. Built by ``adapters/peers`` from :class:`hub.settings.PeerSettings`; the
    services never name a kind.
    """

    name: str
    kind: str
    link: PeerLink
    inbox: PeerInbox | None = None
    tracker: PeerTracker | None = None
    directory: PeerDirectory | None = None
    close: Callable[[], None] = field(default=lambda: None, compare=False)


@dataclass(frozen=True, slots=True)
class PeerHealth:
    """``peer_health``: what the hub last saw of one peer's connection (:mod:`hub.circuit`)
    and of its registry sync (:mod:`hub.services.registry_sync`).

    Written by the worker processes, read by every process (``/readyz``, ``/metrics``, the
    dashboard). ``last_error`` and ``alert`` are ``"<code>: <message>"`` texts — never a secret
    or a package body.
    """

    name: str
    kind: str = ""
    state: str = "closed"  # hub.circuit.BreakerState value
    consecutive_failures: int = 0
    last_success_at: dt.datetime | None = None
    last_error_at: dt.datetime | None = None
    last_error: str | None = None
    alert: str | None = None  # set while the peer refuses our credential: an operator must act
    opened_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    sync_at: dt.datetime | None = None  # the last registry sync attempt
    sync_outcome: str | None = None  # "ok", or why the stored registry was kept
    sync_count: int | None = None  # agencies in the last accepted list

    @property
    def up(self) -> bool:
        """Calls are passing (the breaker is closed and no alert stands)."""
        return self.state == "closed" and self.alert is None


class PeerHealthStore(Protocol):
    """Where every process finds the peers' health (a small table; one row per peer).

    The connection columns and the sync columns are written separately, so the breaker and the
    registry sync never overwrite each other's facts. Last writer wins per column group.
    """

    def save_link(self, health: PeerHealth) -> None:
        """Store the connection fields of ``health`` (everything but ``sync_*``)."""
        ...

    def save_sync(
        self, name: str, *, at: dt.datetime, outcome: str, count: int | None = None
    ) -> None:
        """Store the outcome of a registry sync from peer ``name`` (``count`` when accepted)."""
        ...

    def all(self) -> Sequence[PeerHealth]:
        """Every peer's row, by name."""
        ...


# ------------------------------------------------------------------------------------ leases


class Leases(Protocol):
    """Named leases shared by every process of every node: scheduled work (the inbound poller,
    registry sync) runs in one place at a time, and moves when its holder dies.

    Hazard: a lease is time-bound, not a lock. The holder renews it well inside ``ttl_s`` (at
    most every ``ttl_s / 3``) and stops the work when a renewal fails; the work itself stays
    idempotent, since a holder stalled past its ``ttl_s`` overlaps briefly with its successor.
    """

    def acquire(self, name: str, holder: str, ttl_s: float, now: dt.datetime) -> bool:
        """Take ``name`` for ``holder`` until ``now + ttl_s``, or renew it if ``holder`` has it;
        ``False`` while another holder's lease has not expired."""
        ...

    def release(self, name: str, holder: str) -> None:
        """Give ``name`` up now, if ``holder`` has it (a clean stop hands over at once)."""
        ...


# -------------------------------------------------------------------------------- signatures


class Indication(StrEnum):
    """The three outcomes of validating a signature (ETSI EN 319 102-1 §5.1.3, as EU DSS says).

    ``INVALID`` is proof that something is wrong (the bytes changed, the key does not match, the
    certificate was revoked); ``INDETERMINATE`` is the absence of what is needed to decide (the
    revocation data cannot be fetched, no chain to an anchor, outside the validity period
    without proof of the signing time, an algorithm the policy does not accept). The two ask for
    different handling: a forgery is refused, a signature that cannot be judged yet may be
    accepted and flagged. Each verdict also names an ETSI sub-indication (``HASH_FAILURE``,
    ``REVOKED``, ``TRY_LATER``, …) as a string.
    """

    VALID = "valid"  # TOTAL-PASSED
    INVALID = "invalid"  # TOTAL-FAILED
    INDETERMINATE = "indeterminate"  # INDETERMINATE

    @staticmethod
    def worst(indications: Iterable[Indication]) -> Indication | None:
        """Invalid if any is, else indeterminate if any is, else valid; ``None`` for none."""
        seen = set(indications)
        for level in (Indication.INVALID, Indication.INDETERMINATE, Indication.VALID):
            if level in seen:
                return level
        return None


class EnvelopeStatus(StrEnum):
    """What checking the envelope (XML-DSig) signature found, coarse enough for a policy."""

    NOT_CHECKED = "not_checked"  # no verifier configured (tests, embedded demo)
    MISSING = "missing"  # the package carries no envelope signature
    VALID = "valid"  # intact and chained to a trust anchor
    UNTRUSTED = "untrusted"  # intact, but no chain leads to a configured anchor
    INDETERMINATE = "indeterminate"  # intact; trust not established now (revocation data
    # unreachable, expired or not yet valid certificate)
    INVALID = "invalid"  # the bytes changed, the signature does not verify, a refused
    # algorithm or layout, or a revoked signer


@dataclass(frozen=True, slots=True)
class Verdicts:
    """The summary of every signature check on one package, stored on its document row.

    ``details`` is the verifier's JSON-able account (signer, algorithm, problems per
    signature); the services decide only on the fields above it. The three-way outcomes are
    the verifier's (computed once where the signatures were checked), never re-derived here:
    ``envelope_verdict`` is ``None`` when there was no envelope signature to judge, and
    ``pdf_indeterminate`` counts the PDF signatures among ``pdf_bad`` that are indeterminate
    rather than invalid.
    """

    envelope: EnvelopeStatus
    pdf_checked: int = 0  # PDF signatures examined
    pdf_bad: int = 0  # of which not valid (invalid or indeterminate)
    details: Mapping[str, Any] = field(default_factory=dict)
    envelope_verdict: Indication | None = None  # the envelope signature's three-way outcome
    envelope_subindication: str | None = None  # its ETSI sub-indication (None when valid)
    pdf_indeterminate: int = 0  # of pdf_bad, those indeterminate (the rest are invalid)

    @property
    def pdf_invalid(self) -> int:
        """PDF signatures that are invalid (proof of a problem, not a lack of data)."""
        return self.pdf_bad - self.pdf_indeterminate

    @property
    def verdict(self) -> Indication | None:
        """The package's outcome over every signature judged (``None``: nothing was judged)."""
        found: list[Indication] = []
        if self.envelope_verdict is not None:
            found.append(self.envelope_verdict)
        if self.pdf_invalid:
            found.append(Indication.INVALID)
        if self.pdf_indeterminate:
            found.append(Indication.INDETERMINATE)
        if self.pdf_checked > self.pdf_bad:
            found.append(Indication.VALID)
        return Indication.worst(found)

    @property
    def bottom_line(self) -> bool:
        """True only when the envelope is valid and every PDF signature is good."""
        return self.envelope is EnvelopeStatus.VALID and self.pdf_bad == 0

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict
        return {
            "envelope": self.envelope.value,
            "envelope_verdict": self.envelope_verdict.value if self.envelope_verdict else None,
            "envelope_subindication": self.envelope_subindication,
            "pdf_checked": self.pdf_checked,
            "pdf_bad": self.pdf_bad,
            "pdf_invalid": self.pdf_invalid,
            "pdf_indeterminate": self.pdf_indeterminate,
            "verdict": verdict.value if verdict else None,
            "bottom_line": self.bottom_line,
            "details": dict(self.details),
        }


class SignatureVerifier(Protocol):
    """Checks the signatures of one parsed package.

    ``parsed`` is the one parse of ``data`` (reuse its tree: never
    parse again); ``sender`` the From/OrganId code. Returns verdicts — an invalid signature is a
    verdict, not an exception. Raises :class:`hub.errors.KeyAccessError` /
    :class:`hub.errors.InternalError` only when it cannot check at all.
    """

    def verify(self, parsed: ParsedPackage, data: Package, sender: str) -> Verdicts: ...


class NullVerifier:
    """A verifier that checks nothing and says so (``not_checked``)."""

    def verify(self, parsed: ParsedPackage, data: Package, sender: str) -> Verdicts:
        return Verdicts(EnvelopeStatus.NOT_CHECKED)


# ------------------------------------------------------------------------------------- time


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------------- operator accounts


@dataclass(frozen=True, slots=True)
class OperatorRow:
    """A person's console account (:mod:`hub.services.accounts`); never the password itself."""

    name: str
    role: str  # hub.access.ROLES
    password_hash: str  # the hasher's self-describing string (argon2id: "$argon2id$v=19$…")
    disabled: bool
    created_at: dt.datetime
    changed_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One login: ``key`` is the SHA-256 of the cookie value (the value itself is never kept)."""

    key: str
    operator: str
    created_at: dt.datetime
    seen_at: dt.datetime
    address: str | None = None


class OperatorStore(Protocol):
    """Accounts, their sessions and failed logins. Each call is its own short transaction: a
    login must be refused or granted in every API process the moment it is written."""

    def add(self, row: OperatorRow) -> None:
        """Insert a new account; :class:`hub.errors.Conflict` when the name is taken."""
        ...

    def get(self, name: str) -> OperatorRow | None: ...

    def all(self) -> Sequence[OperatorRow]:
        """Every account, by name."""
        ...

    def save(self, row: OperatorRow) -> None:
        """Replace the stored account of ``row.name`` (role, hash, disabled, changed_at)."""
        ...

    def open_session(self, row: SessionRow) -> None: ...

    def session(self, key: str) -> SessionRow | None: ...

    def touch_session(self, key: str, at: dt.datetime) -> None:
        """Move the session's last-seen time (idle expiry counts from it)."""
        ...

    def end_session(self, key: str) -> None: ...

    def end_sessions(self, operator: str) -> int:
        """End every session of ``operator``; how many there were."""
        ...

    def record_failure(self, key: str, at: dt.datetime) -> None:
        """Remember one failed login for ``key`` (``account:<name>`` or ``address:<ip>``)."""
        ...

    def failures(self, key: str, since: dt.datetime) -> Sequence[dt.datetime]:
        """The failed logins of ``key`` at or after ``since``, oldest first."""
        ...

    def clear_failures(self, key: str) -> None: ...

    def agencies(self, name: str) -> tuple[str, ...]:
        """The agency codes account ``name`` acts for, sorted (empty: none)."""
        ...

    def all_agencies(self) -> Mapping[str, tuple[str, ...]]:
        """Every account that has agencies → its codes, sorted (one read for a listing)."""
        ...

    def set_agencies(self, name: str, codes: Sequence[str]) -> None:
        """Replace the agencies of account ``name`` with ``codes`` (already checked), at once."""
        ...


class PasswordHasher(Protocol):
    """A slow, salted password hash (argon2id in production)."""

    def hash(self, password: str) -> str: ...

    def verify(self, hashed: str, password: str) -> bool:
        """True when ``password`` matches; ``False`` (never an exception) otherwise."""
        ...

    def needs_rehash(self, hashed: str) -> bool: ...
