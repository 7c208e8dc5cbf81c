"""The console's named accounts: ``operators``, ``operator_sessions``, ``login_failures``.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

Accounts with a role and an argon2id password hash, one row per live session (keyed by the
SHA-256 of the cookie value, so every API process can end it at once), and failed logins for
throttling (:mod:`hub.services.accounts`). A frozen snapshot like every migration:
``adapters.store.tables`` must keep describing the same tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        _ts("created_at"),
        _ts("changed_at"),
        sa.PrimaryKeyConstraint("name", name="pk_operators"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("seen_at"),
        sa.Column("address", sa.String(64)),
        sa.PrimaryKeyConstraint("key", name="pk_operator_sessions"),
        sa.ForeignKeyConstraint(
            ["operator"],
            ["operators.name"],
            name="fk_operator_sessions_operator_operators",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_operator_sessions_operator", "operator_sessions", ["operator"], unique=False
    )
    op.create_table(
        "login_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(128), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_failures_key_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_operator_sessions_operator", table_name="operator_sessions")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
