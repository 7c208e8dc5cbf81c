"""The ``peer_health`` table: each peer hub's connection health and last registry sync.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

One row per peer (``hub.ports.PeerHealth``), written by the worker processes (the circuit
breaker of :mod:`hub.circuit`, the registry sync of :mod:`hub.services.registry_sync`) and read
by every process for ``/readyz``, ``/metrics`` and the dashboard. A frozen snapshot like every
migration: ``adapters.store.tables.peer_health`` must keep describing the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True))


def upgrade() -> None:
    op.create_table(
        "peer_health",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        _ts("last_success_at"),
        _ts("last_error_at"),
        sa.Column("last_error", sa.String(512)),
        sa.Column("alert", sa.String(512)),
        _ts("opened_at"),
        _ts("updated_at"),
        _ts("sync_at"),
        sa.Column("sync_outcome", sa.String(512)),
        sa.Column("sync_count", sa.Integer),
        sa.PrimaryKeyConstraint("name", name="pk_peer_health"),
    )


def downgrade() -> None:
    op.drop_table("peer_health")
