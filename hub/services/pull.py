"""The receiving side and the views: inbox, fetch, acknowledgement, sent list, agencies, timeline.

Contract: every operation takes the *authenticated* system and sees only what concerns it —
a delivery that is not hosted by the caller is :class:`NotFound` (not :class:`Forbidden`: the
caller must not learn that it exists). State changes go through :func:`hub.delivery.advance`
in the unit of work that records them: a fetch and an acknowledgement in a one-step unit
(:meth:`hub.services.base.Deps.step`: a read, then one compare-and-set carrying its event and
audit row; on PostgreSQL two round trips and no transaction). Repeating an acknowledgement is a
no-op (VXP clients retry ``updateStatus`` after timeouts) — ``done`` and ``processing`` as well
as ``fail``, which counts one attempt per hand-out however often it is reported.

Fetch hands out the stored bytes with this hub's ``TraceHeader`` appended (QCVN 102 §2.3: each
relay adds its hop). The hop's time is the moment the hub accepted the package, not the moment
of the fetch, so a re-fetch gives byte-identical output (and a peer's digest-based idempotency
holds for forwarded copies too).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import BinaryIO, TypeVar

from hub.agency.codes import lookup_key
from hub.agency.registry import Registry
from hub.delivery import INBOX, Event, State, advance, describe
from hub.edxml.model import MessageKind
from hub.edxml.source import CHUNK
from hub.edxml.trace import append_trace, append_trace_stream
from hub.errors import (
    Conflict,
    EdxmlError,
    Forbidden,
    HubError,
    IllegalTransition,
    NotFound,
)
from hub.ports import (
    AgencyRow,
    AuditRow,
    DeliveryRow,
    DocumentRow,
    FetchEntry,
    InboxEntry,
    UnitOfWork,
)
from hub.services.base import Deps, HubConfig, audit, audit_row
from hub.services.contracts import (
    AgencyRecord,
    FetchedPackage,
    FetchedStream,
    InboxItem,
    SentRow,
    TimelineEntry,
    TransportStatus,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_INBOX_STATES = tuple(s.value for s in INBOX)
#: How often a system's inbox listing is written down (``systems.last_pull_at``).
PULL_RECORD_EVERY = dt.timedelta(seconds=60)
#: The reason a recipient's ``fail`` records (``last_error``); also how a repeat is recognised.
_FAIL_REASON = "hệ thống nhận báo lỗi (fail)"


def _chunks(reader: BinaryIO) -> Generator[bytes, None, None]:
    """``reader`` chunk by chunk to its end (where a blob store checks the digest), closed
    when done or when the consumer stops early."""
    with reader:
        while chunk := reader.read(CHUNK):
            yield chunk


def traced(data: bytes, organ_id: str, doc: DocumentRow | FetchEntry) -> bytes:
    """``data`` with this hub's hop appended (at the time of acceptance, see module docstring).

    A status message whose header offers no insertion point is handed out as stored: the
    trace of a status is optional (QCVN 102 §5), its content is not.
    """
    try:
        return append_trace(data, organ_id, doc.received_at)
    except EdxmlError:
        if doc.kind is MessageKind.STATUS:
            return data
        raise


class Pull:
    """Inbox, fetch, acknowledgement, sent list, agencies and timeline."""

    def __init__(self, deps: Deps, config: HubConfig) -> None:
        self._deps = deps
        self._config = config
        self._pulls: dict[str, dt.datetime] = {}  # last pull recorded per system (this process)
        self._pulls_lock = threading.Lock()

    # ------------------------------------------------------------------------------ inbox

    def list_received(
        self, system_id: str, kind: MessageKind, *, limit: int | None = None
    ) -> Sequence[InboxItem]:
        """The oldest ``limit`` (default ``HubConfig.inbox_page``) items of the inbox: a client
        takes them and polls again; :meth:`count_received` stays exact."""
        if limit is None:
            limit = self._config.inbox_page
        with self._deps.read() as uow:
            rows = uow.deliveries.inbox(system_id, kind, _INBOX_STATES, limit=limit)
        items = [_inbox_item(e, kind) for e in rows]
        self._record_pull(system_id)
        return items

    def _record_pull(self, system_id: str) -> None:
        """Remember the listing for the console's "last pull" (``systems.last_pull_at``).

        A client polls every few seconds: the row is written at most once per
        :data:`PULL_RECORD_EVERY` per system and process, in its own short transaction after
        the read, and a failure to write it never fails the pull (the figure is advisory)."""
        now = self._deps.clock.now()
        with self._pulls_lock:
            last = self._pulls.get(system_id)
            if last is not None and now - last < PULL_RECORD_EVERY:
                return
            self._pulls[system_id] = now
        try:
            with self._deps.uow() as uow:
                uow.activity.record_pull(system_id, now)
                uow.commit()
        except HubError as exc:
            log.warning("last pull of %s not recorded: %s", system_id, exc.code)

    def count_received(self, system_id: str, kind: MessageKind) -> int:
        with self._deps.read() as uow:
            count = uow.deliveries.count_inbox(system_id, kind, _INBOX_STATES)
        self._record_pull(system_id)
        return count

    def fetch(self, system_id: str, delivery_id: str) -> FetchedPackage:
        data, entry = self._take(system_id, delivery_id, self._traced)
        return FetchedPackage(delivery_id, data, entry.kind)

    def fetch_stream(self, system_id: str, delivery_id: str) -> FetchedStream:
        """:meth:`fetch` without holding the package: only its header region is in memory
        (the whole of it when the package row keeps the body: a small one)."""
        (size, chunks), entry = self._take(system_id, delivery_id, self._open_traced)
        return FetchedStream(delivery_id, entry.kind, size, chunks)

    def _traced(self, entry: FetchEntry) -> bytes:
        data = entry.body if entry.body is not None else self._deps.blobs.get(entry.digest)
        return traced(data, self._config.organ_id, entry)

    def _open_traced(self, entry: FetchEntry) -> tuple[int, Iterator[bytes]]:
        """The stored bytes of ``entry`` as :func:`traced` gives them: ``(size, chunks)``."""
        if entry.body is not None:
            data = self._traced(entry)
            return len(data), iter((data,))
        blobs = self._deps.blobs
        size = blobs.size(entry.digest)
        chunks = _chunks(blobs.open(entry.digest))
        try:
            return append_trace_stream(chunks, size, self._config.organ_id, entry.received_at)
        except EdxmlError:
            chunks.close()
            if entry.kind is MessageKind.STATUS:
                return size, _chunks(blobs.open(entry.digest))
            raise
        except BaseException:
            chunks.close()
            raise

    def _take(
        self, system_id: str, delivery_id: str, read: Callable[[FetchEntry], _T]
    ) -> tuple[_T, FetchEntry]:
        """Check the delivery is the caller's and in its inbox, ``read`` its bytes, and record
        the fetch (the first one moves it from ``available`` to ``fetched``: one step)."""
        now = self._deps.clock.now()
        with self._deps.step() as uow:
            entry = _own_delivery(uow, system_id, delivery_id)
            row = entry.delivery
            if row.state not in _INBOX_STATES:
                raise NotFound(
                    f"delivery {delivery_id} is {row.state}, not in the inbox",
                    message_vi=f"văn bản {delivery_id} không còn trong hộp thư "
                    f"({describe(row.state)})",
                    code=f"delivery.{row.state}",
                )
            data = read(entry)
            if row.state == State.AVAILABLE:
                entry_row = audit_row(now, f"system:{system_id}", "fetch", delivery_id)
                try:
                    advance(uow.deliveries, row, Event.FETCH, at=now, audit=entry_row)
                except Conflict as exc:
                    if exc.code != "delivery.raced":
                        raise
                    # Moved since the read (READ COMMITTED): a parallel getEdoc of the same copy
                    # is a read and must not fail — but a revoke that won must not be undone.
                    uow.rollback()
                    current = uow.deliveries.get(delivery_id)
                    if current is None or current.state not in _INBOX_STATES:
                        raise NotFound(
                            f"delivery {delivery_id} is no longer in the inbox",
                            message_vi=f"văn bản {delivery_id} không còn trong hộp thư",
                            code="delivery.gone",
                        ) from None
                    return data, entry
                uow.commit()
        return data, entry

    def update_status(self, system_id: str, delivery_id: str, status: TransportStatus) -> None:
        """Record the recipient's report: one state step (:meth:`hub.services.base.Deps.step`),
        or two in one transaction for ``done`` on a copy never fetched."""
        now = self._deps.clock.now()
        # written by the step below, in its statement (hub.delivery.advance)
        logged = audit_row(
            now, f"system:{system_id}", "update_status", delivery_id, status=status.value
        )
        with self._deps.step() as uow:
            if self._report(uow, system_id, delivery_id, status, now, logged, steps=1):
                return
        with self._deps.uow() as uow:
            self._report(uow, system_id, delivery_id, status, now, logged, steps=2)

    def _report(
        self,
        uow: UnitOfWork,
        system_id: str,
        delivery_id: str,
        status: TransportStatus,
        now: dt.datetime,
        logged: AuditRow,
        *,
        steps: int,
    ) -> bool:
        """:meth:`update_status` in ``uow``, which may write ``steps`` steps; ``False`` (and
        nothing written) when the report needs more."""
        row = _own_row(uow, system_id, delivery_id)  # the document is not needed here
        state = State(row.state)
        if status is TransportStatus.DONE:
            if state is State.DONE:
                return True  # repeated acknowledgement
            if state is State.AVAILABLE:  # acknowledged without getEdoc: take it first
                if steps < 2:
                    return False
                row = advance(uow.deliveries, row, Event.FETCH, at=now)
            advance(uow.deliveries, row, Event.DONE, at=now, audit=logged)
        elif status is TransportStatus.PROCESSING:
            if state is State.FETCHED or state is State.DONE:
                return True
            advance(uow.deliveries, row, Event.FETCH, at=now, reason="processing", audit=logged)
        else:
            if state is State.DONE:
                raise IllegalTransition(
                    f"delivery {delivery_id} was acknowledged done; it cannot fail now",
                    message_vi=f"văn bản {delivery_id} đã báo xử lý xong, không thể báo lỗi",
                )
            if _failed_and_not_fetched_since(row):
                return True  # repeated fail (the client retried): the failure is counted once
            try:
                advance(uow.deliveries, row, Event.FAIL, at=now, reason=_FAIL_REASON, audit=logged)
            except Conflict as exc:
                if exc.code != "delivery.raced":
                    raise
                # A parallel copy of this very report got there first (READ COMMITTED): if it
                # left the copy failed and untaken, this one is its repeat.
                uow.rollback()
                current = uow.deliveries.get(delivery_id)
                if current is not None and _failed_and_not_fetched_since(current):
                    return True
                raise
        uow.commit()
        return True

    # ------------------------------------------------------------------------------- sent

    def list_sent(
        self, system_id: str, doc_id: str | None, *, limit: int = 500
    ) -> Sequence[SentRow]:
        with self._deps.read() as uow:
            docs = uow.documents.sent_by(system_id, doc_id=doc_id, limit=limit)
            if doc_id is not None and not docs:
                raise NotFound(
                    f"no document {doc_id} sent by {system_id}",
                    message_vi=f"không có văn bản {doc_id} do hệ thống {system_id} gửi",
                )
            out: list[SentRow] = []
            for doc in docs:
                notation = (
                    f"{doc.code_number}/{doc.code_notation}"
                    if doc.code_number and doc.code_notation
                    else doc.code_notation or doc.code_number
                )
                for d in uow.deliveries.for_document(doc.id):
                    state, desc, received_at = _sent_state(d)
                    out.append(
                        SentRow(
                            doc_id=doc.id,
                            delivery_id=d.id,
                            from_code=doc.sender_code,
                            to_code=d.resolved_code or d.recipient_code,
                            send_status=state,
                            send_status_desc=desc,
                            receive_status=d.business_status or "",
                            receive_status_desc=d.business_status_desc or "",
                            sent_at=doc.received_at,
                            received_at=received_at,
                            title=doc.subject,
                            notation=notation,
                            kind=doc.kind,
                            flags=_shown_flags(doc.flags),
                            verdict=(doc.verdicts or {}).get("verdict"),
                        )
                    )
            return out

    # --------------------------------------------------------------------------- agencies

    def list_agencies(self, system_id: str) -> Sequence[AgencyRecord]:
        """Every agency the hub knows (registry, then stored records), with who hosts it."""
        with self._deps.read() as uow:
            hosting = {lookup_key(k): v for k, v in uow.systems.hosting().items()}
            stored = {lookup_key(r.code): r for r in uow.agencies.list(include_deleted=True)}
        records: dict[str, AgencyRecord] = {}
        for a in self._deps.registry():
            key = lookup_key(a.code)
            if key in stored and stored[key].deleted:
                continue
            records[key] = AgencyRecord(
                id=a.registry_id or a.code,
                code=a.code,
                name=a.name,
                parent_code=a.parent_code,
                code_qd20=a.code_qd20,
                mail=a.email,
                old_code=a.former_codes[0] if a.former_codes else None,
                hosted_by=hosting.get(key),
            )
        for key, r in stored.items():
            if not r.deleted:
                records[key] = _agency_record(r, hosting.get(key))
        return sorted(records.values(), key=lambda r: r.code)

    def register_agency(self, system_id: str, record: AgencyRecord) -> None:
        """Register (or update) an agency the caller hosts, or a new unit under one it hosts;
        the caller then hosts it.

        Hazard: the parent named in ``record`` is the caller's word. An agency the hub already
        knows (registry, or a stored record not deleted) keeps its *known* parent, and only a
        system hosting that parent may take it — otherwise naming one's own agency as parent
        would let a system host, send as and receive the mail of any agency no system here
        hosts (a ministry reached through the national axis).

        A code (or QĐ 20 code) that already names *another* agency — its former code after the
        2025 reform, or its QĐ 20 code — is a :class:`Conflict` (``agency.code_taken``): one
        code must lead to one agency, and a registry with such a pair does not build."""
        now = self._deps.clock.now()
        registry = self._deps.registry()  # before the transaction (see base.router)
        with self._deps.uow() as uow:
            hosted = set(uow.systems.agencies(system_id))
            keys = {lookup_key(c) for c in hosted}
            hosting = {lookup_key(k): v for k, v in uow.systems.hosting().items()}
            owner = hosting.get(lookup_key(record.code))
            parent_ok = record.parent_code is not None and lookup_key(record.parent_code) in keys
            if parent_ok and lookup_key(record.code) not in keys:
                known = _known_parent(uow, registry, record.code)
                if known is not None:
                    parent_ok = known[0] is not None and lookup_key(known[0]) in keys
            if lookup_key(record.code) not in keys and not (parent_ok and owner is None):
                raise Forbidden(
                    f"system {system_id!r} may register only agencies it hosts or units under them",
                    message_vi=f"hệ thống {system_id!r} chỉ được đăng ký cơ quan mình quản lý "
                    "hoặc đơn vị trực thuộc",
                )
            _refuse_taken_code(registry, record)
            uow.agencies.upsert(
                AgencyRow(
                    code=record.code,
                    name=record.name,
                    code_qd20=record.code_qd20,
                    parent_code=record.parent_code,
                    email=record.mail,
                    source=f"system:{system_id}",
                    modified_at=now,
                )
            )
            uow.systems.set_agencies(system_id, [*hosted, record.code])
            audit(uow, now, f"system:{system_id}", "agency.register", record.code)
            uow.commit()
        self._deps.systems.clear()

    def delete_agency(self, system_id: str, code: str) -> None:
        """Mark an agency the caller hosts deleted and stop hosting it."""
        now = self._deps.clock.now()
        with self._deps.uow() as uow:
            hosted = uow.systems.agencies(system_id)
            if lookup_key(code) not in {lookup_key(c) for c in hosted}:
                raise NotFound(
                    f"system {system_id!r} hosts no agency {code!r}",
                    message_vi=f"hệ thống {system_id!r} không quản lý cơ quan {code!r}",
                    code="agency.unknown",
                )
            # The code as hosted (the caller may spell it in another case): one record per code.
            code = next(c for c in hosted if lookup_key(c) == lookup_key(code))
            stored = uow.agencies.get(code)
            base = stored or AgencyRow(code=code, name=code, source=f"system:{system_id}")
            uow.agencies.upsert(dataclasses.replace(base, deleted=True, modified_at=now))
            uow.systems.set_agencies(
                system_id, [c for c in hosted if lookup_key(c) != lookup_key(code)]
            )
            audit(uow, now, f"system:{system_id}", "agency.delete", code)
            uow.commit()
        self._deps.systems.clear()

    # --------------------------------------------------------------------------- timeline

    def timeline(self, doc_id: str) -> Sequence[TimelineEntry]:
        with self._deps.read() as uow:
            doc = uow.documents.get(doc_id)
            if doc is None:
                raise NotFound(f"no document {doc_id}", message_vi=f"không có văn bản {doc_id}")
            entries = [
                TimelineEntry(doc.received_at, None, "accepted", f"{doc.sender_code} ({doc.kind})")
            ]
            for d in uow.deliveries.for_document(doc_id):
                for e in uow.deliveries.events(d.id):
                    if e.from_state is None:
                        continue  # the creation event is the "accepted" entry
                    if e.from_state == e.to_state:  # a note without a state change
                        name, detail = e.reason or e.to_state, d.recipient_code
                    else:
                        name = f"{e.from_state}→{e.to_state}"
                        detail = d.recipient_code + (f": {e.reason}" if e.reason else "")
                    entries.append(TimelineEntry(e.at, d.id, name, detail))
            return sorted(entries, key=lambda t: t.at)


# ----------------------------------------------------------------------------- helpers


def _own_delivery(uow: UnitOfWork, system_id: str, delivery_id: str) -> FetchEntry:
    """The caller's delivery with what a fetch hands out, in one read."""
    found = uow.deliveries.for_fetch(delivery_id)
    if found is None:
        raise _not_yours(system_id, delivery_id)
    _check_own(found.delivery, system_id, delivery_id)
    return found


