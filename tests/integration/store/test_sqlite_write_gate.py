"""The writers of one SQLite engine queue in the process (``adapters.store.write_gate``), and a
caller may relax the sync of its own commits: what the engine promises about both."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine

from adapters.store import migrate
from adapters.store.engine import EngineOptions, create_engine
from adapters.store.uow import SqlStore
from hub.errors import StoreUnavailable

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
FULL, NORMAL = 2, 1  # what PRAGMA synchronous answers


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_url)
    engine = create_engine(sqlite_url, EngineOptions(busy_timeout_ms=300))
    yield engine
    engine.dispose()


def _outbox(engine: Engine) -> list[bytes]:
    with SqlStore(engine).unit_of_work() as uow:
        return [m.body for m in uow.outbox.pending(1000)]


def test_a_second_writer_of_the_same_engine_waits_then_fails_as_locked(engine: Engine) -> None:
    store = SqlStore(engine)
    with store.unit_of_work() as held:
        held.outbox.add("q", b"held", T0)  # holds the gate and SQLite's lock until the end
        with ThreadPoolExecutor(max_workers=1) as pool:  # another thread, same engine
            waiting = pool.submit(lambda: _outbox(engine))
            with pytest.raises(StoreUnavailable) as caught:
                waiting.result(timeout=10)
        held.commit()
    assert caught.value.details["backend_error"] == "OperationalError"
    assert _outbox(engine) == [b"held"]  # and the gate was handed back by the commit


def test_a_waiting_writer_goes_on_when_the_holder_commits(engine: Engine) -> None:
    store = SqlStore(engine)
    started = threading.Event()

    def second() -> list[bytes]:
        started.set()
        with store.unit_of_work() as uow:
            uow.outbox.add("q", b"second", T0)
            uow.commit()
        return _outbox(engine)

    with ThreadPoolExecutor(max_workers=1) as pool:
        with store.unit_of_work() as held:
            held.outbox.add("q", b"first", T0)
            waiting = pool.submit(second)
            started.wait(5)
            held.commit()
        assert waiting.result(timeout=10) == [b"first", b"second"]


def test_a_rolled_back_or_failed_transaction_gives_the_gate_back(engine: Engine) -> None:
    store = SqlStore(engine)
    with store.unit_of_work() as uow:  # left without commit: rolled back
        uow.outbox.add("q", b"dropped", T0)

    def failing() -> None:
        with store.unit_of_work() as uow:
            uow.outbox.add("q", b"dropped too", T0)
            raise RuntimeError("the service failed mid-transaction")

    with pytest.raises(RuntimeError):
        failing()
    with ThreadPoolExecutor(max_workers=1) as pool:  # another thread would wait 300 ms and fail
        assert pool.submit(lambda: _outbox(engine)).result(timeout=10) == []


def test_deferred_readers_do_not_take_the_gate(engine: Engine) -> None:
    deferred = SqlStore(engine.execution_options(sqlite_begin="DEFERRED"))
    with SqlStore(engine).unit_of_work() as held:
        held.outbox.add("q", b"in flight", T0)
        with ThreadPoolExecutor(max_workers=1) as pool:

            def read() -> int:
                with deferred.unit_of_work() as uow:
                    return len(uow.outbox.pending())

            assert pool.submit(read).result(timeout=10) == 0  # the last committed snapshot
        held.commit()


def _synchronous_in_transaction(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


def test_a_caller_may_relax_the_sync_of_its_own_commits_only(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url, EngineOptions(pool_size=1, max_overflow=0))
    relaxed = engine.execution_options(sqlite_synchronous="NORMAL")
    try:
        # One pooled connection serves all three: the level follows the caller, not the
        # connection's history.
        assert _synchronous_in_transaction(engine) == FULL
        assert _synchronous_in_transaction(relaxed) == NORMAL
        assert _synchronous_in_transaction(engine) == FULL
        with pytest.raises(ValueError, match="sqlite_synchronous"):
            _synchronous_in_transaction(engine.execution_options(sqlite_synchronous="OFF"))
    finally:
        engine.dispose()


def test_urgent_writers_are_accepted_and_write(engine: Engine) -> None:
    urgent = SqlStore(engine.execution_options(sqlite_write_urgent=True))
    with urgent.unit_of_work() as uow:
        uow.outbox.add("q", b"moved on", T0)
        uow.commit()
    assert _outbox(engine) == [b"moved on"]
