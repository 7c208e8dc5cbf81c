"""In-memory implementations of the hub's store ports, for fast service tests and demos.

Contract: behaves like the SQL store as far as the services can tell — a unit of work sees a
private copy of the committed state, :meth:`MemoryUnitOfWork.commit` publishes it at once,
leaving without a commit discards it, uniqueness constraints raise
:class:`hub.errors.Conflict`, :meth:`MemoryDeliveryRepository.save` is a compare-and-set (of
the changed columns, given the row as read). Units of work are serialised by one re-entrant
lock (like SQLite's single writer), so threads may share a :class:`MemoryStore`. Rows are
frozen values, so copying the dicts is a snapshot.

Also here: :class:`MemoryBlobStore`, :class:`ManualClock`, :class:`MemoryPeerHealthStore`,
:class:`RecordingPeerLink` and :class:`MemoryPeer` (another hub: inbox, tracker, directory), with
helpers named for test intent (``clock.advance(s)``, ``link.fail_next(n)``, ``link.sent``,
``peer.hold(data)``, ``peer.fail_next_ack()``).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import io
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO, Self

from hub.audit_chain import GENESIS, Checkpoint, SealedRow
from hub.edxml.model import MessageKind
from hub.errors import (
    Conflict,
    InternalError,
    PackageTooLarge,
    PeerError,
    PeerUnavailable,
    document_id_reused,
)
from hub.evidence import Batch, DocumentRecord, EvidenceEvent
from hub.ports import (
    AgencyRow,
    AuditRow,
    Buckets,
    DeliveryEvent,
    DeliveryGroup,
    DeliveryRow,
    DocumentRow,
    FetchEntry,
    InboundRow,
    InboxEntry,
    LogFilter,
    OperatorRow,
    OutboxRow,
    PackageRow,
    Peer,
    PeerHealth,
    RemoteDeliveryState,
    RemoteItem,
    SessionRow,
    SystemRow,
)


@dataclass
class _Tables:
    packages: dict[str, PackageRow] = field(default_factory=dict)
    documents: dict[str, DocumentRow] = field(default_factory=dict)
    deliveries: dict[str, DeliveryRow] = field(default_factory=dict)
    events: list[DeliveryEvent] = field(default_factory=list)
    systems: dict[str, SystemRow] = field(default_factory=dict)
    system_agencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    agencies: dict[str, AgencyRow] = field(default_factory=dict)
    outbox: dict[int, OutboxRow] = field(default_factory=dict)
    audit: list[AuditRow] = field(default_factory=list)
    inbound: dict[tuple[str, str], InboundRow] = field(default_factory=dict)
    pulls: dict[str, dt.datetime] = field(default_factory=dict)
    next_id: int = 1

    def snapshot(self) -> _Tables:
        return _Tables(
            **{f.name: copy.copy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        )

    def new_id(self) -> int:
        value = self.next_id
        self.next_id += 1
        return value


class MemoryStore:
    """The committed state shared by every :class:`MemoryUnitOfWork` made from it."""

    def __init__(self) -> None:
        self.tables = _Tables()
        self.lock = threading.RLock()
        self.commits = 0

    def unit_of_work(self) -> MemoryUnitOfWork:
        """A new unit of work (use as the services' ``uow_factory``)."""
        return MemoryUnitOfWork(self)


class _Repo:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def t(self) -> _Tables:
        return self._uow.tables


class MemoryPackageRepository(_Repo):
    def add(self, row: PackageRow) -> bool:
        if row.digest in self.t.packages:
            return False
        self.t.packages[row.digest] = row
        return True

    def get(self, digest: str) -> PackageRow | None:
        return self.t.packages.get(digest)


class MemoryDocumentRepository(_Repo):
    def add(self, row: DocumentRow, package: PackageRow | None = None) -> None:
        if package is not None:
            MemoryPackageRepository(self._uow).add(package)
        if row.id in self.t.documents or self.by_digest(row.sender_system, row.digest):
            raise Conflict(f"document {row.id} already stored", code="document.duplicate")
        if (
            row.business_type == 0
            and row.document_id
            and any(
                r.business_type == 0 for r in self.by_document_id(row.sender_code, row.document_id)
            )
        ):  # the SQL store's partial unique index (migration 0007_unique_new_docid)
            raise document_id_reused(row.document_id)
        self.t.documents[row.id] = row

    def get(self, doc_id: str) -> DocumentRow | None:
        return self.t.documents.get(doc_id)

    def by_digest(self, sender_system: str, digest: str) -> DocumentRow | None:
        for row in self.t.documents.values():
            if row.sender_system == sender_system and row.digest == digest:
                return row
        return None

    def by_document_id(self, sender_code: str, document_id: str) -> Sequence[DocumentRow]:
        rows = [
            r
            for r in self.t.documents.values()
            if r.sender_code == sender_code and r.document_id == document_id
        ]
        return sorted(rows, key=lambda r: (r.received_at, r.id))

    def sent_by(
        self, sender_system: str, *, doc_id: str | None = None, limit: int = 500
    ) -> Sequence[DocumentRow]:
        rows = [
            r
            for r in self.t.documents.values()
            if r.sender_system == sender_system and (doc_id is None or r.id == doc_id)
        ]
        return sorted(rows, key=lambda r: (r.received_at, r.id), reverse=True)[:limit]

    def count_since(self, at: dt.datetime) -> int:
        return sum(1 for r in self.t.documents.values() if r.received_at >= at)

    def search(self, term: str, *, limit: int = 50) -> Sequence[DocumentRow]:
        rows = [
            r
            for r in self.t.documents.values()
            if term in (r.id, r.document_id, r.sender_code, r.sender_system)
        ]
        return sorted(rows, key=lambda r: (r.received_at, r.id), reverse=True)[:limit]

    def related_to(self, doc_id: str, *, limit: int = 500) -> Sequence[DocumentRow]:
        rows = [r for r in self.t.documents.values() if r.related_doc_id == doc_id]
        return sorted(rows, key=lambda r: (r.received_at, r.id))[:limit]


class MemoryDeliveryRepository(_Repo):
    def add(self, row: DeliveryRow) -> None:
        if row.id in self.t.deliveries or any(
            d.doc_id == row.doc_id and d.recipient_code == row.recipient_code
            for d in self.t.deliveries.values()
        ):
            raise Conflict(f"delivery {row.id} already stored", code="delivery.duplicate")
        self.t.deliveries[row.id] = row

    def add_many(self, rows: Sequence[DeliveryRow], events: Sequence[DeliveryEvent] = ()) -> None:
        keys = [(r.doc_id, r.recipient_code) for r in rows]
        stored = {(d.doc_id, d.recipient_code) for d in self.t.deliveries.values()}
        if len(set(keys)) != len(keys) or stored.intersection(keys):
            raise Conflict("delivery already stored", code="delivery.duplicate")
        for row in rows:
            self.add(row)
        self.add_events(events)

    def get(self, delivery_id: str) -> DeliveryRow | None:
        return self.t.deliveries.get(delivery_id)

    def with_document(self, delivery_id: str) -> tuple[DeliveryRow, DocumentRow] | None:
        row = self.t.deliveries.get(delivery_id)
        return None if row is None else (row, self.t.documents[row.doc_id])

    def for_fetch(self, delivery_id: str) -> FetchEntry | None:
        row = self.t.deliveries.get(delivery_id)
        if row is None:
            return None
        doc = self.t.documents[row.doc_id]
        package = self.t.packages.get(doc.digest)
        body = package.body if package is not None else None
        return FetchEntry(row, doc.kind, doc.digest, doc.received_at, body)

    def get_many(self, delivery_ids: Sequence[str]) -> Mapping[str, DeliveryRow]:
        return {i: self.t.deliveries[i] for i in delivery_ids if i in self.t.deliveries}

    def save_with_event(
        self,
        row: DeliveryRow,
        *,
        read: DeliveryRow,
        event: DeliveryEvent,
        audit: AuditRow | None = None,
    ) -> bool:
        if not self.save(row, read=read):
            return False
        self.add_event(event)
        if audit is not None:
            self._uow.audit.append(audit)
        return True

    def save_many(self, steps: Sequence[tuple[DeliveryRow, DeliveryRow]]) -> bool:
        # Like the SQL store: stops at the first lost compare-and-set, the earlier ones written
        # (the caller's unit of work rolls them back).
        return all(self.save(row, read=read) for row, read in steps)

    def save(
        self,
        row: DeliveryRow,
        *,
        expected_state: str | None = None,
        read: DeliveryRow | None = None,
    ) -> bool:
        current = self.t.deliveries.get(row.id)
        if read is None:
            if expected_state is None:
                raise InternalError("save needs the row as read or the expected state")
            if current is None or current.state != expected_state:
                return False
            self.t.deliveries[row.id] = row
            return True
        # Like the SQL store: only the columns that changed, each guarded by its read value.
        if current is None or current.state != read.state:
            return False
        changed = {
            f.name: getattr(row, f.name)
            for f in dataclasses.fields(row)
            if getattr(row, f.name) != getattr(read, f.name)
        }
        if any(getattr(current, n) != getattr(read, n) for n in changed if n != "updated_at"):
            return False
        self.t.deliveries[row.id] = dataclasses.replace(current, **changed)
        return True

    def for_document(self, doc_id: str) -> Sequence[DeliveryRow]:
        rows = [d for d in self.t.deliveries.values() if d.doc_id == doc_id]
        return sorted(rows, key=lambda d: (d.created_at, d.id))

    def _inbox(
        self, system_id: str, kind: MessageKind, states: Sequence[str]
    ) -> list[tuple[DeliveryRow, DocumentRow]]:
        out = []
        for d in self.t.deliveries.values():
            if d.route != "local" or d.system_id != system_id or d.state not in states:
                continue
            doc = self.t.documents[d.doc_id]
            if doc.kind == kind:
                out.append((d, doc))
        return sorted(out, key=lambda p: (p[0].created_at, p[0].id))

    def inbox(
        self, system_id: str, kind: MessageKind, states: Sequence[str], *, limit: int = 500
    ) -> Sequence[InboxEntry]:
        return [
            InboxEntry.of(d, doc)
            for d, doc in self._inbox(system_id, kind, states)[: max(limit, 0)]
        ]

    def count_inbox(self, system_id: str, kind: MessageKind, states: Sequence[str]) -> int:
        return len(self._inbox(system_id, kind, states))

    def in_state(self, state: str, *, limit: int = 100) -> Sequence[DeliveryRow]:
        rows = [d for d in self.t.deliveries.values() if d.state == state]
        return sorted(rows, key=lambda d: (d.updated_at, d.id))[:limit]

    def summary(self) -> Sequence[DeliveryGroup]:
        groups: dict[tuple[str, str, str | None, str | None], list[DeliveryRow]] = {}
        for d in self.t.deliveries.values():
            groups.setdefault((d.state, d.route, d.system_id, d.peer_name), []).append(d)
        return [
            DeliveryGroup(
                *key,
                count=len(rows),
                oldest_created_at=min(r.created_at for r in rows),
                oldest_updated_at=min(r.updated_at for r in rows),
            )
            for key, rows in groups.items()
        ]

    def add_event(self, event: DeliveryEvent) -> None:
        self.t.events.append(dataclasses.replace(event, id=self.t.new_id()))

    def add_events(self, events: Iterable[DeliveryEvent]) -> None:
        for event in events:
            self.add_event(event)

    def tracked(
        self,
        since: dt.datetime,
        *,
        after: tuple[dt.datetime, str] | None = None,
        limit: int = 100,
    ) -> Sequence[DeliveryRow]:
        rows = [
            d
            for d in self.t.deliveries.values()
            if d.state == "forwarded"
            and self.t.documents[d.doc_id].kind is MessageKind.EDOC
            and d.remote_id is not None
            and d.remote_status != "done"
            and d.updated_at >= since
            and (after is None or (d.updated_at, d.id) > after)
        ]
        return sorted(rows, key=lambda d: (d.updated_at, d.id))[:limit]

    def log(
        self,
        where: LogFilter,
        *,
        before: tuple[dt.datetime, str] | None = None,
        limit: int = 100,
    ) -> Sequence[tuple[DeliveryRow, DocumentRow]]:
        out = [
            (d, self.t.documents[d.doc_id])
            for d in self.t.deliveries.values()
            if (before is None or (d.created_at, d.id) < before)
            and _logged(where, d, self.t.documents[d.doc_id])
        ]
        out.sort(key=lambda p: (p[0].created_at, p[0].id), reverse=True)
        return out[: max(0, limit)]

    def events(self, delivery_id: str) -> Sequence[DeliveryEvent]:
        return [e for e in self.t.events if e.delivery_id == delivery_id]


def _logged(where: LogFilter, d: DeliveryRow, doc: DocumentRow) -> bool:
    """The SQL store's message-log filter (adapters/store/message_log.py), in Python."""
    if where.code:
        number, notation = where.code_parts()
        if notation is None and number is not None:
            if number not in (doc.code_number, doc.code_notation):
                return False
        elif (number is not None and number != doc.code_number) or (
            notation is not None and notation != doc.code_notation
        ):
            return False
    return (
        (not where.document or where.document in (doc.document_id, doc.id))
        and (not where.sender or where.sender in (doc.sender_code, doc.sender_system))
        and (not where.recipient or where.recipient in (d.recipient_code, d.resolved_code))
        and (not where.state or d.state == where.state)
        and (not where.status or d.business_status == where.status)
        and (where.since is None or d.created_at >= where.since)
        and (where.until is None or d.created_at < where.until)
    )


class MemorySystemRepository(_Repo):
    def add(self, row: SystemRow) -> None:
        if row.id in self.t.systems:
            raise Conflict(f"system {row.id} already exists", code="system.duplicate")
        self.t.systems[row.id] = row

    def get(self, system_id: str) -> SystemRow | None:
        return self.t.systems.get(system_id)

    def list(self) -> Sequence[SystemRow]:
        return [self.t.systems[k] for k in sorted(self.t.systems)]

    def update(self, row: SystemRow) -> None:
        self.t.systems[row.id] = row

    def agencies(self, system_id: str) -> tuple[str, ...]:
        return self.t.system_agencies.get(system_id, ())

    def set_agencies(self, system_id: str, codes: Sequence[str]) -> None:
        self.t.system_agencies[system_id] = tuple(sorted(set(codes)))

    def last_activity(self) -> Mapping[str, dt.datetime]:
        seen: dict[str, dt.datetime] = {}
        moments = [(r.sender_system, r.received_at) for r in self.t.documents.values()]
        moments += [
            (d.system_id, d.fetched_at)
            for d in self.t.deliveries.values()
            if d.system_id is not None and d.fetched_at is not None
        ]
        for system_id, at in moments:
            if system_id not in seen or at > seen[system_id]:
                seen[system_id] = at
        return seen

    def hosting(self) -> Mapping[str, str]:
        return {code: sid for sid, codes in self.t.system_agencies.items() for code in codes}


class MemoryAgencyRepository(_Repo):
    def upsert(self, row: AgencyRow) -> None:
        self.t.agencies[row.code] = row

    def upsert_many(self, rows: Sequence[AgencyRow]) -> None:
        for row in rows:
            self.upsert(row)

    def get(self, code: str) -> AgencyRow | None:
        return self.t.agencies.get(code)

    def list(self, *, include_deleted: bool = False) -> Sequence[AgencyRow]:
        return [
            self.t.agencies[k]
            for k in sorted(self.t.agencies)
            if include_deleted or not self.t.agencies[k].deleted
        ]


class MemoryOutboxRepository(_Repo):
    def add(self, queue: str, body: bytes, created_at: dt.datetime) -> int:
        oid = self.t.new_id()
        self.t.outbox[oid] = OutboxRow(oid, queue, body, created_at)
        return oid

    def pending(self, limit: int = 500) -> Sequence[OutboxRow]:
        return [self.t.outbox[k] for k in sorted(self.t.outbox)][:limit]

    def delete(self, ids: Sequence[int]) -> None:
        for oid in ids:
            self.t.outbox.pop(oid, None)


class MemoryAuditRepository(_Repo):
    def append(self, row: AuditRow) -> None:
        self.t.audit.append(dataclasses.replace(row, id=self.t.new_id()))

    def append_many(self, rows: Sequence[AuditRow]) -> None:
        for row in rows:
            self.append(row)

    def recent(
        self,
        *,
        subject: str | None = None,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
    ) -> Sequence[AuditRow]:
        rows = [
            r
            for r in self.t.audit
            if (subject is None or r.subject == subject)
            and (not actor or r.actor.startswith(actor))
            and (not action or r.action.startswith(action))
        ]
        return list(reversed(rows))[:limit]


def _series(moments: Iterable[dt.datetime], window: Buckets) -> list[int]:
    counts = [0] * window.count
    for at in moments:
        index = window.index(at)
        if index is not None:
            counts[index] += 1
    return counts


class MemoryActivityRepository(_Repo):
    def received(self, window: Buckets) -> list[int]:
        return _series((r.received_at for r in self.t.documents.values()), window)

    def transitions(self, to_states: Sequence[str], window: Buckets) -> list[int]:
        moved = (
            e.at for e in self.t.events if e.to_state in to_states and e.from_state != e.to_state
        )
        return _series(moved, window)

    def refusals(self, actions: Sequence[str], window: Buckets) -> list[int]:
        refused = (r.at for r in self.t.audit if r.action in actions and r.outcome != "ok")
        return _series(refused, window)

    def system_states(self, system_id: str) -> Mapping[str, int]:
        out: dict[str, int] = {}
        for d in self.t.deliveries.values():
            if d.system_id == system_id:
                out[d.state] = out.get(d.state, 0) + 1
        return out

    def system_times(self, system_id: str) -> tuple[dt.datetime | None, dt.datetime | None]:
        mine = [d for d in self.t.deliveries.values() if d.system_id == system_id]
        waiting = [d.created_at for d in mine if d.state == "available"]
        fetched = [d.fetched_at for d in mine if d.fetched_at is not None]
        return (min(waiting) if waiting else None, max(fetched) if fetched else None)

    def sent_count(self, system_id: str) -> int:
        return sum(1 for r in self.t.documents.values() if r.sender_system == system_id)

    def recent_deliveries(
        self, *, system_id: str | None = None, recipient_code: str | None = None, limit: int = 50
    ) -> Sequence[DeliveryRow]:
        if system_id is None and recipient_code is None:
            raise ValueError("recent_deliveries needs a system_id or a recipient_code")
        if system_id is not None:
            rows = [d for d in self.t.deliveries.values() if d.system_id == system_id]
        else:
            codes = {recipient_code}
            rows = [
                d
                for d in self.t.deliveries.values()
                if d.recipient_code in codes or d.resolved_code in codes
            ]
        return sorted(rows, key=lambda d: (d.created_at, d.id), reverse=True)[:limit]

    def record_pull(self, system_id: str, at: dt.datetime) -> None:
        if system_id in self.t.systems and at > self.t.pulls.get(system_id, at - _TICK):
            self.t.pulls[system_id] = at

    def last_pulls(self) -> Mapping[str, dt.datetime]:
        return dict(self.t.pulls)


_TICK = dt.timedelta(microseconds=1)


class MemoryInboundRepository(_Repo):
    def add(self, row: InboundRow) -> None:
        key = (row.peer, row.remote_id)
        if key in self.t.inbound:
            raise Conflict(f"inbound item {key} already recorded", code="inbound.duplicate")
        self.t.inbound[key] = row

    def get(self, peer: str, remote_id: str) -> InboundRow | None:
        return self.t.inbound.get((peer, remote_id))

    def mark_acked(self, peer: str, remote_id: str, at: dt.datetime) -> None:
        row = self.t.inbound.get((peer, remote_id))
        if row is not None:
            self.t.inbound[(peer, remote_id)] = dataclasses.replace(row, acked_at=at)

    def recent(
        self, *, peer: str | None = None, outcome: str | None = None, limit: int = 100
    ) -> Sequence[InboundRow]:
        rows = [
            r
            for r in self.t.inbound.values()
            if (peer is None or r.peer == peer) and (outcome is None or r.outcome == outcome)
        ]
        return sorted(rows, key=lambda r: (r.received_at, r.remote_id), reverse=True)[:limit]

    def for_document(self, doc_id: str) -> Sequence[InboundRow]:
        rows = [r for r in self.t.inbound.values() if r.doc_id == doc_id]
        return sorted(rows, key=lambda r: (r.received_at, r.peer, r.remote_id))


class MemoryUnitOfWork:
    """A transaction over a :class:`MemoryStore` (see the module docstring)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.tables = _Tables()
        self._open = False
        self.packages = MemoryPackageRepository(self)
        self.documents = MemoryDocumentRepository(self)
        self.deliveries = MemoryDeliveryRepository(self)
        self.systems = MemorySystemRepository(self)
        self.agencies = MemoryAgencyRepository(self)
        self.outbox = MemoryOutboxRepository(self)
        self.audit = MemoryAuditRepository(self)
        self.inbound = MemoryInboundRepository(self)
        self.activity = MemoryActivityRepository(self)

    def __enter__(self) -> Self:
        self._store.lock.acquire()
        self.tables = self._store.tables.snapshot()
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()
        self._store.lock.release()

    def commit(self) -> None:
        if not self._open:
            raise InternalError("commit outside an open unit of work", code="store.closed")
        self._store.tables = self.tables
        self._store.commits += 1
        self.tables = self.tables.snapshot()

    def rollback(self) -> None:
        self.tables = self._store.tables.snapshot()


class MemoryBlobStore:
    """Blobs in a dict, keyed by SHA-256 hex."""

    inline_max_bytes = 0  # package rows live in another object: every body is put here

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            self.blobs.setdefault(digest, bytes(data))
        return digest

    def put_stream(self, source: BinaryIO, *, max_size: int | None = None) -> tuple[str, int]:
        data = source.read()
        if max_size is not None and len(data) > max_size:
            raise PackageTooLarge(
                f"body larger than {max_size} bytes", details={"max_size": max_size}
            )
        return self.put(data), len(data)

    def size(self, digest: str) -> int:
        return len(self.get(digest))

    def get(self, digest: str) -> bytes:
        try:
            return self.blobs[digest]
        except KeyError:
            raise InternalError(f"blob {digest} is missing", code="blob.missing") from None

    def open(self, digest: str) -> BinaryIO:
        return io.BytesIO(self.get(digest))

    def exists(self, digest: str) -> bool:
        return digest in self.blobs


class ManualClock:
    """A clock that moves only when told to (``advance``)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, seconds: float) -> dt.datetime:
        self._now += dt.timedelta(seconds=seconds)
        return self._now


