"""The store ports of :mod:`hub.ports`, in SQLAlchemy Core over SQLite and PostgreSQL.

Every repository works on the one :class:`~sqlalchemy.engine.Connection` of its unit of work
(:mod:`adapters.store.uow`): it never begins, commits or rolls back — the service owns the
transaction (STYLE.md §10) — and it never decides a delivery's state (``hub.delivery`` does).
Core, not the ORM: one compiled statement per call, no identity map (PERFORMANCE.md).

Hazards handled here, once:

* **Unique keys without poisoning the transaction.** On PostgreSQL a failed statement aborts
  the whole transaction, so a duplicate must not be detected by letting the INSERT fail. Inserts
  that may meet an existing key use ``INSERT … ON CONFLICT DO NOTHING`` (both backends speak it)
  and look at the row count: the transaction stays usable and the port's answer (``False`` or
  :class:`hub.errors.Conflict`) is given without an exception from the driver.
* **Compare-and-set.** :meth:`SqlDeliveryRepository.save` given the row as read writes only the
  columns that changed, ``WHERE id = … AND state = <read> AND <each changed column> IS NOT
  DISTINCT FROM <read>``; a row count of 0 means another transaction moved the delivery first.
  Writing every column would put back, from an old read, a column another transaction set
  meanwhile without moving the state (a lost ``business_status`` on PostgreSQL).
* **Driver errors** become :class:`hub.errors.StoreUnavailable` (connection, lock timeout,
  serialization failure) or :class:`hub.errors.InternalError` (a foreign key or other integrity
  rule broken by our own code) at this edge, with the original chained.
* **Claiming outbox rows** from several relays: :meth:`SqlOutboxRepository.claim` locks the rows
  it returns with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two relays never publish the same
  rows at the same time; SQLite has one writer (``BEGIN IMMEDIATE``) and needs no lock clause.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Result
from sqlalchemy.sql import Executable

from adapters.store import tables as t
from adapters.store.blobs import _corrupt
from adapters.store.message_log import JOINED, JOINED_COLUMNS, log_statement
from hub.edxml.model import MessageKind
from hub.errors import Conflict, InternalError, NotFound, StoreUnavailable, document_id_reused
from hub.ports import (
    AgencyRow,
    AuditRow,
    DeliveryEvent,
    DeliveryGroup,
    DeliveryRow,
    DocumentRow,
    FetchEntry,
    InboxEntry,
    LogFilter,
    OutboxRow,
    PackageRow,
    SystemRow,
)


def _unavailable(err: exc.DBAPIError, what: str) -> NoReturn:
    raise StoreUnavailable(
        f"database unavailable while {what}: {type(err.orig).__name__}",
        message_vi=f"cơ sở dữ liệu không sẵn sàng khi {what}",
        details={"action": what, "backend_error": type(err.orig).__name__},
    ) from err


def _integrity(err: exc.IntegrityError, what: str) -> NoReturn:
    # Unique keys that callers may legitimately hit are handled with ON CONFLICT; what reaches
    # here is a foreign key or NOT NULL rule broken by our own code — a bug, not the sender's.
    raise InternalError(
        f"integrity rule broken while {what}: {type(err.orig).__name__}",
        message_vi=f"vi phạm ràng buộc dữ liệu khi {what}",
        code="store.integrity",
        details={"action": what},
    ) from err


class _Repo:
    """Shared plumbing: the unit's connection and error translation."""

    def __init__(self, connection: Any) -> None:
        # ``connection`` is a zero-argument callable returning the unit's live Connection (the
        # unit of work opens it lazily), so repositories can be built before the transaction.
        self._connection = connection

    @property
    def conn(self) -> Connection:
        conn: Connection = self._connection()
        return conn

    def _run(self, what: str, stmt: Executable, params: Any = None) -> CursorResult[Any]:
        try:
            return self.conn.execute(stmt, params)
        except exc.IntegrityError as err:
            _integrity(err, what)
        except exc.DBAPIError as err:
            _unavailable(err, what)

    def _insert_new(self, what: str, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert ``rows`` skipping any that meet an existing key; return how many went in.

        Counted with ``RETURNING`` (the keys of the rows actually inserted): the driver's row
        count is not reliable for an INSERT through SQLAlchemy on every backend (psycopg reports
        -1 there). Several rows go as one executemany, which SQLAlchemy sends as multi-row
        ``INSERT … VALUES (…), (…)`` batches ("insertmanyvalues") on both backends.
        """
        if not rows:
            return 0
        stmt = _insert_new_statement(self.conn.dialect.name, table)
        params: Any = dict(rows[0]) if len(rows) == 1 else [dict(r) for r in rows]
        return len(self._run(what, stmt, params).all())


# Statements are built once per (backend, table) and reused: building and cache-keying a
# generative statement on every call costs more than executing it (bench/RESULTS-store.md).
_INSERT_NEW: dict[tuple[str, str], Executable] = {}


def _insert_new_statement(dialect: str, table: sa.Table) -> Executable:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING <key>`` (PostgreSQL and SQLite ≥ 3.35)."""
    stmt = _INSERT_NEW.get((dialect, table.name))
    if stmt is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
        _INSERT_NEW[(dialect, table.name)] = stmt
    return stmt


def _by_key(table: sa.Table, *columns: str) -> Executable:
    """A prepared ``SELECT * FROM table WHERE col = :col AND …`` (bound by column name)."""
    return sa.select(table).where(*(table.c[c] == sa.bindparam(c) for c in columns))


_PACKAGE_BY_DIGEST = sa.select(*(c for c in t.packages.c if c.name != "body")).where(
    t.packages.c.digest == sa.bindparam("digest")
)
_DOCUMENT_BY_ID = _by_key(t.documents, "id")
_DOCUMENT_BY_DIGEST = _by_key(t.documents, "sender_system", "digest")
# Read by every status and follow-up push (its original): built once, like the keys above.
_DOCUMENTS_BY_DOCUMENT_ID = (
    sa.select(t.documents)
    .where(
        t.documents.c.sender_code == sa.bindparam("sender_code"),
        t.documents.c.document_id == sa.bindparam("document_id"),
    )
    .order_by(t.documents.c.received_at, t.documents.c.id)
)
_DELIVERY_BY_ID = _by_key(t.deliveries, "id")
_DELIVERY_WITH_DOCUMENT = (
    sa.select(*JOINED_COLUMNS).select_from(JOINED).where(t.deliveries.c.id == sa.bindparam("id"))
)
# A fetch (FetchEntry): the delivery's columns in table order, then three of its document's and
# the package body when the row keeps it (outer join: a package row may predate 0020's body).
_FOR_FETCH = (
    sa.select(
        *t.deliveries.columns,
        t.documents.c.kind,
        t.documents.c.digest,
        t.documents.c.received_at,
        t.packages.c.body,
    )
    .select_from(JOINED.outerjoin(t.packages, t.packages.c.digest == t.documents.c.digest))
    .where(t.deliveries.c.id == sa.bindparam("id"))
)
_DELIVERIES_BY_IDS = sa.select(t.deliveries).where(
    t.deliveries.c.id.in_(sa.bindparam("ids", expanding=True))
)
_INSERT_EVENT = t.delivery_events.insert()
_INSERT_OUTBOX = t.outbox.insert()
_INSERT_AUDIT = t.audit.insert()


# ------------------------------------------------------------------------------- packages


def _package_values(row: PackageRow) -> dict[str, Any]:
    values = {
        "digest": row.digest,
        "size": row.size,
        "kind": str(row.kind),
        "received_at": row.received_at,
    }
    if row.body is not None:  # a small body kept in its row (migration 0020)
        values["body"] = row.body
    return values


class SqlPackageRepository(_Repo):
    def add(self, row: PackageRow) -> bool:
        return self._insert_new("storing a package", t.packages, [_package_values(row)]) == 1

    def get(self, digest: str) -> PackageRow | None:
        """The package's facts (never its body: read that through the blob store)."""
        r = self._run("reading a package", _PACKAGE_BY_DIGEST, {"digest": digest}).first()
        if r is None:
            return None
        return PackageRow(r.digest, r.size, MessageKind(r.kind), r.received_at)


# ------------------------------------------------------------------------------ documents


def _document_values(row: DocumentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "digest": row.digest,
        "kind": str(row.kind),
        "document_id": row.document_id,
        "sender_code": row.sender_code,
        "sender_system": row.sender_system,
        "business_type": row.business_type,
        "related_doc_id": row.related_doc_id,
        "subject": row.subject,
        "code_number": row.code_number,
        "code_notation": row.code_notation,
        "verdicts": dict(row.verdicts),
        "problems": [dict(p) for p in row.problems],
        "flags": list(row.flags),
        "received_at": row.received_at,
    }


def _document(r: Any) -> DocumentRow:
    return DocumentRow(
        id=r.id,
        digest=r.digest,
        kind=MessageKind(r.kind),
        document_id=r.document_id,
        sender_code=r.sender_code,
        sender_system=r.sender_system,
        business_type=r.business_type,
        related_doc_id=r.related_doc_id,
        subject=r.subject,
        code_number=r.code_number,
        code_notation=r.code_notation,
        verdicts=r.verdicts,
        problems=r.problems,
        flags=r.flags,
        received_at=r.received_at,
    )


def _bound_insert(table: sa.Table, prefix: str = "") -> Any:
    """``INSERT INTO table (every column) VALUES (:<prefix><column>, …)`` on PostgreSQL."""
    return postgresql.insert(table).values(
        {c.name: sa.bindparam(prefix + c.name, type_=c.type) for c in table.columns}
    )


# One statement for a push's package and document on PostgreSQL: the package row (skipped when
# those bytes are stored already) in a data-modifying WITH, the document counted by RETURNING.
# The document's foreign key to the package is checked at the end of the statement, so it sees
# the package row the same statement wrote. SQLite has no INSERT inside WITH: two statements.
_DOCUMENT_WITH_PACKAGE = (
    _bound_insert(t.documents)
    .on_conflict_do_nothing()
    .returning(t.documents.c.id)
    .add_cte(_bound_insert(t.packages, "p_").on_conflict_do_nothing().cte("stored_package"))
)


class SqlDocumentRepository(_Repo):
    def add(self, row: DocumentRow, package: PackageRow | None = None) -> None:
        values = _document_values(row)
        if package is not None and self.conn.dialect.name == "postgresql":
            values.update({f"p_{k}": v for k, v in _package_values(package).items()})
            values.setdefault("p_body", None)
            what = "storing a package and its document"
            inserted = len(self._run(what, _DOCUMENT_WITH_PACKAGE, values).all())
        else:
            if package is not None:
                SqlPackageRepository(self._connection).add(package)
            inserted = self._insert_new("storing a document", t.documents, [values])
        if inserted == 1:
            return
        # Which key met an existing row? The same bytes from the same system (an idempotent
        # repeat), else a new document reusing a DocumentId (partial index, migration 0004).
        if (
            row.business_type == 0
            and row.document_id
            and self.by_digest(row.sender_system, row.digest) is None
            and self.get(row.id) is None
        ):
            raise document_id_reused(row.document_id)
        raise Conflict(
            f"document {row.id} already stored (same id, or same bytes from the same system)",
            message_vi=f"văn bản {row.id} đã được lưu",
            code="document.duplicate",
            document_id=row.document_id,
        )

    def get(self, doc_id: str) -> DocumentRow | None:
        r = self._run("reading a document", _DOCUMENT_BY_ID, {"id": doc_id}).first()
        return None if r is None else _document(r)

    def by_digest(self, sender_system: str, digest: str) -> DocumentRow | None:
        params = {"sender_system": sender_system, "digest": digest}
        r = self._run("reading a document", _DOCUMENT_BY_DIGEST, params).first()
        return None if r is None else _document(r)

    def by_document_id(self, sender_code: str, document_id: str) -> Sequence[DocumentRow]:
        params = {"sender_code": sender_code, "document_id": document_id}
        return [
            _document(r) for r in self._run("reading documents", _DOCUMENTS_BY_DOCUMENT_ID, params)
        ]

    def sent_by(
        self, sender_system: str, *, doc_id: str | None = None, limit: int = 500
    ) -> Sequence[DocumentRow]:
        stmt = sa.select(t.documents).where(t.documents.c.sender_system == sender_system)
        if doc_id is not None:
            stmt = stmt.where(t.documents.c.id == doc_id)
        stmt = stmt.order_by(t.documents.c.received_at.desc(), t.documents.c.id.desc()).limit(limit)
        return [_document(r) for r in self._run("listing sent documents", stmt)]

    def count_since(self, at: dt.datetime) -> int:
        d = t.documents
        stmt = sa.select(sa.func.count()).select_from(d).where(d.c.received_at >= at)
        return int(self._run("counting documents", stmt).scalar_one())

    def search(self, term: str, *, limit: int = 50) -> Sequence[DocumentRow]:
        d = t.documents
        stmt = (
            sa.select(d)
            .where(
                sa.or_(
                    d.c.id == term,
                    d.c.document_id == term,
                    d.c.sender_code == term,
                    d.c.sender_system == term,
                )
            )
            .order_by(d.c.received_at.desc(), d.c.id.desc())
            .limit(limit)
        )
        return [_document(r) for r in self._run("searching documents", stmt)]

    def related_to(self, doc_id: str, *, limit: int = 500) -> Sequence[DocumentRow]:
        d = t.documents
        stmt = (
            sa.select(d)
            .where(d.c.related_doc_id == doc_id)
            .order_by(d.c.received_at, d.c.id)
            .limit(limit)
        )
        return [_document(r) for r in self._run("reading related documents", stmt)]


# ----------------------------------------------------------------------------- deliveries

_DELIVERY_COLUMNS = tuple(c.name for c in t.deliveries.columns)


def _delivery_values(row: DeliveryRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _DELIVERY_COLUMNS}


def _delivery(r: Any) -> DeliveryRow:
    return DeliveryRow(**{name: getattr(r, name) for name in _DELIVERY_COLUMNS})


def _event_values(event: DeliveryEvent) -> dict[str, Any]:
    return {
        "delivery_id": event.delivery_id,
        "at": event.at,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "reason": event.reason,
    }


# The compare-and-set UPDATE without a read row: every column but the key, guarded by the state.
_SAVE = (
    t.deliveries.update()
    .where(t.deliveries.c.id == sa.bindparam("b_id"))
    .where(t.deliveries.c.state == sa.bindparam("b_expected"))
    .values({name: sa.bindparam(name) for name in _DELIVERY_COLUMNS if name != "id"})
)

#: Written by every save and never guarded: the last writer's time is the right one.
_UNGUARDED = frozenset({"updated_at"})
_SAVE_CHANGED: dict[frozenset[str], Executable] = {}


def _save_changed_params(
    row: DeliveryRow, read: DeliveryRow
) -> tuple[frozenset[str], dict[str, Any]]:
    """The columns in which ``row`` differs from ``read`` and the parameters of their
    :func:`_save_changed_statement` (new values, ``r_`` guards, key and expected state)."""
    if read.id != row.id:
        raise InternalError(f"save of delivery {row.id} given the read of {read.id}")
    new, old = _delivery_values(row), _delivery_values(read)
    changed = frozenset(n for n in _DELIVERY_COLUMNS if n != "id" and new[n] != old[n])
    params: dict[str, Any] = {"b_id": row.id, "b_expected": read.state}
    params.update({n: new[n] for n in changed})
    params.update({f"r_{n}": old[n] for n in changed - _UNGUARDED})
    return changed, params


def _save_changed_statement(changed: frozenset[str]) -> Executable:
    """``UPDATE deliveries SET <changed> WHERE id AND state AND <changed> IS NOT DISTINCT FROM
    <read>``, built once per set of changed columns (a handful of shapes: one per event)."""
    stmt = _SAVE_CHANGED.get(changed)
    if stmt is None:
        d = t.deliveries
        guards = [
            d.c[name].is_not_distinct_from(sa.bindparam(f"r_{name}", type_=d.c[name].type))
            for name in sorted(changed - _UNGUARDED)
        ]
        stmt = (
            d.update()
            .where(d.c.id == sa.bindparam("b_id"), d.c.state == sa.bindparam("b_expected"), *guards)
            .values({name: sa.bindparam(name, type_=d.c[name].type) for name in sorted(changed)})
        )
        _SAVE_CHANGED[changed] = stmt
    return stmt


_SAVE_WITH_EVENT: dict[tuple[frozenset[str], bool], Executable] = {}
_AUDIT_COLUMNS = ("at", "actor", "action", "subject", "outcome", "details")


def _save_with_event_statement(changed: frozenset[str], audited: bool) -> Executable:
    """``WITH moved AS (<the compare-and-set UPDATE> RETURNING id) INSERT INTO delivery_events
    SELECT id, <event> FROM moved RETURNING id`` (PostgreSQL), built once per set of changed
    columns; bound as :func:`_save_changed_params` plus ``e_at``, ``e_from_state``,
    ``e_to_state``, ``e_reason``. ``audited`` adds ``audited AS (INSERT INTO audit SELECT
    <row> FROM moved)``, bound as ``a_<column>`` (:func:`_audit_params`): the audit row is
    written exactly when the update matched, like the event."""
    stmt = _SAVE_WITH_EVENT.get((changed, audited))
    if stmt is None:
        update: Any = _save_changed_statement(changed)
        moved = update.returning(t.deliveries.c.id).cte("moved")
        e = t.delivery_events
        event = sa.select(
            moved.c.id,
            sa.bindparam("e_at", type_=e.c.at.type),
            sa.bindparam("e_from_state", type_=e.c.from_state.type),
            sa.bindparam("e_to_state", type_=e.c.to_state.type),
            sa.bindparam("e_reason", type_=e.c.reason.type),
        )
        stmt = (
            e.insert()
            .from_select(["delivery_id", "at", "from_state", "to_state", "reason"], event)
            .returning(e.c.id)
        )
        if audited:
            a = t.audit
            row = sa.select(
                *(sa.bindparam(f"a_{name}", type_=a.c[name].type) for name in _AUDIT_COLUMNS)
            ).select_from(moved)
            stmt = stmt.add_cte(a.insert().from_select(list(_AUDIT_COLUMNS), row).cte("audited"))
        _SAVE_WITH_EVENT[(changed, audited)] = stmt
    return stmt


def _audit_params(row: AuditRow) -> dict[str, Any]:
    return {f"a_{name}": value for name, value in _audit_values(row).items()}


# The inbox query (VXP getReceivedEdocList polls it constantly): built once per number of states,
# bound per call. One branch per state, each an ordered range scan of
# ix_deliveries_system_id_state_created_at (equality on system_id and state, then created_at in
# index order) that stops after ``limit`` rows, each document joined by primary key; the outer
# query merges the branches. A single ``state IN (…)`` would read and sort the whole inbox
# before applying the limit. Only the columns of an :class:`InboxEntry` are read: the rest of the
# two rows (the document's verdicts and problems as JSON above all) cost more to decode than
# the query costs to run.
_INBOX_JOIN = JOINED
_INBOX_COLUMNS = (
    t.deliveries.c.id.label("delivery_id"),
    t.deliveries.c.doc_id,
    t.documents.c.sender_code,
    t.deliveries.c.recipient_code,
    t.deliveries.c.resolved_code,
    t.deliveries.c.state,
    t.deliveries.c.created_at,
    t.deliveries.c.updated_at,
    t.documents.c.document_id,
    t.documents.c.subject,
    t.documents.c.flags,
)  # in the order of InboxEntry's fields: a row becomes an entry by position


def _inbox_filter(state_clause: Any) -> tuple[Any, ...]:
    return (
        t.deliveries.c.system_id == sa.bindparam("system_id"),
        t.deliveries.c.route == "local",
        state_clause,
        t.documents.c.kind == sa.bindparam("kind"),
    )


_INBOX_BY_COUNT: dict[int, Executable] = {}


def _inbox_statement(n_states: int) -> Executable:
    stmt = _INBOX_BY_COUNT.get(n_states)
    if stmt is None:
        branches = [
            sa.select(*_INBOX_COLUMNS)
            .select_from(_INBOX_JOIN)
            .where(*_inbox_filter(t.deliveries.c.state == sa.bindparam(f"state{i}")))
            .order_by(t.deliveries.c.created_at, t.deliveries.c.id)
            .limit(sa.bindparam("limit"))
            .subquery()
            for i in range(n_states)
        ]
        merged = sa.union_all(*(sa.select(b) for b in branches)).subquery()
        stmt = (
            sa.select(merged)
            .order_by(merged.c.created_at, merged.c.delivery_id)
            .limit(sa.bindparam("limit"))
        )
        _INBOX_BY_COUNT[n_states] = stmt
    return stmt


_INBOX_COUNT = (
    sa.select(sa.func.count())
    .select_from(_INBOX_JOIN)
    .where(*_inbox_filter(t.deliveries.c.state.in_(sa.bindparam("states", expanding=True))))
)


def _inbox_params(system_id: str, kind: MessageKind, states: Sequence[str]) -> dict[str, Any]:
    return {"system_id": system_id, "kind": str(kind), "states": list(states)}


class SqlDeliveryRepository(_Repo):
    def add(self, row: DeliveryRow) -> None:
        self.add_many([row])

    def add_many(self, rows: Sequence[DeliveryRow], events: Sequence[DeliveryEvent] = ()) -> None:
        """Insert several deliveries, then ``events``; any existing delivery key → Conflict.

        One statement for the rows and one for the events: a multi-row ``VALUES`` inside one
        ``WITH`` for both cannot be cached by SQLAlchemy, and compiling it per push costs more
        than the statement it saves (bench/RESULTS-hub.md). The events go in only once every
        row did, so an event never names a delivery that was not inserted.
        """
        inserted = self._insert_new(
            "storing deliveries", t.deliveries, [_delivery_values(r) for r in rows]
        )
        if inserted != len(rows):
            raise Conflict(
                "delivery already stored for this document and recipient",
                message_vi="bản giao cho nơi nhận này đã tồn tại",
                code="delivery.duplicate",
                details={"deliveries": [r.id for r in rows]},
            )
        self.add_events(events)

    def get(self, delivery_id: str) -> DeliveryRow | None:
        r = self._run("reading a delivery", _DELIVERY_BY_ID, {"id": delivery_id}).first()
        return None if r is None else _delivery(r)

    def with_document(self, delivery_id: str) -> tuple[DeliveryRow, DocumentRow] | None:
        params = {"id": delivery_id}
        r = self._run("reading a delivery", _DELIVERY_WITH_DOCUMENT, params).mappings().first()
        return None if r is None else _joined(r)

    def for_fetch(self, delivery_id: str) -> FetchEntry | None:
        """Hazard: the body is checked against the digest here, as the blob stores check
        theirs on every read — it is handed out without passing through them."""
        r = self._run("reading a delivery", _FOR_FETCH, {"id": delivery_id}).first()
        if r is None:
            return None
        n = len(_DELIVERY_COLUMNS)
        kind, digest, received_at, body = r[n:]
        if body is not None:
            body = bytes(body)
            actual = hashlib.sha256(body).hexdigest()
            if actual != digest:
                raise _corrupt(digest, actual)
        delivery = DeliveryRow(**dict(zip(_DELIVERY_COLUMNS, r[:n], strict=True)))
        return FetchEntry(delivery, MessageKind(kind), digest, received_at, body)

    def get_many(self, delivery_ids: Sequence[str]) -> Mapping[str, DeliveryRow]:
        if not delivery_ids:
            return {}
        params = {"ids": list(dict.fromkeys(delivery_ids))}
        rows = self._run("reading deliveries", _DELIVERIES_BY_IDS, params)
        return {r.id: _delivery(r) for r in rows}

    def save_many(self, steps: Sequence[tuple[DeliveryRow, DeliveryRow]]) -> bool:
        """One executemany per set of changed columns (a dispatch batch is one or two shapes),
        its summed row count checked against the rows sent — both drivers report it
        (``supports_sane_multi_rowcount``); a driver that does not falls back to :meth:`save`."""
        if not self.conn.dialect.supports_sane_multi_rowcount:
            return all(self.save(row, read=read) for row, read in steps)
        shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
        for row, read in steps:
            changed, params = _save_changed_params(row, read)
            if not changed:
                if not self.save(row, read=read):
                    return False
                continue
            shapes.setdefault(changed, []).append(params)
        for changed, many in shapes.items():
            stmt = _save_changed_statement(changed)
            if self._run("updating deliveries", stmt, many).rowcount != len(many):
                return False
        return True

    def save(
        self,
        row: DeliveryRow,
        *,
        expected_state: str | None = None,
        read: DeliveryRow | None = None,
    ) -> bool:
        if read is None:
            if expected_state is None:
                raise InternalError("save needs the row as read or the expected state")
            values = _delivery_values(row)
            values["b_id"] = values.pop("id")
            values["b_expected"] = expected_state
            return self._run("updating a delivery", _SAVE, values).rowcount == 1
        changed, params = _save_changed_params(row, read)
        if not changed:
            # Nothing to write, but the answer must still say whether the read is current.
            current = sa.select(t.deliveries.c.id).where(
                t.deliveries.c.id == row.id, t.deliveries.c.state == read.state
            )
            return self._run("reading a delivery", current).first() is not None
        stmt = _save_changed_statement(changed)
        return self._run("updating a delivery", stmt, params).rowcount == 1

    def save_with_event(
        self,
        row: DeliveryRow,
        *,
        read: DeliveryRow,
        event: DeliveryEvent,
        audit: AuditRow | None = None,
    ) -> bool:
        """On PostgreSQL the compare-and-set ``UPDATE`` feeds the event ``INSERT`` and the
        audit ``INSERT`` (a data-modifying ``WITH``): one round trip, and the event and audit
        rows exist exactly when the update matched. SQLite has no such ``WITH``: :meth:`save`,
        then :meth:`add_event` and the audit row."""
        if self.conn.dialect.name != "postgresql":
            return self._save_then_add_event(row, read, event, audit)
        changed, params = _save_changed_params(row, read)
        if not changed:
            return self._save_then_add_event(row, read, event, audit)
        if event.delivery_id != row.id:
            raise InternalError(f"event of delivery {event.delivery_id} saved with {row.id}")
        params.update(
            e_at=event.at, e_from_state=event.from_state, e_to_state=event.to_state,
            e_reason=event.reason,
        )  # fmt: skip
        if audit is not None:
            params.update(_audit_params(audit))
        stmt = _save_with_event_statement(changed, audit is not None)
        return len(self._run("updating a delivery", stmt, params).all()) == 1

    def _save_then_add_event(
        self, row: DeliveryRow, read: DeliveryRow, event: DeliveryEvent, audit: AuditRow | None
    ) -> bool:
        if not self.save(row, read=read):
            return False
        self.add_event(event)
        if audit is not None:
            SqlAuditRepository(self._connection).append(audit)
        return True

    def for_document(self, doc_id: str) -> Sequence[DeliveryRow]:
        stmt = (
            sa.select(t.deliveries)
            .where(t.deliveries.c.doc_id == doc_id)
            .order_by(t.deliveries.c.created_at, t.deliveries.c.id)
        )
        return [_delivery(r) for r in self._run("reading deliveries", stmt)]

    def inbox(
        self,
        system_id: str,
        kind: MessageKind,
        states: Sequence[str],
        *,
        limit: int = 500,
    ) -> Sequence[InboxEntry]:
        if not states or limit <= 0:
            return []
        params: dict[str, Any] = {"system_id": system_id, "kind": str(kind), "limit": limit}
        params.update({f"state{i}": state for i, state in enumerate(states)})
        rows = self._run("listing an inbox", _inbox_statement(len(states)), params)
        return [InboxEntry._make(r) for r in rows]

    def count_inbox(self, system_id: str, kind: MessageKind, states: Sequence[str]) -> int:
        params = _inbox_params(system_id, kind, states)
        return int(self._run("counting an inbox", _INBOX_COUNT, params).scalar_one())

    def in_state(self, state: str, *, limit: int = 100) -> Sequence[DeliveryRow]:
        stmt = (
            sa.select(t.deliveries)
            .where(t.deliveries.c.state == state)
            .order_by(t.deliveries.c.updated_at, t.deliveries.c.id)
            .limit(limit)
        )
        return [_delivery(r) for r in self._run("listing deliveries", stmt)]

    def summary(self) -> Sequence[DeliveryGroup]:
        d = t.deliveries
        keys = (d.c.state, d.c.route, d.c.system_id, d.c.peer_name)
        stmt = sa.select(
            *keys, sa.func.count(), sa.func.min(d.c.created_at), sa.func.min(d.c.updated_at)
        ).group_by(*keys)
        rows: Any = self._run("summarising deliveries", stmt).all()
        return [DeliveryGroup(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6]) for r in rows]

    def add_event(self, event: DeliveryEvent) -> None:
        self._run("recording a delivery event", _INSERT_EVENT, _event_values(event))

    def add_events(self, events: Iterable[DeliveryEvent]) -> None:
        """Insert several events in one statement (not in the port; lean intake writes)."""
        values = [_event_values(e) for e in events]
        if values:
            self._run("recording delivery events", _INSERT_EVENT, values)

    def tracked(
        self,
        since: dt.datetime,
        *,
        after: tuple[dt.datetime, str] | None = None,
        limit: int = 100,
    ) -> Sequence[DeliveryRow]:
        d = t.deliveries
        stmt = (
            sa.select(d)
            .join(t.documents, d.c.doc_id == t.documents.c.id)
            .where(t.documents.c.kind == MessageKind.EDOC.value)
            .where(d.c.state == "forwarded", d.c.remote_id.is_not(None))
            .where(sa.or_(d.c.remote_status.is_(None), d.c.remote_status != "done"))
            .where(d.c.updated_at >= since)
        )
        if after is not None:
            at, key = after  # compared column by column: the bind takes the column's type
            stmt = stmt.where(
                sa.or_(d.c.updated_at > at, sa.and_(d.c.updated_at == at, d.c.id > key))
            )
        stmt = stmt.order_by(d.c.updated_at, d.c.id).limit(limit)
        return [_delivery(r) for r in self._run("listing tracked deliveries", stmt)]

    def log(
        self,
        where: LogFilter,
        *,
        before: tuple[dt.datetime, str] | None = None,
        limit: int = 100,
    ) -> Sequence[tuple[DeliveryRow, DocumentRow]]:
        stmt = log_statement(where, before, limit)
        return [_joined(r) for r in self._run("reading the message log", stmt).mappings()]

    def events(self, delivery_id: str) -> Sequence[DeliveryEvent]:
        e = t.delivery_events
        stmt = sa.select(e).where(e.c.delivery_id == delivery_id).order_by(e.c.id)
        return [
            DeliveryEvent(r.delivery_id, r.at, r.from_state, r.to_state, r.reason, r.id)
            for r in self._run("reading delivery events", stmt)
        ]


