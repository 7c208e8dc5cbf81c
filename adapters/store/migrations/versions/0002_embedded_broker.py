"""The embedded broker's queue table, ``broker_messages``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Used only when the hub runs without RabbitMQ (:mod:`adapters.broker.embedded`); harmless
otherwise. A frozen snapshot like every migration: the columns are spelled out here, and
``adapters.broker.embedded.broker_messages`` must keep describing the same table (a test
compares them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broker_messages",
        # SQLite auto-increments only an "INTEGER PRIMARY KEY" (the rowid alias).
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("dead", sa.Boolean, nullable=False),
        sa.Column("dead_reason", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_broker_messages"),
    )
    op.create_index(
        "ix_broker_messages_queue_dead_available_at",
        "broker_messages",
        ["queue", "dead", "available_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_broker_messages_queue_dead_available_at", table_name="broker_messages")
    op.drop_table("broker_messages")
