"""The console's activity figures: indexes for rates over time and per-system / per-agency
lists, and ``systems.last_pull_at``.

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-04

``last_pull_at`` is the last time a system listed its inbox (written at most once a minute per
system and process, see :class:`hub.services.pull.Pull`); NULL for systems that never pulled
since this migration. A frozen snapshot like every migration: ``adapters.store.tables`` must
keep describing the same columns and indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_documents_received_at", "documents", ["received_at"])
    op.create_index(
        "ix_delivery_events_to_state_at_from_state",
        "delivery_events",
        ["to_state", "at", "from_state"],
    )
    op.create_index("ix_deliveries_system_id_created_at", "deliveries", ["system_id", "created_at"])
    op.create_index(
        "ix_deliveries_recipient_code_created_at", "deliveries", ["recipient_code", "created_at"]
    )
    op.create_index(
        "ix_deliveries_resolved_code_created_at", "deliveries", ["resolved_code", "created_at"]
    )
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("systems") as batch:
        batch.drop_column("last_pull_at")
    op.drop_index("ix_deliveries_resolved_code_created_at", "deliveries")
    op.drop_index("ix_deliveries_recipient_code_created_at", "deliveries")
    op.drop_index("ix_deliveries_system_id_created_at", "deliveries")
    op.drop_index("ix_delivery_events_to_state_at_from_state", "delivery_events")
    op.drop_index("ix_documents_received_at", "documents")
