"""Alembic environment of the hub's store, configured from code (no ``alembic.ini``).

:func:`adapters.store.migrate.upgrade` builds the Alembic ``Config`` and either hands over an open
connection (``config.attributes["connection"]``, used by tests and the CLI) or a URL
(``sqlalchemy.url``); either way the engine comes from :func:`adapters.store.engine.create_engine`
so the SQLite pragmas (foreign keys, WAL) hold during migrations too. Offline (SQL script) mode is
not supported: migrations run against a live database, in one transaction where the backend
allows it (PostgreSQL and SQLite both have transactional DDL).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from adapters.store.engine import create_engine
from adapters.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table (named constraints).
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection or set sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run against a live database")
run_migrations_online()