class MemoryPeerHealthStore:
    """:class:`hub.ports.PeerHealthStore` in a dict (``rows[name]``), thread-safe."""

    _SYNC = ("sync_at", "sync_outcome", "sync_count")

    def __init__(self) -> None:
        self.rows: dict[str, PeerHealth] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def save_link(self, health: PeerHealth) -> None:
        with self._lock:
            old = self.rows.get(health.name)
            keep = {k: getattr(old, k) for k in self._SYNC} if old else {}
            self.rows[health.name] = dataclasses.replace(health, **keep)
            self.writes += 1

    def save_sync(
        self, name: str, *, at: dt.datetime, outcome: str, count: int | None = None
    ) -> None:
        with self._lock:
            old = self.rows.get(name) or PeerHealth(name=name)
            count = count if count is not None else old.sync_count
            self.rows[name] = dataclasses.replace(
                old, sync_at=at, sync_outcome=outcome, sync_count=count
            )
            self.writes += 1

    def all(self) -> Sequence[PeerHealth]:
        with self._lock:
            return [self.rows[k] for k in sorted(self.rows)]


class MemoryPeerDirectory:
    """A :class:`hub.ports.PeerDirectory` answering what the test told it (``answer(rows)``,
    ``fail_with(error)``), recording registrations (``registered``, ``deleted``)."""

    def __init__(self, rows: Sequence[AgencyRow] = ()) -> None:
        self.rows: list[AgencyRow] = list(rows)
        self.error: Exception | None = None
        self.registered: list[AgencyRow] = []
        self.deleted: list[str] = []
        self.calls = 0

    def answer(self, rows: Sequence[AgencyRow]) -> None:
        self.rows, self.error = list(rows), None

    def fail_with(self, error: Exception) -> None:
        self.error = error

    def agencies(self) -> Sequence[AgencyRow]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return list(self.rows)

    def register(self, agency: AgencyRow) -> None:
        self.registered.append(agency)

    def delete(self, code: str) -> None:
        self.deleted.append(code)


