"""The national axis both ways: items taken from peers' inboxes, remote state of forwarded copies.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

* ``inbound_items`` — one row per item taken from a peer's inbox (``(peer, remote_id)``
  unique): accepted (with the document it became) or refused (with the reason), and when the
  peer was acknowledged. The inbound poller never fetches an item it has a row for.
* ``deliveries.remote_id`` / ``remote_status`` / ``remote_status_desc`` / ``remote_status_at``
  — the peer's id of a forwarded copy and the last state the peer reported for it, shown in the
  sender's sent list like the state of a local copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_items",
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("remote_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("doc_id", sa.String(36)),
        sa.Column("digest", sa.String(64)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("peer", "remote_id", name="pk_inbound_items"),
    )
    op.create_index("ix_inbound_items_received_at", "inbound_items", ["received_at"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("remote_id", sa.String(128)))
        batch.add_column(sa.Column("remote_status", sa.String(16)))
        batch.add_column(sa.Column("remote_status_desc", sa.Text))
        batch.add_column(sa.Column("remote_status_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("remote_status_at")
        batch.drop_column("remote_status_desc")
        batch.drop_column("remote_status")
        batch.drop_column("remote_id")
    op.drop_index("ix_inbound_items_received_at", table_name="inbound_items")
    op.drop_table("inbound_items")
