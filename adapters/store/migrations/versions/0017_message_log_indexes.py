"""Indexes of the message log (``adapters/store/message_log.py``) and the document timeline.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

Each filter of the IT message log is an equality or a range with an index to start from, and
the unfiltered page (newest first) is an ordered scan of ``(created_at, id)``; the recipient
filters use ``(recipient_code, created_at)`` and ``(resolved_code, created_at)`` of 0016.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    ("ix_deliveries_created_at_id", "deliveries", ["created_at", "id"]),
    ("ix_deliveries_state_created_at", "deliveries", ["state", "created_at"]),
    ("ix_deliveries_business_status_created_at", "deliveries", ["business_status", "created_at"]),
    ("ix_documents_document_id", "documents", ["document_id"]),
    ("ix_documents_code_number_code_notation", "documents", ["code_number", "code_notation"]),
    ("ix_documents_code_notation", "documents", ["code_notation"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
