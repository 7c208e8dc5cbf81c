"""The migrations are the schema authority: they go up and down on both backends, and the
schema they build is exactly what ``adapters/store/tables.py`` describes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapters.store import migrate, tables
from adapters.store.engine import create_engine

CORE_TABLES = {t.name for t in tables.ALL_TABLES}


def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_every_core_table(empty_db_url: str) -> None:
    assert migrate.current_revision(empty_db_url) is None
    migrate.upgrade(empty_db_url)
    assert migrate.is_up_to_date(empty_db_url)
    assert CORE_TABLES | {"alembic_version"} <= _table_names(empty_db_url)


def test_upgrade_twice_is_a_no_op(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    migrate.upgrade(empty_db_url)
    assert migrate.current_revision(empty_db_url) == migrate.head_revision()


def test_downgrade_to_base_removes_everything_and_upgrade_again_works(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    migrate.downgrade(empty_db_url, "base")
    assert migrate.current_revision(empty_db_url) is None
    assert _table_names(empty_db_url) <= {"alembic_version"}
    migrate.upgrade(empty_db_url)
    assert _table_names(empty_db_url) >= CORE_TABLES


def test_migrated_schema_matches_tables_module(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    engine = create_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": False,
                    # Tables owned by other modules' migrations (the embedded broker's, 0002)
                    # are described there, not in tables.py.
                    "include_name": lambda name, type_, parent: (
                        type_ != "table" or name in CORE_TABLES
                    ),
                },
            )
            diff = compare_metadata(context, tables.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_core_revision_is_0001_and_base_of_the_chain() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    base = scripts.get_revision("0001")
    assert base is not None
    assert base.down_revision is None
    assert scripts.get_bases() == ["0001"]


def test_schema_comparison_notices_a_drift(empty_db_url: str) -> None:
    # The check above must be able to fail: a column tables.py has and the migration lacks.
    drifted = sa.MetaData(naming_convention=tables.NAMING_CONVENTION)
    for table in tables.ALL_TABLES:
        table.to_metadata(drifted)
    drifted.tables["outbox"].append_column(sa.Column("priority", sa.Integer))
    migrate.upgrade(empty_db_url)
    engine = create_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, drifted)
    finally:
        engine.dispose()
    assert [d[0] for d in diff if d[0] == "add_column"] == ["add_column"]


def test_package_bodies_are_compressed_with_lz4_on_postgresql(postgres_url: str) -> None:
    # 0021: new bodies kept in rows are written with LZ4 (pglz cost 2–3× the server CPU);
    # down to 0020 the column is back on the server's default method.
    def method() -> str:
        engine = create_engine(postgres_url)
        try:
            with engine.connect() as conn:
                return conn.execute(
                    sa.text(
                        "SELECT attcompression FROM pg_attribute "
                        "WHERE attrelid = 'packages'::regclass AND attname = 'body'"
                    )
                ).scalar_one()
        finally:
            engine.dispose()

    migrate.upgrade(postgres_url)
    assert method() == "l"  # this server offers LZ4 (Debian's build); a server without it: ""
    migrate.downgrade(postgres_url, "0020")
    assert method() == ""