def _joined(r: Any) -> tuple[DeliveryRow, DocumentRow]:
    """A delivery and its document from a row of ``JOINED_COLUMNS``."""
    delivery = DeliveryRow(**{n: r[f"d_{n}"] for n in _DELIVERY_COLUMNS})
    return delivery, _document(_Prefixed(r, "doc_"))


class _Prefixed:
    """Attribute access to the ``prefix``-labelled columns of a joined row."""

    __slots__ = ("_prefix", "_row")

    def __init__(self, row: Any, prefix: str) -> None:
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return self._row[self._prefix + name]


# -------------------------------------------------------------------------------- systems


def _system(r: Any) -> SystemRow:
    return SystemRow(
        r.id, r.name, r.secret_enc, r.secret_prev_enc, bool(r.enabled), r.max_age_s, r.created_at
    )


class SqlSystemRepository(_Repo):
    def add(self, row: SystemRow) -> None:
        values = {
            "id": row.id,
            "name": row.name,
            "secret_enc": row.secret_enc,
            "secret_prev_enc": row.secret_prev_enc,
            "enabled": row.enabled,
            "max_age_s": row.max_age_s,
            "created_at": row.created_at,
        }
        if self._insert_new("adding a system", t.systems, [values]) != 1:
            raise Conflict(
                f"system {row.id} already exists",
                message_vi=f"hệ thống {row.id} đã tồn tại",
                code="system.duplicate",
            )

    def get(self, system_id: str) -> SystemRow | None:
        stmt = sa.select(t.systems).where(t.systems.c.id == system_id)
        r = self._run("reading a system", stmt).first()
        return None if r is None else _system(r)

    def list(self) -> Sequence[SystemRow]:
        stmt = sa.select(t.systems).order_by(t.systems.c.id)
        return [_system(r) for r in self._run("listing systems", stmt)]

    def update(self, row: SystemRow) -> None:
        """Write every column of an existing system; an unknown id raises NotFound."""
        stmt = (
            t.systems.update()
            .where(t.systems.c.id == row.id)
            .values(
                name=row.name,
                secret_enc=row.secret_enc,
                secret_prev_enc=row.secret_prev_enc,
                enabled=row.enabled,
                max_age_s=row.max_age_s,
                created_at=row.created_at,
            )
        )
        if self._run("updating a system", stmt).rowcount != 1:
            raise NotFound(
                f"no system {row.id}",
                message_vi=f"không có hệ thống {row.id}",
                code="system.unknown",
            )

    def agencies(self, system_id: str) -> tuple[str, ...]:
        sa_ = t.system_agencies
        stmt = (
            sa.select(sa_.c.agency_code)
            .where(sa_.c.system_id == system_id)
            .order_by(sa_.c.agency_code)
        )
        return tuple(self._run("reading hosted agencies", stmt).scalars())

    def set_agencies(self, system_id: str, codes: Sequence[str]) -> None:
        sa_ = t.system_agencies
        self._run("replacing hosted agencies", sa_.delete().where(sa_.c.system_id == system_id))
        rows = [{"system_id": system_id, "agency_code": c} for c in sorted(set(codes))]
        if rows:
            # A foreign key failure here means the system does not exist: the caller's mistake.
            try:
                self.conn.execute(sa_.insert().values(rows))
            except exc.IntegrityError as err:
                raise NotFound(
                    f"no system {system_id}",
                    message_vi=f"không có hệ thống {system_id}",
                    code="system.unknown",
                ) from err
            except exc.DBAPIError as err:
                _unavailable(err, "replacing hosted agencies")

    def last_activity(self) -> Mapping[str, dt.datetime]:
        d, doc = t.deliveries, t.documents
        pushes = sa.select(doc.c.sender_system, sa.func.max(doc.c.received_at)).group_by(
            doc.c.sender_system
        )
        fetches = (
            sa.select(d.c.system_id, sa.func.max(d.c.fetched_at))
            .where(d.c.system_id.is_not(None), d.c.fetched_at.is_not(None))
            .group_by(d.c.system_id)
        )
        seen: dict[str, dt.datetime] = {}
        for stmt in (pushes, fetches):
            rows: Any = self._run("reading system activity", stmt).all()
            for system_id, at in rows:
                if at is not None and (system_id not in seen or at > seen[system_id]):
                    seen[system_id] = at
        return seen

    def hosting(self) -> Mapping[str, str]:
        sa_ = t.system_agencies
        stmt = sa.select(sa_.c.agency_code, sa_.c.system_id).order_by(
            sa_.c.agency_code, sa_.c.system_id
        )
        return {str(r.agency_code): str(r.system_id) for r in self._run("reading hosting", stmt)}