@dataclass(frozen=True, slots=True)
class SentPackage:
    """One push a :class:`RecordingPeerLink` accepted."""

    remote_id: str
    data: bytes
    from_code: str
    to_codes: tuple[str, ...]
    kind: MessageKind


class RecordingPeerLink:
    """A :class:`hub.ports.PeerLink` that records what it accepted and fails on demand."""

    def __init__(self, name: str = "peer") -> None:
        self.name = name
        self.sent: list[SentPackage] = []
        self.calls = 0
        self._failures = 0
        self._failure_cost: tuple[ManualClock, float] | None = None

    def fail_next(self, count: int = 1) -> None:
        """Make the next ``count`` sends raise :class:`PeerUnavailable`."""
        self._failures = count

    def failures_take(self, clock: ManualClock, seconds: float) -> None:
        """Each failing send moves ``clock`` on by ``seconds`` (an outage lasting hours)."""
        self._failure_cost = (clock, seconds)

    def send(
        self, data: bytes, *, from_code: str, to_codes: Sequence[str], kind: MessageKind
    ) -> str:
        self.calls += 1
        if self._failures > 0:
            self._failures -= 1
            if self._failure_cost is not None:
                self._failure_cost[0].advance(self._failure_cost[1])
            raise PeerUnavailable(f"{self.name} unavailable (test)")
        remote_id = f"{self.name}-{len(self.sent) + 1}"
        self.sent.append(SentPackage(remote_id, data, from_code, tuple(to_codes), kind))
        return remote_id


