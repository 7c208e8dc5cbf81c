"""Running the Alembic migrations from code — what ``lienthong db upgrade`` calls.

No ``alembic.ini``: the configuration is built here and ``script_location`` points at the
``migrations`` folder inside this package, so the same call works from a checkout and from an
installed wheel. The migrations are the only schema authority (nothing calls
``metadata.create_all``); :func:`upgrade` is idempotent (a database at head is left alone).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from adapters.store.engine import create_engine, translate_errors

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic configuration for this package's migrations, bound to a connection or URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolation: a literal "%" in a password must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _target(target: str | Engine) -> tuple[Engine, bool]:
    if isinstance(target, str):
        return create_engine(target), True
    return target, False


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL or an engine) up to ``revision``."""
    engine, owned = _target(target)
    try:
        with translate_errors("migrating the schema"), engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        if owned:
            engine.dispose()


def downgrade(target: str | Engine, revision: str) -> None:
    """Migrate the database at ``target`` down to ``revision`` (``"base"`` drops everything)."""
    engine, owned = _target(target)
    try:
        with translate_errors("migrating the schema"), engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision)
    finally:
        if owned:
            engine.dispose()


def current_revision(target: str | Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    engine, owned = _target(target)
    try:
        with translate_errors("reading the schema revision"), engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError("no migrations shipped")
    return head


def is_up_to_date(target: str | Engine) -> bool:
    """True when the database is at the shipped head (what ``/readyz`` can check)."""
    return current_revision(target) == head_revision()