# ------------------------------------------------------------------------------- agencies

_AGENCY_COLUMNS = tuple(c.name for c in t.agencies.columns)


def _agency_upsert(insert: Any) -> Any:
    """``INSERT … ON CONFLICT (code) DO UPDATE`` with bound parameters: built once per
    dialect, not per row (building it is most of the cost of a registry import's row)."""
    stmt = insert(t.agencies)
    return stmt.on_conflict_do_update(
        index_elements=[t.agencies.c.code],
        set_={name: stmt.excluded[name] for name in _AGENCY_COLUMNS if name != "code"},
    )


_AGENCY_UPSERT = {
    "postgresql": _agency_upsert(postgresql.insert),
    "sqlite": _agency_upsert(sqlite.insert),
}


def _agency(r: Any) -> AgencyRow:
    values = {name: getattr(r, name) for name in _AGENCY_COLUMNS}
    values["deleted"] = bool(values["deleted"])
    return AgencyRow(**values)


class SqlAgencyRepository(_Repo):
    def upsert(self, row: AgencyRow) -> None:
        self.upsert_many([row])

    def upsert_many(self, rows: Sequence[AgencyRow]) -> None:
        if not rows:
            return
        values = [{name: getattr(row, name) for name in _AGENCY_COLUMNS} for row in rows]
        dialect = "postgresql" if self.conn.dialect.name == "postgresql" else "sqlite"
        self._run("storing agencies", _AGENCY_UPSERT[dialect], values)

    def get(self, code: str) -> AgencyRow | None:
        stmt = sa.select(t.agencies).where(t.agencies.c.code == code)
        r = self._run("reading an agency", stmt).first()
        return None if r is None else _agency(r)

    def list(self, *, include_deleted: bool = False) -> Sequence[AgencyRow]:
        stmt = sa.select(t.agencies).order_by(t.agencies.c.code)
        if not include_deleted:
            stmt = stmt.where(t.agencies.c.deleted == sa.false())
        return [_agency(r) for r in self._run("listing agencies", stmt)]