class MemoryLeases:
    """:class:`hub.ports.Leases` in a dict (one process; tests of scheduled work)."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, dt.datetime]] = {}
        self._lock = threading.Lock()

    def acquire(self, name: str, holder: str, ttl_s: float, now: dt.datetime) -> bool:
        with self._lock:
            current = self.held.get(name)
            if current is not None and current[0] != holder and current[1] >= now:
                return False
            self.held[name] = (holder, now + dt.timedelta(seconds=ttl_s))
            return True

    def release(self, name: str, holder: str) -> None:
        with self._lock:
            if self.held.get(name, ("", None))[0] == holder:
                del self.held[name]


class MemoryAuditChain:
    """:class:`hub.audit_chain.AuditChainStore` over a :class:`MemoryStore`'s audit rows."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.links: dict[int, tuple[int, str, str]] = {}  # row id → (seq, prev, hash)
        self.saved_checkpoints: list[Checkpoint] = []

    def head(self) -> tuple[int, str]:
        with self._store.lock:
            if not self.links:
                return 0, GENESIS
            seq, _, digest = max(self.links.values())
            return seq, digest

    def unsealed(self, limit: int) -> Sequence[AuditRow]:
        with self._store.lock:
            rows = [r for r in self._store.tables.audit if r.id not in self.links]
        return sorted(rows, key=lambda r: r.id or 0)[:limit]

    def seal(self, sealed: Sequence[SealedRow[AuditRow]], checkpoint: Checkpoint | None) -> None:
        with self._store.lock:
            taken = {seq for seq, _, _ in self.links.values()}
            if any(s.row.id in self.links or s.seq in taken for s in sealed):
                raise Conflict("another sealer linked these audit rows first", code="audit.raced")
            for s in sealed:
                assert s.row.id is not None
                self.links[s.row.id] = (s.seq, s.prev_hash, s.hash)
            if checkpoint is not None:
                self.saved_checkpoints.append(checkpoint)

    def chain(self) -> Iterator[SealedRow[AuditRow]]:
        with self._store.lock:
            rows = {r.id: r for r in self._store.tables.audit}
            links = sorted((seq, rid, prev, h) for rid, (seq, prev, h) in self.links.items())
        for seq, rid, prev, digest in links:
            if rid in rows:
                yield SealedRow(rows[rid], seq, prev, digest)

    def checkpoints(self) -> Sequence[Checkpoint]:
        return list(self.saved_checkpoints)


