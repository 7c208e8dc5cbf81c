"""The SQL unit of work: one connection, one transaction, every repository.

Use (``hub.ports.UnitOfWork``)::

    store = SqlStore(engine)
    with store.unit_of_work() as uow:
        uow.packages.add(...)
        uow.documents.add(...)
        uow.commit()

Theory of operation. Entering opens nothing yet: the connection is checked out of the pool and
the transaction begun (SQLAlchemy 2 "autobegin"; on SQLite ``BEGIN IMMEDIATE``, see
:mod:`adapters.store.engine`) when the first repository call runs, so an operation that fails
before touching the database never holds a connection or SQLite's write lock. :meth:`commit`
ends the transaction; like the in-memory store, the unit stays usable and a later call starts a
new transaction. Leaving the ``with`` block rolls back whatever was not committed (also after an
exception) and returns the connection to the pool. A transaction that only read and is left
without an exception ends with ``COMMIT`` instead — the same outcome, but psycopg keeps the
statements it prepared (:mod:`adapters.store.engine`).

A failed commit (connection lost, serialization failure, disk full) raises
:class:`hub.errors.StoreUnavailable`: the caller answers 503 and nothing is half-stored.

Three kinds of unit (:class:`SqlStore`): :meth:`~SqlStore.unit_of_work`, the general one;
:meth:`~SqlStore.read_unit` for reads alone; :meth:`~SqlStore.step_unit` for reads and at most
one write that is atomic by itself (a delivery's state step). On PostgreSQL the last two run
outside a transaction, which saves the ``BEGIN`` and ``COMMIT`` round trips; the engine refuses
a statement that breaks their rule (:mod:`adapters.store.engine`, "Units of work outside a
transaction"). On SQLite a read unit's transaction is ``DEFERRED`` (it never queues for the
write lock) and is held to the same rule; a step unit is an ordinary unit of work, since a
delivery's step takes several statements there (SQLite has no data-modifying ``WITH``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from adapters.store.activity import SqlActivityRepository
from adapters.store.engine import (
    UNIT_OPTION,
    is_postgresql,
    translate_errors,
    wrote_in_transaction,
)
from adapters.store.inbound import SqlInboundRepository
from adapters.store.repositories import (
    SqlAgencyRepository,
    SqlAuditRepository,
    SqlDeliveryRepository,
    SqlDocumentRepository,
    SqlOutboxRepository,
    SqlPackageRepository,
    SqlSystemRepository,
)
from hub.errors import InternalError, StoreUnavailable


class SqlUnitOfWork:
    """One transaction over every repository (see the module docstring)."""

    packages: SqlPackageRepository
    documents: SqlDocumentRepository
    deliveries: SqlDeliveryRepository
    systems: SqlSystemRepository
    agencies: SqlAgencyRepository
    outbox: SqlOutboxRepository
    audit: SqlAuditRepository
    inbound: SqlInboundRepository
    activity: SqlActivityRepository

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._entered = False
        self.packages = SqlPackageRepository(self.connection)
        self.documents = SqlDocumentRepository(self.connection)
        self.deliveries = SqlDeliveryRepository(self.connection)
        self.systems = SqlSystemRepository(self.connection)
        self.agencies = SqlAgencyRepository(self.connection)
        self.outbox = SqlOutboxRepository(self.connection)
        self.audit = SqlAuditRepository(self.connection)
        self.inbound = SqlInboundRepository(self.connection)
        self.activity = SqlActivityRepository(self.connection)

    def connection(self) -> Connection:
        """The unit's connection, checked out of the pool on first use."""
        if not self._entered:
            raise InternalError("unit of work used outside its with-block", code="store.closed")
        if self._conn is None:
            with translate_errors("connecting to the database"):
                self._conn = self._engine.connect()
        return self._conn

    def __enter__(self) -> Self:
        if self._entered:
            raise InternalError("unit of work entered twice", code="store.reentered")
        self._entered = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        self._entered = False
        if conn is None:
            return
        try:
            if conn.in_transaction():
                if exc_type is None and not wrote_in_transaction(conn):
                    conn.commit()  # reads only: nothing to undo, and the prepared statements stay
                else:
                    conn.rollback()
        except exc.DBAPIError as err:
            # The connection is already broken (usually why we are leaving); closing it below
            # invalidates it in the pool. Never mask the exception that is propagating.
            if exc_type is None:
                raise StoreUnavailable(
                    "database unavailable while ending the transaction",
                    message_vi="cơ sở dữ liệu không sẵn sàng khi kết thúc giao dịch",
                ) from err
        finally:
            conn.close()

    def commit(self) -> None:
        """Make everything since the last commit durable (no-op when nothing was done)."""
        if self._conn is not None and self._conn.in_transaction():
            with translate_errors("committing"):
                self._conn.commit()

    def rollback(self) -> None:
        """Discard everything since the last commit."""
        if self._conn is not None and self._conn.in_transaction():
            with translate_errors("rolling back"):
                self._conn.rollback()


class SqlStore:
    """Makes SQL units of work over one engine (``uow_factory = SqlStore(engine).unit_of_work``;
    the three kinds in the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reads: Engine
        self._step: Engine
        if is_postgresql(engine):
            untransacted = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._reads = untransacted.execution_options(**{UNIT_OPTION: "read"})
            self._step = untransacted.execution_options(**{UNIT_OPTION: "step"})
        else:
            self._reads = engine.execution_options(sqlite_begin="DEFERRED", **{UNIT_OPTION: "read"})
            self._step = engine  # a transaction: its step may take several statements here

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    def read_unit(self) -> SqlUnitOfWork:
        """A unit of work that only reads."""
        return SqlUnitOfWork(self._reads)

    def step_unit(self) -> SqlUnitOfWork:
        """A unit of work that reads and then writes at most one statement, atomic by itself."""
        return SqlUnitOfWork(self._step)