def _own_row(uow: UnitOfWork, system_id: str, delivery_id: str) -> DeliveryRow:
    """The caller's delivery (without its document)."""
    row = uow.deliveries.get(delivery_id)
    if row is None:
        raise _not_yours(system_id, delivery_id)
    _check_own(row, system_id, delivery_id)
    return row


def _check_own(row: DeliveryRow, system_id: str, delivery_id: str) -> None:
    if row.system_id != system_id or row.route != "local":
        raise _not_yours(system_id, delivery_id)


def _not_yours(system_id: str, delivery_id: str) -> NotFound:
    return NotFound(
        f"no delivery {delivery_id} for system {system_id}",
        message_vi=f"không có văn bản {delivery_id} cho hệ thống {system_id}",
        code="delivery.unknown",
    )


def _refuse_taken_code(registry: Registry, record: AgencyRecord) -> None:
    """Raise :class:`Conflict` when ``record``'s code or QĐ 20 code names another agency."""
    own = lookup_key(record.code)
    for form in (record.code, record.code_qd20):
        other = registry.get(form) if form else None
        if other is not None and lookup_key(other.code) != own:
            raise Conflict(
                f"agency code {form!r} already names agency {other.code} ({other.name})",
                message_vi=f"mã {form!r} đã là mã của cơ quan {other.code} ({other.name})",
                code="agency.code_taken",
                details={"code": form, "agency": other.code},
            )