class MemoryPeer:
    """Another hub in memory: :class:`hub.ports.PeerInbox`, :class:`~hub.ports.PeerTracker` and
    :class:`~hub.ports.PeerDirectory` at once, its push side a :class:`RecordingPeerLink`.

    ``hold`` puts a package in the inbox for this hub. An item acknowledged ``done`` leaves the
    listing; one acknowledged ``fail`` stays listed when ``relist_failed`` (as a lienthong hub
    serving the axis does: a failed copy goes back to the inbox for another try).
    """

    def __init__(self, name: str = "national", *, relist_failed: bool = True) -> None:
        self.name = name
        self.link = RecordingPeerLink(name)
        self.relist_failed = relist_failed
        self.held: dict[str, tuple[RemoteItem, bytes]] = {}
        self.fetches: list[str] = []
        self.acks: list[tuple[str, bool, str | None]] = []
        self.states: dict[str, list[RemoteDeliveryState]] = {}
        self.directory_rows: dict[str, AgencyRow] = {}
        self.deleted: list[str] = []
        self._ack_failures = 0
        self._withheld: set[str] = set()

    def hold(self, data: bytes, kind: MessageKind = MessageKind.EDOC) -> str:
        """Put ``data`` in the inbox; returns its remote id."""
        remote_id = f"{self.name}-in-{len(self.held) + 1}"
        self.held[remote_id] = (RemoteItem(remote_id, kind), data)
        return remote_id

    def withhold(self, remote_id: str) -> None:
        """Make fetching ``remote_id`` fail as a peer's refusal (:class:`PeerError`), e.g. an
        item withdrawn between listing and fetching."""
        self._withheld.add(remote_id)

    def fail_next_ack(self, count: int = 1) -> None:
        """Make the next ``count`` acknowledgements raise :class:`PeerUnavailable` (the
        connection dropped before the peer heard it)."""
        self._ack_failures = count

    def as_peer(self) -> Peer:
        return Peer(self.name, "memory", self.link, self, self, self)

    # --- inbox
    def pending(self, kind: MessageKind, *, limit: int = 100) -> Sequence[RemoteItem]:
        done = {rid for rid, ok, _ in self.acks if ok or not self.relist_failed}
        return [i for i, _ in self.held.values() if i.kind is kind and i.remote_id not in done][
            :limit
        ]

    def fetch(self, item: RemoteItem) -> bytes:
        self.fetches.append(item.remote_id)
        if item.remote_id in self._withheld:
            raise PeerError(f"{self.name}: no item {item.remote_id} (test)", code="vxp.fail")
        return self.held[item.remote_id][1]

    def acknowledge(self, item: RemoteItem, *, accepted: bool, reason: str | None = None) -> None:
        if self._ack_failures > 0:
            self._ack_failures -= 1
            raise PeerUnavailable(f"{self.name} unavailable (test)")
        self.acks.append((item.remote_id, accepted, reason))

    # --- tracker
    def delivery_states(self, remote_id: str) -> Sequence[RemoteDeliveryState]:
        return list(self.states.get(remote_id, ()))

    # --- directory
    def agencies(self) -> Sequence[AgencyRow]:
        return list(self.directory_rows.values())

    def register(self, agency: AgencyRow) -> None:
        self.directory_rows[agency.code] = agency

    def delete(self, code: str) -> None:
        self.deleted.append(code)
        self.directory_rows.pop(code, None)


