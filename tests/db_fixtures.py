"""Database fixtures shared by every suite that needs a real store (a pytest plugin).

* ``sqlite_url`` — a fresh SQLite file in the test's temporary directory.
* ``postgres_url`` — a database ``lienthong_test_<random>`` created on the test server
  (``LIENTHONG_TEST_PG``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) for the
  session and dropped at its end. An unreachable server FAILS the test with the reason: the test
  command starts PostgreSQL, and a skipped store suite would look like a passing one.
* ``db_url`` — parametrized over ``sqlite`` and ``postgresql`` (the latter marked
  ``integration``): the same test runs on both backends.
* ``empty_db_url`` — like ``db_url``, but a database of its own that nothing has migrated yet
  (migration tests).
* ``migrated_engine`` — an engine on ``db_url`` migrated to head by Alembic (never
  ``create_all``), emptied after the test.
* ``migrated_engine_on(request, backend)`` — the same as a context manager, for suites with a
  parametrization of their own (``tests/unit/hub/conftest.py``'s ``uow_factory``).
* ``sql_store`` / ``sql_uow_factory`` — the SQL unit of work on ``migrated_engine``: plug
  ``sql_uow_factory`` where a suite wants a ``hub.ports.UnitOfWorkFactory`` on real databases.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from adapters.store import migrate
from adapters.store.engine import create_engine
from adapters.store.uow import SqlStore
from hub.ports import UnitOfWorkFactory

PG_SERVER_URL = os.environ.get(
    "LIENTHONG_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
]


class PostgresServer:
    """Creates throwaway databases on the test server and drops them all at the end."""

    def __init__(self, server_url: str) -> None:
        self._url = make_url(server_url)
        self._admin = sa.create_engine(
            self._url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )
        self.created: list[str] = []

    def check(self) -> None:
        try:
            with self._admin.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as err:
            pytest.fail(
                f"PostgreSQL is not reachable at {self._url.render_as_string(hide_password=True)}"
                f" ({err.orig}). Start it (the test command does) or point LIENTHONG_TEST_PG at"
                " a server; the store suite does not skip.",
                pytrace=False,
            )

    def create(self) -> str:
        name = f"lienthong_test_{secrets.token_hex(6)}"
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self._url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._admin.connect() as conn:
            for name in self.created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.clear()
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(PG_SERVER_URL)
    server.check()
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database of this session on the test PostgreSQL server (dropped at the end)."""
    return postgres_server.create()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for this test."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """A database URL on each backend in turn (PostgreSQL: the session's shared database)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nothing has touched yet, on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Migrating once and copying the file is ~20× faster than migrating for every test.
    path = tmp_path_factory.mktemp("sqlite-template") / "hub.db"
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    # Closing the last connection checkpoints the WAL into the main file and removes it.
    engine.dispose()
    assert not path.with_name(path.name + "-wal").exists(), "WAL left beside the template"
    return path


_MIGRATED: set[str] = set()


def _empty_all_tables(engine: Engine) -> None:
    names = [n for n in sa.inspect(engine).get_table_names() if n != "alembic_version"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{n}"' for n in names)
            conn.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        else:
            reflected = sa.MetaData()
            reflected.reflect(conn)
            for table in reversed(reflected.sorted_tables):
                if table.name != "alembic_version":
                    conn.execute(table.delete())


@contextmanager
def migrated_engine_on(
    request: pytest.FixtureRequest, backend: str, sqlite_file: Path | None = None
) -> Iterator[Engine]:
    """An engine on a database of ``backend`` ("sqlite" | "postgresql") at head, for one test.

    SQLite: a fresh file (``sqlite_file``, else a new name in the test's tmp dir) copied from the
    session's migrated template.
    PostgreSQL: the session database (migrated once), emptied when the block ends. For suites
    with their own parametrization (e.g. a ``uow_factory`` that also covers the in-memory fake).
    """
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        target = sqlite_file
        if target is None:
            tmp: Path = request.getfixturevalue("tmp_path")
            target = tmp / f"hub-{secrets.token_hex(4)}.db"
        shutil.copyfile(template, target)
        engine = create_engine(f"sqlite:///{target}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    url = str(request.getfixturevalue("postgres_url"))
    engine = create_engine(url)
    if url not in _MIGRATED:
        migrate.upgrade(engine)
        _MIGRATED.add(url)
    try:
        yield engine
    finally:
        _empty_all_tables(engine)
        engine.dispose()


@pytest.fixture
def migrated_engine(db_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on ``db_url`` with the schema at head (by Alembic); emptied afterwards."""
    if db_url.startswith("sqlite"):
        with migrated_engine_on(request, "sqlite", Path(make_url(db_url).database or "")) as e:
            yield e
        return
    with migrated_engine_on(request, "postgresql") as engine:
        yield engine


@pytest.fixture
def sql_store(migrated_engine: Engine) -> SqlStore:
    return SqlStore(migrated_engine)


@pytest.fixture
def sql_uow_factory(sql_store: SqlStore) -> UnitOfWorkFactory:
    """A ``hub.ports.UnitOfWorkFactory`` on a migrated database (each backend in turn)."""
    return sql_store.unit_of_work
