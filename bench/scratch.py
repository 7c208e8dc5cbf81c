"""A throw-away PostgreSQL database for one bench run.

Every PostgreSQL bench measures on a database of its own, made empty before the run and
dropped after it (even when the run fails), so runs never see each other's rows.
Imported by the bench scripts as ``from scratch import scratch_database`` (``python
bench/<script>.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


@contextmanager
def scratch_database(server_url: str, prefix: str = "lienthong_bench") -> Iterator[str]:
    """Create a database named ``<prefix>_<random>`` on ``server_url``'s server and yield its
    URL (password kept); drop it, with its sessions, on the way out."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