# --------------------------------------------------------------------------------- outbox


def _outbox(r: Any) -> OutboxRow:
    return OutboxRow(r.id, r.queue, bytes(r.body), r.created_at)


class SqlOutboxRepository(_Repo):
    def add(self, queue: str, body: bytes, created_at: dt.datetime) -> int:
        values = {"queue": queue, "body": body, "created_at": created_at}
        result = self._run("storing an outbox message", _INSERT_OUTBOX, values)
        key = result.inserted_primary_key
        if key is None:  # pragma: no cover - both backends report the new id
            raise InternalError("the database did not report the outbox id", code="store.no_id")
        return int(key[0])

    def add_many(self, messages: Sequence[tuple[str, bytes]], created_at: dt.datetime) -> None:
        """Store several ``(queue, body)`` messages in one statement (not in the port)."""
        if messages:
            values = [{"queue": q, "body": b, "created_at": created_at} for q, b in messages]
            self._run("storing outbox messages", _INSERT_OUTBOX, values)

    def pending(self, limit: int = 500) -> Sequence[OutboxRow]:
        stmt = sa.select(t.outbox).order_by(t.outbox.c.id).limit(limit)
        return [_outbox(r) for r in self._run("reading the outbox", stmt)]

    def claim(self, limit: int = 500) -> Sequence[OutboxRow]:
        """Like :meth:`pending`, but the rows stay locked for this transaction.

        On PostgreSQL rows another relay holds are skipped (``FOR UPDATE SKIP LOCKED``), so
        relays in several workers share the outbox without publishing a row twice at the same
        time. Publish, :meth:`delete`, then commit, all in the same unit of work; on a crash
        the locks vanish with the transaction and another relay takes the rows.
        """
        stmt = sa.select(t.outbox).order_by(t.outbox.c.id).limit(limit)
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return [_outbox(r) for r in self._run("claiming outbox messages", stmt)]

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            stmt = t.outbox.delete().where(t.outbox.c.id.in_(list(ids)))
            self._run("deleting outbox messages", stmt)

    def count(self) -> int:
        """Messages not yet published (for ``/metrics`` and ``lienthong queues``)."""
        stmt = sa.select(sa.func.count()).select_from(t.outbox)
        return int(self._run("counting the outbox", stmt).scalar_one())