class MemoryEvidenceChain:
    """:class:`hub.evidence.EvidenceStore` over a :class:`MemoryStore`'s delivery events."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.links: dict[int, tuple[int, str, str]] = {}  # event id → (seq, prev, hash)
        self.saved_batches: list[Batch] = []

    def _joined(self, event: DeliveryEvent) -> EvidenceEvent:
        t = self._store.tables
        delivery = t.deliveries[event.delivery_id]
        doc = t.documents[delivery.doc_id]
        assert event.id is not None
        return EvidenceEvent(
            event.id, event.at, event.delivery_id, doc.id, doc.document_id, doc.digest,
            doc.sender_code, delivery.recipient_code, event.from_state, event.to_state,
            event.reason,
        )  # fmt: skip

    def head(self) -> tuple[int, str]:
        with self._store.lock:
            if not self.links:
                return 0, GENESIS
            seq, _, digest = max(self.links.values())
            return seq, digest

    def unsealed(self, limit: int) -> Sequence[EvidenceEvent]:
        with self._store.lock:
            rows = [e for e in self._store.tables.events if e.id not in self.links]
            rows.sort(key=lambda e: e.id or 0)
            return [self._joined(e) for e in rows[:limit]]

    def seal(self, sealed: Sequence[SealedRow[EvidenceEvent]]) -> None:
        with self._store.lock:
            taken = {seq for seq, _, _ in self.links.values()}
            if any(s.row.id in self.links or s.seq in taken for s in sealed):
                raise Conflict("another sealer linked these events first", code="evidence.raced")
            for s in sealed:
                assert s.row.id is not None
                self.links[s.row.id] = (s.seq, s.prev_hash, s.hash)

    def add_batch(self, batch: Batch) -> None:
        with self._store.lock:
            if any(b.to_seq == batch.to_seq for b in self.saved_batches):
                raise Conflict("this head is timestamped already", code="evidence.raced")
            self.saved_batches.append(dataclasses.replace(batch, id=len(self.saved_batches) + 1))

    def last_batch(self) -> Batch | None:
        return self.saved_batches[-1] if self.saved_batches else None

    def batches(self) -> Sequence[Batch]:
        return sorted(self.saved_batches, key=lambda b: b.to_seq)

    def chain(
        self, from_seq: int = 1, to_seq: int | None = None
    ) -> Iterator[SealedRow[EvidenceEvent]]:
        with self._store.lock:
            rows = {e.id: e for e in self._store.tables.events}
            links = sorted((seq, rid, prev, h) for rid, (seq, prev, h) in self.links.items())
            out = [
                SealedRow(self._joined(rows[rid]), seq, prev, digest)
                for seq, rid, prev, digest in links
                if rid in rows and seq >= from_seq and (to_seq is None or seq <= to_seq)
            ]
        yield from out

    def document(self, ref: str) -> DocumentRecord | None:
        with self._store.lock:
            docs = [
                d for d in self._store.tables.documents.values() if ref in (d.id, d.document_id)
            ]
        if not docs:
            return None
        d = max(docs, key=lambda d: d.received_at)
        return DocumentRecord(d.id, d.document_id, d.digest, d.sender_code, d.received_at)

    def events_of(self, doc_id: str) -> Sequence[SealedRow[EvidenceEvent] | EvidenceEvent]:
        with self._store.lock:
            t = self._store.tables
            events = sorted(
                (e for e in t.events if t.deliveries[e.delivery_id].doc_id == doc_id),
                key=lambda e: e.id or 0,
            )
            out: list[SealedRow[EvidenceEvent] | EvidenceEvent] = []
            for e in events:
                joined = self._joined(e)
                link = self.links.get(joined.id or 0)
                out.append(joined if link is None else SealedRow(joined, *link))
            return out


class MemoryOperatorStore:
    """:class:`hub.ports.OperatorStore` in dicts (``accounts``, ``sessions``, ``bound``
    agencies), thread-safe."""

    def __init__(self) -> None:
        self.accounts: dict[str, OperatorRow] = {}
        self.sessions: dict[str, SessionRow] = {}
        self.failed: list[tuple[str, dt.datetime]] = []
        self.bound: dict[str, set[str]] = {}  # account → the agency codes it acts for
        self._lock = threading.Lock()

    def add(self, row: OperatorRow) -> None:
        with self._lock:
            if row.name in self.accounts:
                raise Conflict(f"account {row.name!r} exists", code="accounts.exists")
            self.accounts[row.name] = row

    def get(self, name: str) -> OperatorRow | None:
        with self._lock:
            return self.accounts.get(name)

    def all(self) -> Sequence[OperatorRow]:
        with self._lock:
            return [self.accounts[k] for k in sorted(self.accounts)]

    def save(self, row: OperatorRow) -> None:
        with self._lock:
            old = self.accounts.get(row.name)
            if old is not None:
                self.accounts[row.name] = dataclasses.replace(row, created_at=old.created_at)

    def open_session(self, row: SessionRow) -> None:
        with self._lock:
            self.sessions[row.key] = row

    def session(self, key: str) -> SessionRow | None:
        with self._lock:
            return self.sessions.get(key)

    def touch_session(self, key: str, at: dt.datetime) -> None:
        with self._lock:
            if key in self.sessions:
                self.sessions[key] = dataclasses.replace(self.sessions[key], seen_at=at)

    def end_session(self, key: str) -> None:
        with self._lock:
            self.sessions.pop(key, None)

    def end_sessions(self, operator: str) -> int:
        with self._lock:
            gone = [k for k, s in self.sessions.items() if s.operator == operator]
            for k in gone:
                del self.sessions[k]
            return len(gone)

    def record_failure(self, key: str, at: dt.datetime) -> None:
        with self._lock:
            self.failed.append((key, at))

    def failures(self, key: str, since: dt.datetime) -> Sequence[dt.datetime]:
        with self._lock:
            return sorted(at for k, at in self.failed if k == key and at >= since)

    def clear_failures(self, key: str) -> None:
        with self._lock:
            self.failed = [(k, at) for k, at in self.failed if k != key]

    def agencies(self, name: str) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self.bound.get(name, ())))

    def all_agencies(self) -> Mapping[str, tuple[str, ...]]:
        with self._lock:
            return {n: tuple(sorted(codes)) for n, codes in sorted(self.bound.items()) if codes}

    def set_agencies(self, name: str, codes: Sequence[str]) -> None:
        with self._lock:
            if name in self.accounts:
                self.bound[name] = set(codes)
