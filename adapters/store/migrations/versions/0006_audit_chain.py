"""The audit log as a hash chain: link columns on ``audit`` and signed checkpoints.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Rows written before this migration are sealed by the first run of the sealer, in id order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("chain_seq", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_audit_chain_seq", ["chain_seq"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit") as batch:
        batch.drop_constraint("uq_audit_chain_seq", type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("chain_seq")
