"""The agencies a console account acts for: ``operator_agencies``.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

A clerk (role ``clerk``, :mod:`hub.access`) seals only for the agencies listed here, one row
per (account, agency code); the codes are the registry's canonical ones, checked when written
(:mod:`hub.services.accounts`). A frozen snapshot like every migration:
``adapters.store.tables`` must keep describing the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operator_agencies",
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("agency_code", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("operator", "agency_code", name="pk_operator_agencies"),
        sa.ForeignKeyConstraint(
            ["operator"],
            ["operators.name"],
            name="fk_operator_agencies_operator_operators",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("operator_agencies")
