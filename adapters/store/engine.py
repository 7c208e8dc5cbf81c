"""Building the database engine from a URL, and translating driver failures at the edge.

Two backends, one code path (DESIGN.md §3):

* **SQLite** (the embedded default, ``sqlite:///<data-dir>/hub.db``). Every new connection gets
  ``journal_mode=WAL`` (readers never block the writer), ``foreign_keys=ON`` (SQLite leaves them
  off by default), ``busy_timeout`` (a second writer waits instead of failing at once) and
  ``synchronous`` from :attr:`EngineOptions.sqlite_synchronous` (setting
  ``database.sqlite_synchronous``). ``FULL``, the default, syncs the WAL at every commit: what
  the hub answered (a DocId, an acknowledgement) survives a power loss. ``NORMAL`` syncs only
  at checkpoints — no committed transaction is lost on a process crash, but the last ones may
  be on power loss or an OS crash; faster, measured in ``bench/RESULTS-durability.md``.

  Hazard: Python's ``sqlite3`` module opens transactions lazily, before the first write, so the
  reads before it run outside the transaction. We switch the driver's own handling off and emit
  ``BEGIN IMMEDIATE`` ourselves when SQLAlchemy begins: the transaction then takes the write
  lock up front and waits (``busy_timeout``) for another writer, instead of failing with
  ``SQLITE_BUSY_SNAPSHOT`` when a read snapshot tries to become a write (a failure the busy
  handler cannot wait out). Read-only callers can ask for a deferred ``BEGIN`` with
  ``engine.execution_options(sqlite_begin="DEFERRED")``. The writers of one engine queue for
  the lock in the process (:mod:`adapters.store.write_gate`) rather than in SQLite's busy
  handler, which sleeps up to 100 ms between tries and so stretched every hand-over under load.

  ``engine.execution_options(sqlite_synchronous="NORMAL")`` relaxes the sync for the
  transactions of that caller only (the embedded broker's own bookkeeping). Safe for work that
  a later synced commit covers: the WAL is one log, replayed up to the first torn frame, so a
  power loss drops a *suffix* of commits — a relaxed commit is durable as soon as any later
  commit is synced, and one that is lost is as if it never ran (a claim or an ack redone).
  Never for a commit whose effect is announced before another synced commit (an answer).
* **PostgreSQL** through psycopg 3 (``postgresql+psycopg://…``), with a bounded pool and
  pre-ping so a restarted server costs one retry, not a stream of 503s. Only a connection that
  sat in the pool longer than :attr:`EngineOptions.ping_idle_s` is pinged: under load a
  connection is taken again within milliseconds, and a ping on every checkout was a round trip
  and a statement more for every unit of work (three per package exchanged). A connection that
  died within that second fails its first statement instead (one 503, answered as "try again");
  SQLAlchemy then invalidates every connection of the pool opened before the failure, so the
  next units of work reconnect. A replicated pair (or
  more) is named with libpq's multi-host form, ``postgresql://u@db1:5432,db2:5432/hub?
  target_session_attrs=read-write`` (rewritten here into the ``host=`` parameters SQLAlchemy
  passes to libpq): every new connection goes to whichever host is the primary now, so after a
  fail-over the pool's pre-ping drops the dead connections and new ones find the new primary.
  Durability across a fail-over is the server's: ``synchronous_commit = on`` with
  ``synchronous_standby_names`` set, so a commit (and so an answered push) is on the standby too.

  Hazard: psycopg forgets every statement it prepared on a connection (and sends
  ``DEALLOCATE ALL``) after each ``ROLLBACK`` — conservatively, since a rolled-back DDL may have
  changed what they name. Ending read-only transactions with ``ROLLBACK`` (what a unit of work
  and a plain ``engine.connect()`` do with a transaction left open) thus kept the hot statements
  from ever reaching psycopg's prepare threshold: PostgreSQL parsed, analysed and planned almost
  every statement afresh (≈ 30 % of its CPU under load). The engine notes whether a transaction
  ran anything but a ``SELECT`` (:func:`wrote_in_transaction`); a unit of work that leaves
  cleanly after reads only, and a reader in :func:`reading`, end with ``COMMIT``, which for a
  transaction without writes costs the server no WAL and no flush.

  Units of work outside a transaction. psycopg begins a transaction with a ``BEGIN`` of its
  own, a round trip before the first statement, and ends it with a ``COMMIT``, another. Under
  READ COMMITTED (the server's default, which the hub keeps) every statement sees its own
  snapshot anyway, so a unit that only reads, or reads and then writes *one* statement that is
  atomic by itself (a delivery's compare-and-set step, which carries its event and audit row in
  the same statement), means the same without them. Such units run on a connection in
  autocommit, with the execution option :data:`UNIT_OPTION` saying which kind they are
  (``adapters.store.uow.SqlStore``): a fetch or an acknowledgement then takes two round trips
  instead of four. The engine holds them to their kind before every statement
  (:func:`_check_unit`): a ``"read"`` unit may not write (on SQLite too, where it is a
  ``DEFERRED`` transaction), a ``"step"`` unit may not write twice (its first write is already
  committed), and neither may take a lock (``FOR UPDATE``, a transaction-scoped advisory lock),
  which would end with its statement.

No engine is created at import time: the composition root calls :func:`create_engine` once.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url

from adapters.store.write_gate import GatedConnection, WriteGate, gated_connect_args
from hub.errors import InternalError, StoreUnavailable

_SQLITE_BEGIN = {"IMMEDIATE", "DEFERRED", "EXCLUSIVE"}
#: Execution option of a unit of work outside a transaction: ``"read"`` or ``"step"`` (module
#: docstring, "Units of work outside a transaction").
UNIT_OPTION = "lienthong_unit"
_UNIT_KINDS = ("read", "step")
_STEP_WROTE = "lienthong_step_wrote"
_LOCKING = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(?:KEY\s+)?SHARE\b|\bpg_advisory_xact_lock",
    re.IGNORECASE,
)
_SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How the engine is tuned. The defaults suit one hub process with a thread pool."""

    busy_timeout_ms: int = 10_000
    """SQLite: how long a writer waits for the write lock before giving up."""
    pool_size: int = 10
    """Connections kept open (PostgreSQL and file SQLite)."""
    max_overflow: int = 10
    """Extra connections allowed under a burst, closed when returned."""
    pool_timeout_s: float = 30.0
    """How long a request waits for a free connection before failing with StoreUnavailable."""
    pool_recycle_s: int = 1800
    """PostgreSQL: reopen connections older than this (firewalls drop idle connections)."""
    ping_idle_s: float = 1.0
    """PostgreSQL: ping a connection taken from the pool after it sat idle this long (0: on
    every checkout); a dead one is replaced before the caller sees it."""
    echo: bool = False
    """Log every statement (debugging only: statements may carry document metadata)."""
    sqlite_synchronous: str = "FULL"
    """SQLite: ``FULL`` (every commit synced: nothing an answer promised is lost on power loss)
    or ``NORMAL`` (WAL synced at checkpoints: faster, may lose the last commits on power loss).
    Either case; stored upper-case."""

    def __post_init__(self) -> None:
        level = str(self.sqlite_synchronous).upper()
        if level not in _SQLITE_SYNCHRONOUS:
            raise ValueError(
                f"sqlite_synchronous must be one of {', '.join(_SQLITE_SYNCHRONOUS)} "
                f"(either case), not {self.sqlite_synchronous!r}"
            )
        object.__setattr__(self, "sqlite_synchronous", level)


