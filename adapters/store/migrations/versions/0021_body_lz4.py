"""Package bodies kept in rows compressed with LZ4 on PostgreSQL: ``packages.body``.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

A body kept in its row (0020) is a few kilobytes of XML, so PostgreSQL compresses it on every
push; its default method (pglz) cost ≈ 200 µs of server CPU per 7–13 KB body, LZ4 ≈ 65–90 µs for
the same size on disk (bench/RESULTS-hub.md). Only new values are written with LZ4; stored ones
stay as they are, and PostgreSQL reads both. Skipped where the server was built without LZ4
(``default_toast_compression`` does not offer it) and on SQLite, which does not compress.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    offered = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return "lz4" in (offered or ())


def upgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE packages ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE packages ALTER COLUMN body SET COMPRESSION DEFAULT")