def _failed_and_not_fetched_since(row: DeliveryRow) -> bool:
    """True when the copy is back in the inbox because of a ``fail`` and nobody fetched it since.

    A local copy enters ``available`` by dispatch (no ``last_error`` of this kind) or by a fail,
    and leaves it only by fetch (→ ``fetched``) or revoke; so ``available`` with the fail's
    reason means the last thing that happened to it was that fail, and another one now is the
    same failure reported again (VXP clients retry ``updateStatus``), not a new attempt.
    """
    return row.state == State.AVAILABLE and row.attempts > 0 and row.last_error == _FAIL_REASON


def _known_parent(uow: UnitOfWork, registry: Registry, code: str) -> tuple[str | None] | None:
    """``(parent code,)`` of an agency the hub already knows (``(None,)`` for a top-level
    one), or ``None`` when ``code`` is new: neither in the registry nor a live stored record."""
    key = lookup_key(code)  # the store matches codes exactly; a case variant must not slip by
    for stored in uow.agencies.list(include_deleted=True):
        if not stored.deleted and lookup_key(stored.code) == key:
            return (stored.parent_code,)
    if registry.get(code) is not None:
        parent = registry.parent(code)
        return (parent.code if parent is not None else None,)
    return None


#: A forwarded copy's remote status (hub.services.inbound.RemoteTracker) → the local state it
#: is shown as in the sender's sent list, so remote and local recipients read alike.
_REMOTE_AS_LOCAL = {
    TransportStatus.DONE.value: State.DONE,
    TransportStatus.PROCESSING.value: State.FETCHED,
}