def _json_dumps(value: Any) -> str:
    # Vietnamese text stays readable in the database (psql, sqlite3 shell) instead of \uXXXX.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def create_engine(url: str, options: EngineOptions | None = None) -> Engine:
    """Create the engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    Raises ``ValueError`` for any other backend: the hub is tested on these two only.
    """
    options = options or EngineOptions()
    parsed = make_url(_libpq_hosts(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(
            parsed,
            echo=options.echo,
            json_serializer=_json_dumps,
            pool_size=options.pool_size,
            max_overflow=options.max_overflow,
            pool_timeout=options.pool_timeout_s,
            connect_args=gated_connect_args(options.busy_timeout_ms / 1000),
        )
        _install_sqlite_hooks(engine, options)
        _install_unit_checks(engine)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = sa.create_engine(
            parsed,
            echo=options.echo,
            json_serializer=_json_dumps,
            pool_size=options.pool_size,
            max_overflow=options.max_overflow,
            pool_timeout=options.pool_timeout_s,
            pool_recycle=options.pool_recycle_s,
        )
        _install_idle_ping(engine, options.ping_idle_s)
        _install_write_tracking(engine)
        _install_unit_checks(engine)
        return engine
    raise ValueError(f"unsupported database URL backend {backend!r}: use sqlite or postgresql")


def _libpq_hosts(url: str) -> str:
    """``scheme://user@h1:p1,h2:p2/db?…`` → ``scheme://user@/db?host=h1:p1&host=h2:p2&…``
    (SQLAlchemy's URL parser takes one host; libpq takes several, as ``host`` parameters)."""
    scheme, sep, rest = url.partition("://")
    authority, _slash, tail = rest.partition("/")
    userinfo, at, hostlist = authority.rpartition("@")
    if not sep or "," not in hostlist:
        return url
    path, _qmark, query = tail.partition("?")
    hosts = "&".join(f"host={h.strip()}" for h in hostlist.split(",") if h.strip())
    query = f"{hosts}&{query}" if query else hosts
    return f"{scheme}://{userinfo}{at}/{path}?{query}"


def _install_idle_ping(engine: Engine, idle_s: float) -> None:
    """Pre-ping, only for a connection idle longer than ``idle_s`` (module docstring).

    SQLAlchemy's recipe for pessimistic disconnect handling: a ``checkout`` listener that
    raises :class:`sqlalchemy.exc.DisconnectionError` makes the pool drop that connection and
    check out another (up to three times)."""
    key = "lienthong_idle_since"

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[key] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(key, None)
        if since is None or time.monotonic() - since < idle_s:
            return  # just opened, or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError(f"idle connection lost: {err}") from err


_WROTE = "lienthong_wrote"


def _install_write_tracking(engine: Engine) -> None:
    """Mark the connection when its transaction runs a statement other than a ``SELECT``
    (module docstring); the mark ends with the transaction."""

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if _WROTE not in conn.info and _writes(statement):
            conn.info[_WROTE] = True

    def _forget(conn: Connection) -> None:
        if not conn.invalidated:  # an invalidated connection's info would reconnect to be read
            conn.info.pop(_WROTE, None)

    event.listen(engine, "begin", _forget)
    event.listen(engine, "commit", _forget)
    event.listen(engine, "rollback", _forget)


def _writes(statement: str) -> bool:
    """Whether ``statement`` may write: anything but a ``SELECT`` (a data-modifying ``WITH``
    included; a read-only one is counted as a write, which errs on the safe side), or the
    ``BEGIN`` and ``PRAGMA`` the SQLite hooks send to open a transaction."""
    head = statement.lstrip()[:6].upper()
    return head != "SELECT" and head != "PRAGMA" and not head.startswith("BEGIN")


@functools.lru_cache(maxsize=1024)
def _takes_lock(statement: str) -> bool:
    """Whether ``statement`` takes a row lock or a transaction-scoped advisory lock (the hub's
    statements are a few hundred compiled strings: the answer is kept per string)."""
    return _LOCKING.search(statement) is not None


def _install_unit_checks(engine: Engine) -> None:
    """Hold the units of work outside a transaction to their kind (module docstring)."""

    @event.listens_for(engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        record.info.pop(_STEP_WROTE, None)  # the connection's info outlives a checkout

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        unit = conn.get_execution_options().get(UNIT_OPTION)
        if unit is not None:
            _check_unit(conn, unit, statement)


def _check_unit(conn: Connection, unit: str, statement: str) -> None:
    """Refuse, before it runs, a statement a unit of work of kind ``unit`` may not run."""
    if unit not in _UNIT_KINDS:
        raise ValueError(f"{UNIT_OPTION} must be one of {', '.join(_UNIT_KINDS)}, not {unit!r}")
    if _takes_lock(statement):
        raise InternalError(
            f"a {unit} unit of work runs outside a transaction: the lock this statement takes "
            f"would end with it ({' '.join(statement.split())[:80]}…)",
            code="store.lock_outside_transaction",
        )
    if not _writes(statement):
        return
    if unit == "read":
        raise InternalError(
            f"a unit of work for reads tried to write ({' '.join(statement.split())[:80]}…)",
            code="store.read_only",
        )
    if _STEP_WROTE in conn.info:
        raise InternalError(
            "a one-step unit of work tried a second write, which could not be atomic with its "
            f"first, already committed ({' '.join(statement.split())[:80]}…)",
            code="store.step_wrote_twice",
        )
    conn.info[_STEP_WROTE] = True


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """``engine.connect()`` for callers that only read: its transaction ends with ``COMMIT``
    when nothing was written (module docstring), with ``ROLLBACK`` on an exception."""
    with engine.connect() as conn:
        yield conn
        if conn.in_transaction() and not wrote_in_transaction(conn):
            conn.commit()


def wrote_in_transaction(conn: Connection) -> bool:
    """Whether ``conn``'s transaction may have written: ``True`` unless the engine tracks writes
    (PostgreSQL) and every statement so far was a ``SELECT``."""
    return not is_postgresql(conn) or _WROTE in conn.info


def _install_sqlite_hooks(engine: Engine, options: EngineOptions) -> None:
    # one line of writers per engine, and per database file across processes
    # (adapters.store.write_gate)
    path = engine.url.database
    gate = WriteGate(f"{path}-writer.lock" if path else None)
    wait_s = options.busy_timeout_ms / 1000

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (see the module docstring).
        dbapi_connection.isolation_level = None
        if isinstance(dbapi_connection, GatedConnection):
            dbapi_connection.gate = gate
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(options.busy_timeout_ms)}")
            # Checked against _SQLITE_SYNCHRONOUS when the options were built.
            cursor.execute(f"PRAGMA synchronous={options.sqlite_synchronous}")
        finally:
            cursor.close()
        dbapi_connection.synchronous = options.sqlite_synchronous

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options_of = conn.get_execution_options()
        mode = str(options_of.get("sqlite_begin", "IMMEDIATE")).upper()
        if mode not in _SQLITE_BEGIN:
            raise ValueError(f"sqlite_begin must be one of {sorted(_SQLITE_BEGIN)}, not {mode!r}")
        level = str(options_of.get("sqlite_synchronous", options.sqlite_synchronous)).upper()
        if level not in _SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous must be FULL or NORMAL, not {level!r}")
        dbapi = conn.connection.dbapi_connection
        if not isinstance(dbapi, GatedConnection):  # pragma: no cover - connect_args set it
            conn.exec_driver_sql(f"BEGIN {mode}")
            return
        if dbapi.synchronous != level:  # outside a transaction, as it must be
            conn.exec_driver_sql(f"PRAGMA synchronous={level}")
            dbapi.synchronous = level
        gated = mode != "DEFERRED"
        if gated:
            try:
                dbapi.enter_gate(wait_s, urgent=bool(options_of.get("sqlite_write_urgent")))
            except sqlite3.OperationalError as err:  # surfaces as StoreUnavailable
                raise exc.OperationalError(f"BEGIN {mode}", None, err) from err
        try:
            conn.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            if gated:
                dbapi.leave_gate()
            raise


def is_postgresql(conn: Connection | Engine) -> bool:
    """True when ``conn`` talks to PostgreSQL (``FOR UPDATE SKIP LOCKED`` is available)."""
    return conn.dialect.name == "postgresql"


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn driver failures into :class:`hub.errors.StoreUnavailable`, once, at the edge.

    ``IntegrityError`` is *not* translated: it means a unique key fired, and the repository
    that knows which key decides what that means (a duplicate push, a conflict). Every other
    DBAPI error (connection lost, lock timeout, serialization failure, disk full) becomes a 503
    and the work is retried; nothing accepted is lost because nothing was committed.
    """
    try:
        yield
    except exc.IntegrityError:
        raise
    except exc.DBAPIError as err:
        raise StoreUnavailable(
            f"database unavailable while {action}: {type(err.orig).__name__}",
            message_vi=f"cơ sở dữ liệu không sẵn sàng khi {action}",
            details={"action": action, "backend_error": type(err.orig).__name__},
        ) from err
    except exc.TimeoutError as err:  # pool exhausted
        raise StoreUnavailable(
            f"no database connection free while {action}",
            message_vi=f"hết kết nối cơ sở dữ liệu khi {action}",
            details={"action": action},
        ) from err


def database_size(engine: Engine) -> int | None:
    """The database's size in bytes: ``pg_database_size`` on PostgreSQL; on SQLite the file
    with its WAL and shared-memory files (``None`` for an in-memory database)."""
    if is_postgresql(engine):
        with translate_errors("reading the database size"), engine.connect() as conn:
            size = conn.execute(sa.text("SELECT pg_database_size(current_database())"))
            return int(size.scalar_one())
    name = engine.url.database
    if not name or name == ":memory:":
        return None
    files = (Path(name), Path(name + "-wal"), Path(name + "-shm"))
    return sum(f.stat().st_size for f in files if f.exists())
