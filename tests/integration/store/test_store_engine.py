"""The engine's promises: SQLite pragmas on every connection, writers that wait for each other
instead of failing, driver failures surfacing as ``StoreUnavailable``, and compare-and-set that
lets exactly one of several racing workers win."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.store import migrate
from adapters.store import tables as t
from adapters.store.engine import EngineOptions, create_engine, reading
from adapters.store.uow import SqlStore
from hub.edxml.model import MessageKind
from hub.errors import StoreUnavailable
from hub.ports import DeliveryEvent, DeliveryRow, DocumentRow, PackageRow
from tests.db_fixtures import migrated_engine_on

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def intake(store: SqlStore, n: int) -> None:
    """One intake-shaped transaction (package, document, 3 deliveries, events, outbox)."""
    digest = f"{n:064x}"
    doc = DocumentRow(
        str(uuid.uuid4()), digest, MessageKind.EDOC, f"DOC-{n}", "000.00.00.H41", "qlvb-a", 0,
        None, "Công văn số " + str(n), None, None, {}, [], [], T0,
    )  # fmt: skip
    with store.unit_of_work() as uow:
        uow.packages.add(PackageRow(digest, 10, MessageKind.EDOC, T0))
        uow.documents.add(doc)
        for code in ("A", "B", "C"):
            row = DeliveryRow(
                str(uuid.uuid4()), doc.id, code, None, "local", None, "qlvb-b", "queued", 0,
                None, None, None, None, None, T0, T0,
            )  # fmt: skip
            uow.deliveries.add(row)
            uow.deliveries.add_event(DeliveryEvent(row.id, T0, None, "queued"))
        uow.outbox.add("lienthong.dispatch", b"{}", T0)
        uow.commit()


def test_sqlite_connections_carry_the_pragmas(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url, EngineOptions(busy_timeout_ms=1234))
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 1234,
        "synchronous": 2,
    }  # fmt: skip  (FULL, the default)


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_engine("mysql://root@localhost/hub")


def test_concurrent_intakes_all_commit(migrated_engine: Engine) -> None:
    # SQLite: BEGIN IMMEDIATE + busy_timeout make writers queue instead of failing with
    # "database is locked"; PostgreSQL: plain concurrency. Either way all 64 land.
    store = SqlStore(migrated_engine)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: intake(store, n), range(64)))
    with store.unit_of_work() as uow:
        assert len(uow.outbox.pending(1000)) == 64
        assert len(uow.documents.sent_by("qlvb-a", limit=1000)) == 64


def test_racing_compare_and_set_has_exactly_one_winner(migrated_engine: Engine) -> None:
    store = SqlStore(migrated_engine)
    intake(store, 1)
    with store.unit_of_work() as uow:
        row = uow.deliveries.in_state("queued", limit=1)[0]
    barrier = threading.Barrier(6)

    def claim(worker: int) -> bool:
        changed = dataclasses.replace(row, state="forwarding", last_error=f"worker {worker}")
        barrier.wait()
        with store.unit_of_work() as uow:
            won = uow.deliveries.save(changed, expected_state="queued")
            uow.commit()
        return won

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(claim, range(6)))
    assert results.count(True) == 1


def test_unreachable_postgresql_is_store_unavailable() -> None:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2")
    try:
        with pytest.raises(StoreUnavailable) as info, SqlStore(engine).unit_of_work() as uow:
            uow.packages.get("0" * 64)
        assert info.value.code == "store.unavailable"
        assert info.value.http_status == 503
    finally:
        engine.dispose()


def test_unopenable_sqlite_file_is_store_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'hub.db'}")
    try:
        with pytest.raises(StoreUnavailable), SqlStore(engine).unit_of_work() as uow:
            uow.packages.get("0" * 64)
        with pytest.raises(StoreUnavailable):
            migrate.upgrade(engine)
    finally:
        engine.dispose()


def test_sqlite_writer_that_cannot_get_the_lock_is_store_unavailable(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    holder = create_engine(sqlite_url)
    waiter = create_engine(sqlite_url, EngineOptions(busy_timeout_ms=200))
    try:
        with SqlStore(holder).unit_of_work() as held:
            held.outbox.add("q", b"held", T0)  # holds SQLite's write lock until the end
            with pytest.raises(StoreUnavailable), SqlStore(waiter).unit_of_work() as uow:
                uow.outbox.add("q", b"blocked", T0)
            held.commit()
    finally:
        holder.dispose()
        waiter.dispose()


def test_sqlite_deferred_readers_do_not_wait_for_a_writer(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    holder = create_engine(sqlite_url)
    reader = create_engine(sqlite_url, EngineOptions(busy_timeout_ms=200))
    try:
        with SqlStore(holder).unit_of_work() as uow:
            uow.outbox.add("q", b"committed", T0)
            uow.commit()
        with SqlStore(holder).unit_of_work() as held:
            held.outbox.add("q", b"in flight", T0)  # the write lock is taken
            deferred = SqlStore(reader.execution_options(sqlite_begin="DEFERRED"))
            with deferred.unit_of_work() as uow:  # WAL: reads the last committed snapshot
                assert [m.body for m in uow.outbox.pending()] == [b"committed"]
            with pytest.raises(StoreUnavailable), SqlStore(reader).unit_of_work() as uow:
                uow.outbox.pending()  # the default BEGIN IMMEDIATE waits for the writer
    finally:
        holder.dispose()
        reader.dispose()


@pytest.mark.integration
def test_a_multi_host_url_connects_to_the_host_that_is_a_writable_primary() -> None:
    """libpq's multi-host form (a replicated pair): the first host is down, the second is the
    primary; ``target_session_attrs=read-write`` makes libpq skip what it cannot write to."""
    from sqlalchemy.engine import make_url

    from tests.db_fixtures import PG_SERVER_URL

    server = make_url(PG_SERVER_URL)
    down = "127.0.0.1:1"  # nothing listens on port 1
    url = (
        f"postgresql+psycopg://{server.username}@{down},{server.host}:{server.port or 5432}"
        f"/{server.database}?target_session_attrs=read-write"
    )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            port, standby = conn.exec_driver_sql(
                "SELECT inet_server_port(), pg_is_in_recovery()"
            ).one()
        assert (port, standby) == (server.port or 5432, False)
    finally:
        engine.dispose()


def _backend_pids(engine: Engine) -> set[int]:
    """The server process behind the engine's one pooled connection (back in the pool after)."""
    with engine.connect() as conn:
        return {conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()}


