"""Small package bodies in their ``packages`` row: ``packages.body``.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04

A body of at most ``blobs.inline_max_bytes`` is written by the push's own transaction into its
package row instead of the blob store (no file and no fsync of its own: the commit is its
durability); larger bodies, and every body stored before this revision, keep ``body`` NULL and
live in the blob store (:mod:`adapters.store.row_blobs` reads either).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("packages") as batch:
        batch.add_column(sa.Column("body", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    # The bodies kept in rows would be lost with the column: refuse rather than drop them.
    bind = op.get_bind()
    kept = bind.execute(sa.text("SELECT count(*) FROM packages WHERE body IS NOT NULL")).scalar()
    if kept:
        raise RuntimeError(
            f"{kept} package bodies are stored in packages.body; copy them to the blob store "
            "before downgrading below 0020"
        )
    with op.batch_alter_table("packages") as batch:
        batch.drop_column("body")
