"""An index on ``inbound_items.doc_id``: a document's origin at a peer, for its timeline.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-04

Additive only (expand): the previous version keeps running against it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_inbound_items_doc_id", "inbound_items", ["doc_id"])


def downgrade() -> None:
    op.drop_index("ix_inbound_items_doc_id", table_name="inbound_items")