# ---------------------------------------------------------------------------------- audit


class SqlAuditRepository(_Repo):
    def append(self, row: AuditRow) -> None:
        self._run("appending to the audit log", _INSERT_AUDIT, _audit_values(row))

    def append_many(self, rows: Sequence[AuditRow]) -> None:
        if rows:
            values = [_audit_values(row) for row in rows]
            self._run("appending to the audit log", _INSERT_AUDIT, values)

    def recent(
        self,
        *,
        subject: str | None = None,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
    ) -> Sequence[AuditRow]:
        stmt = sa.select(t.audit)
        if subject is not None:
            stmt = stmt.where(t.audit.c.subject == subject)
        if actor:
            stmt = stmt.where(t.audit.c.actor.startswith(actor, autoescape=True))
        if action:
            stmt = stmt.where(t.audit.c.action.startswith(action, autoescape=True))
        stmt = stmt.order_by(t.audit.c.id.desc()).limit(limit)
        result: Result[Any] = self._run("reading the audit log", stmt)
        return [
            AuditRow(r.at, r.actor, r.action, r.subject, r.outcome, r.details, r.id) for r in result
        ]


def _audit_values(row: AuditRow) -> dict[str, Any]:
    return {
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "outcome": row.outcome,
        "details": dict(row.details),
    }
