"""Units of work outside a transaction (``adapters.store.engine``, "Units of work outside a
transaction"): on PostgreSQL a read unit and a one-step unit send no ``BEGIN`` and no
``COMMIT``, and on both backends the engine holds each to its kind before the statement runs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import Engine

from adapters.store import tables as t
from adapters.store.engine import UNIT_OPTION
from adapters.store.uow import SqlStore, SqlUnitOfWork
from hub.edxml.model import MessageKind
from hub.errors import InternalError
from hub.ports import PackageRow
from tests.db_fixtures import migrated_engine_on

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with migrated_engine_on(request, request.param) as e:
        yield e


@pytest.fixture
def sqlite_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with migrated_engine_on(request, "sqlite") as e:
        yield e


@pytest.fixture
def pg_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with migrated_engine_on(request, "postgresql") as e:
        yield e


def package() -> PackageRow:
    return PackageRow(uuid.uuid4().hex * 2, 10, MessageKind.STATUS, T0)


def stored(engine: Engine, row: PackageRow) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(t.packages.c.digest).where(t.packages.c.digest == row.digest)
        )
        return found.first() is not None


def transaction_status(uow: SqlUnitOfWork) -> TransactionStatus:
    dbapi = uow.connection().connection.dbapi_connection
    assert dbapi is not None
    return TransactionStatus(dbapi.info.transaction_status)  # type: ignore[attr-defined]


@pytest.mark.integration
def test_read_and_step_units_hold_no_transaction_open_on_postgresql(pg_engine: Engine) -> None:
    store = SqlStore(pg_engine)
    for unit in (store.read_unit, store.step_unit):
        with unit() as uow:
            assert uow.packages.get("0" * 64) is None
            assert transaction_status(uow) is TransactionStatus.IDLE
    with store.unit_of_work() as uow:  # the general unit is a transaction, as before
        assert uow.packages.get("0" * 64) is None
        assert transaction_status(uow) is TransactionStatus.INTRANS


@pytest.mark.integration
def test_a_step_unit_s_one_write_is_committed_by_its_statement(pg_engine: Engine) -> None:
    """The write is durable before the unit ends: no COMMIT is needed (nor sent)."""
    store = SqlStore(pg_engine)
    row = package()
    with store.step_unit() as uow:
        assert uow.packages.add(row)
        assert stored(pg_engine, row)  # seen from another connection, the unit still open
        assert transaction_status(uow) is TransactionStatus.IDLE
    assert stored(pg_engine, row)


@pytest.mark.integration
def test_a_step_unit_refuses_a_second_write_before_it_runs(pg_engine: Engine) -> None:
    engine = pg_engine
    store = SqlStore(engine)
    first, second = package(), package()
    with store.step_unit() as uow:
        assert uow.packages.get(first.digest) is None  # reads before and between are free
        uow.packages.add(first)
        assert uow.packages.get(first.digest) is not None
        with pytest.raises(InternalError) as info:
            uow.packages.add(second)
    assert info.value.code == "store.step_wrote_twice"
    assert not stored(engine, second)
    assert stored(engine, first)  # committed by its own statement


def test_a_step_unit_on_sqlite_is_a_transaction(sqlite_engine: Engine) -> None:
    """SQLite has no data-modifying ``WITH``: a delivery's step is several statements there,
    so a step unit is an ordinary unit of work, all or nothing."""
    store = SqlStore(sqlite_engine)
    first, second = package(), package()

    def failing_step() -> None:
        with store.step_unit() as uow:
            uow.packages.add(first)
            uow.packages.add(second)
            raise RuntimeError("the step failed after its statements")

    with pytest.raises(RuntimeError):
        failing_step()
    assert not stored(sqlite_engine, first)
    assert not stored(sqlite_engine, second)


@pytest.mark.integration
def test_every_checkout_of_a_step_unit_may_write_once(pg_engine: Engine) -> None:
    """The mark of a step's write is the connection's; the pool hands the same connection to
    the next step unit, which must start unmarked."""
    engine = pg_engine
    store = SqlStore(engine)
    rows = [package() for _ in range(4)]
    for row in rows:
        with store.step_unit() as uow:
            uow.packages.add(row)
            uow.commit()
    assert all(stored(engine, row) for row in rows)


def test_a_read_unit_refuses_to_write(engine: Engine) -> None:
    store = SqlStore(engine)
    row = package()
    with pytest.raises(InternalError) as info, store.read_unit() as uow:
        uow.packages.add(row)
    assert info.value.code == "store.read_only"
    assert not stored(engine, row)


@pytest.mark.integration
def test_units_outside_a_transaction_refuse_to_take_a_lock(pg_engine: Engine) -> None:
    """``FOR UPDATE SKIP LOCKED`` (the outbox claim) outside a transaction would hold its rows
    for no time at all: refused before it runs, in either kind of unit."""
    store = SqlStore(pg_engine)
    for unit in (store.read_unit, store.step_unit):
        with pytest.raises(InternalError) as info, unit() as uow:
            uow.outbox.claim(10)
        assert info.value.code == "store.lock_outside_transaction"
    with store.unit_of_work() as uow:  # in a transaction the claim is what it always was
        assert uow.outbox.claim(10) == []


@pytest.mark.integration
def test_read_units_keep_the_statements_psycopg_prepared(pg_engine: Engine) -> None:
    """No ROLLBACK ever ends a read unit on PostgreSQL, so psycopg keeps what it prepared."""
    store = SqlStore(pg_engine)
    for _ in range(8):
        with store.read_unit() as uow:
            assert uow.packages.get("0" * 64) is None
    with pg_engine.connect() as conn:
        names = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %(pattern)s",
            {"pattern": "%FROM packages%"},
        ).scalar_one()
    assert names >= 1


def test_an_unknown_kind_of_unit_is_refused(engine: Engine) -> None:
    odd = engine.execution_options(**{UNIT_OPTION: "maybe"})
    with pytest.raises(ValueError, match="read, step"), SqlUnitOfWork(odd) as uow:
        uow.packages.get("0" * 64)
