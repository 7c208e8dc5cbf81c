"""Delivery evidence: link columns on ``delivery_events`` and the timestamped ``evidence_batches``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Events written before this migration are sealed by the first run of the evidence sealer, in
id order, and covered by its first timestamp.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_events") as batch:
        batch.add_column(sa.Column("chain_seq", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_delivery_events_chain_seq", ["chain_seq"])
    op.create_table(
        "evidence_batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_seq", sa.BigInteger, nullable=False),
        sa.Column("to_seq", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("token", sa.LargeBinary, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_batches"),
        sa.UniqueConstraint("to_seq", name="uq_evidence_batches_to_seq"),
    )


def downgrade() -> None:
    op.drop_table("evidence_batches")
    with op.batch_alter_table("delivery_events") as batch:
        batch.drop_constraint("uq_delivery_events_chain_seq", type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("chain_seq")