def _terminate(pids: set[int]) -> None:
    from tests.db_fixtures import PG_SERVER_URL

    admin = create_engine(PG_SERVER_URL)
    try:
        with admin.connect() as conn:
            for pid in pids:
                assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar_one()
    finally:
        admin.dispose()


def test_a_connection_idle_past_the_threshold_is_pinged_and_replaced(postgres_url: str) -> None:
    """The server dropped the pooled connection while it sat idle: the checkout's ping finds it
    dead and the pool hands out a new one — the caller never sees the failure."""
    engine = create_engine(postgres_url, EngineOptions(pool_size=1, ping_idle_s=0.2))
    try:
        pids = _backend_pids(engine)
        _terminate(pids)
        time.sleep(0.4)
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        assert pid not in pids
    finally:
        engine.dispose()


@pytest.fixture
def migrated_postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The session's PostgreSQL database at head (emptied afterwards), for tests that build an
    engine of their own on it."""
    with migrated_engine_on(request, "postgresql") as engine:
        yield engine.url.render_as_string(hide_password=False)


def test_a_connection_lost_within_the_threshold_fails_once_then_the_pool_reconnects(
    migrated_postgres_url: str,
) -> None:
    """The trade made for load (no ping for a connection used a moment ago): its first
    statement fails as StoreUnavailable (HTTP 503, "try again"), and the pool drops every
    connection of that generation, so the next unit of work runs on a new one."""
    engine = create_engine(migrated_postgres_url, EngineOptions(pool_size=1, ping_idle_s=60))
    store = SqlStore(engine)
    try:
        pids = _backend_pids(engine)
        _terminate(pids)
        with pytest.raises(StoreUnavailable), store.unit_of_work() as uow:
            uow.packages.get("0" * 64)
        with store.unit_of_work() as uow:
            assert uow.packages.get("0" * 64) is None
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() not in pids
    finally:
        engine.dispose()


def _prepared_count(engine: Engine, table: str) -> int:
    """Statements over ``table`` the server holds prepared for the pool's one connection."""
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %(pattern)s",
            {"pattern": f"%FROM {table}%"},
        ).scalar_one()


def test_units_of_work_that_only_read_keep_the_connection_s_prepared_statements(
    migrated_postgres_url: str,
) -> None:
    """psycopg prepares a statement on its fifth run on a connection, and forgets every one
    after a ROLLBACK: read-only units of work end with COMMIT, so the hot reads get prepared."""
    engine = create_engine(migrated_postgres_url, EngineOptions(pool_size=1, max_overflow=0))
    store = SqlStore(engine)
    try:
        for _ in range(8):
            with store.unit_of_work() as uow:
                assert uow.packages.get("0" * 64) is None
        assert _prepared_count(engine, "packages") == 1
    finally:
        engine.dispose()


def test_a_unit_of_work_that_wrote_still_rolls_back_what_it_did_not_commit(
    migrated_postgres_url: str,
) -> None:
    """Only reads end with COMMIT: a write left uncommitted is undone, also when the unit
    leaves without an exception."""
    engine = create_engine(migrated_postgres_url, EngineOptions(pool_size=1, max_overflow=0))
    store = SqlStore(engine)
    digest = uuid.uuid4().hex * 2
    try:
        with store.unit_of_work() as uow:
            assert uow.packages.get(digest) is None  # a read first: the write must still count
            uow.packages.add(PackageRow(digest, 10, MessageKind.EDOC, T0))
        with store.unit_of_work() as uow:
            assert uow.packages.get(digest) is None
    finally:
        engine.dispose()


def test_reading_connections_end_with_commit_and_keep_the_prepared_statements(
    migrated_postgres_url: str,
) -> None:
    """The readers outside a unit of work (sealers, blob readers, health) go through
    ``reading``: after reads only it commits, so the connection keeps what psycopg prepared."""
    engine = create_engine(migrated_postgres_url, EngineOptions(pool_size=1, max_overflow=0))
    probe = sa.select(t.audit.c.id).where(t.audit.c.subject == sa.bindparam("subject"))
    try:
        for _ in range(8):
            with reading(engine) as conn:
                assert conn.execute(probe, {"subject": "nothing"}).first() is None
        assert _prepared_count(engine, "audit") == 1

        def failing_reader() -> None:
            with reading(engine) as conn:
                conn.execute(probe, {"subject": "nothing"})
                raise RuntimeError("a reader failed")

        with pytest.raises(RuntimeError):
            failing_reader()
        assert _prepared_count(engine, "audit") == 0  # rolled back: psycopg let them go
    finally:
        engine.dispose()
