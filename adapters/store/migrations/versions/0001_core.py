"""The core tables of the hub: packages, documents, deliveries and their events, systems, agencies,
outbox and audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

A migration is a frozen snapshot: it spells every column out instead of importing
``adapters.store.tables`` (which describes the *latest* schema). Constraint names follow the
naming convention of ``tables.py`` so later migrations can address them on both backends.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _autoinc_pk() -> sa.Column[int]:
    # SQLite auto-increments only an "INTEGER PRIMARY KEY" (the rowid alias).
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "packages",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _ts("received_at", nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_packages"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("document_id", sa.String(255)),
        sa.Column("sender_code", sa.String(64), nullable=False),
        sa.Column("sender_system", sa.String(64), nullable=False),
        sa.Column("business_type", sa.Integer, nullable=False),
        sa.Column("related_doc_id", sa.String(36)),
        sa.Column("subject", sa.Text),
        sa.Column("code_number", sa.String(64)),
        sa.Column("code_notation", sa.String(128)),
        sa.Column("verdicts", sa.JSON, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("flags", sa.JSON, nullable=False),
        _ts("received_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.ForeignKeyConstraint(
            ["digest"], ["packages.digest"], name="fk_documents_digest_packages"
        ),
        sa.UniqueConstraint("sender_system", "digest", name="uq_documents_sender_system_digest"),
    )
    op.create_index(
        "ix_documents_sender_code_document_id", "documents", ["sender_code", "document_id"]
    )
    op.create_index("ix_documents_related_doc_id", "documents", ["related_doc_id"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("doc_id", sa.String(36), nullable=False),
        sa.Column("recipient_code", sa.String(64), nullable=False),
        sa.Column("resolved_code", sa.String(64)),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("peer_name", sa.String(64)),
        sa.Column("system_id", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _ts("next_attempt_at"),
        sa.Column("last_error", sa.Text),
        sa.Column("business_status", sa.String(8)),
        sa.Column("business_status_desc", sa.Text),
        _ts("business_status_at"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("fetched_at"),
        _ts("done_at"),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["doc_id"], ["documents.id"], name="fk_deliveries_doc_id_documents"
        ),
        sa.UniqueConstraint("doc_id", "recipient_code", name="uq_deliveries_doc_id_recipient_code"),
    )
    op.create_index(
        "ix_deliveries_system_id_state_created_at",
        "deliveries",
        ["system_id", "state", "created_at"],
    )
    op.create_index(
        "ix_deliveries_state_next_attempt_at", "deliveries", ["state", "next_attempt_at"]
    )

    op.create_table(
        "delivery_events",
        _autoinc_pk(),
        sa.Column("delivery_id", sa.String(36), nullable=False),
        _ts("at", nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_events"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_delivery_events_delivery_id_deliveries",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_delivery_events_delivery_id_at", "delivery_events", ["delivery_id", "at"])

    op.create_table(
        "systems",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret_enc", sa.Text, nullable=False),
        sa.Column("secret_prev_enc", sa.Text),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("max_age_s", sa.Integer, nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_systems"),
    )
    op.create_table(
        "system_agencies",
        sa.Column("system_id", sa.String(64), nullable=False),
        sa.Column("agency_code", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("system_id", "agency_code", name="pk_system_agencies"),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["systems.id"],
            name="fk_system_agencies_system_id_systems",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_system_agencies_agency_code", "system_agencies", ["agency_code"])

    op.create_table(
        "agencies",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("code_qd20", sa.String(64)),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("parent_code", sa.String(64)),
        sa.Column("level", sa.Integer),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_to", sa.Date),
        sa.Column("successor_code", sa.String(64)),
        sa.Column("email", sa.String(255)),
        sa.Column("source", sa.String(80), nullable=False),
        _ts("modified_at"),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("code", name="pk_agencies"),
    )
    op.create_index("ix_agencies_parent_code", "agencies", ["parent_code"])

    op.create_table(
        "outbox",
        _autoinc_pk(),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_table(
        "audit",
        _autoinc_pk(),
        _ts("at", nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_subject", "audit", ["subject"])


def downgrade() -> None:
    # Children first: foreign keys point at packages, documents, deliveries and systems.
    for table in (
        "audit",
        "outbox",
        "agencies",
        "system_agencies",
        "systems",
        "delivery_events",
        "deliveries",
        "documents",
        "packages",
    ):
        op.drop_table(table)