def _sent_state(d: DeliveryRow) -> tuple[str, str, dt.datetime | None]:
    """(sendStatus, sendStatusDesc, receivedTime) of one recipient in the sent list."""
    if d.state == State.FORWARDED and d.remote_status:
        shown = _REMOTE_AS_LOCAL.get(d.remote_status)
        where = d.peer_name or "trục quốc gia"
        if shown is not None:
            return shown.value, f"{describe(shown)} (qua {where})", d.remote_status_at
        desc = f"{describe(d.state)}; nơi nhận báo lỗi ({d.remote_status})"
        if d.remote_status_desc:
            desc = f"{desc}: {d.remote_status_desc}"
        return d.state, desc, None
    desc = describe(d.state)
    if d.last_error and d.state != State.DONE:
        desc = f"{desc}: {d.last_error}"
    return d.state, desc, d.fetched_at


def _inbox_item(e: InboxEntry, kind: MessageKind) -> InboxItem:
    return InboxItem(
        delivery_id=e.delivery_id,
        doc_id=e.doc_id,
        kind=kind,  # the page lists one kind
        from_code=e.sender_code,
        to_code=e.resolved_code or e.recipient_code,
        state=e.state,
        state_desc=describe(e.state),
        created_at=e.created_at,
        updated_at=e.updated_at,
        document_id=e.document_id,
        subject=e.subject,
        flags=_shown_flags(e.flags),
    )


def _shown_flags(flags: Sequence[str]) -> tuple[str, ...]:
    """The flags both ends see: warnings (``profile.signer_info_missing``…), not the internal
    links between documents (``replaces:<doc id>``)."""
    return tuple(f for f in flags if ":" not in f)


def _agency_record(r: AgencyRow, hosted_by: str | None) -> AgencyRecord:
    return AgencyRecord(
        id=r.code,
        code=r.code,
        name=r.name,
        parent_code=r.parent_code,
        code_qd20=r.code_qd20,
        mail=r.email,
        hosted_by=hosted_by,
        deleted=r.deleted,
        modified_at=r.modified_at,
    )
