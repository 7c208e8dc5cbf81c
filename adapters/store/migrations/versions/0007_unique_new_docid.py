"""One *new* document per (sending agency, DocumentId): a partial unique index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Intake refuses a new document whose DocumentId the sender already used (QCVN 102 §2.3: only a
revoke, update or replace may reuse it), but it checks by reading first; under READ COMMITTED
two concurrent pushes of one DocumentId with different bytes could both pass the check and
both be accepted. The index makes the second insert meet the first: ``INSERT … ON CONFLICT DO
NOTHING`` then inserts nothing and the repository answers ``document.id_reused``. It is partial
(``business_type = 0``) because follow-ups reuse the id, and on both backends (PostgreSQL and
SQLite ≥ 3.8 have partial indexes; NULL DocumentIds — status messages — never collide).

Hazard: a database that already holds such a pair (accepted by the race this closes) cannot
take the index; the upgrade stops and names them so IT staff can decide which one stands.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_documents_new_sender_code_document_id"
_NEW = sa.text("business_type = 0")


def upgrade() -> None:
    duplicates = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT sender_code, document_id, COUNT(*) FROM documents"
                " WHERE business_type = 0 AND document_id IS NOT NULL"
                " GROUP BY sender_code, document_id HAVING COUNT(*) > 1"
                " ORDER BY sender_code, document_id"
            )
        )
        .all()
    )
    if duplicates:
        shown = ", ".join(f"{r[0]} {r[1]!r} ×{r[2]}" for r in duplicates[:10])
        raise RuntimeError(
            f"{len(duplicates)} DocumentId(s) were accepted more than once as new documents"
            f" ({shown}); keep one document per DocumentId before upgrading"
        )
    op.create_index(
        INDEX,
        "documents",
        ["sender_code", "document_id"],
        unique=True,
        postgresql_where=_NEW,
        sqlite_where=_NEW,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="documents")
