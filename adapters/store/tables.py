"""The hub's tables, in SQLAlchemy Core — the Python picture of what the migrations build.

The Alembic migrations under ``adapters/store/migrations/`` are the only schema authority: no
code path calls ``metadata.create_all``. This module describes the same schema so repositories
can build statements, and a test (``tests/integration/store/test_migrations.py``) checks with
Alembic's ``compare_metadata`` that the migrated database and this module agree, on SQLite and on
PostgreSQL. Change both in the same commit, with a new migration.

Theory of the schema (names are the wire / DB values of the shared plan):

* ``packages`` — one row per distinct byte string the hub accepted, keyed by its SHA-256 hex
  digest. A small body (at most ``blobs.inline_max_bytes``) is kept in the row itself
  (``body``, written by the push's own transaction: the commit is its durability, 0020);
  larger ones live in the blob store (:mod:`adapters.store.blobs`), written *before* the row,
  so a row never points at a missing blob. :mod:`adapters.store.row_blobs` reads either.
* ``documents`` — one accepted push (VXP ``DocId``): who sent it, the edXML business key, the
  verdicts and problems computed at intake (JSON). ``UNIQUE(sender_system, digest)`` is the
  idempotency key of a push: the same system pushing the same bytes gets the same answer; a
  partial unique index on ``(sender_code, document_id)`` for business type 0 (new) keeps one
  new document per DocumentId even under concurrent pushes (follow-ups reuse the id).
* ``deliveries`` — one recipient's copy (the receiver's VXP ``docId``), its route and state.
  ``UNIQUE(doc_id, recipient_code)`` makes dispatch idempotent: at-least-once transport can
  never create two copies for one recipient (DESIGN.md §2). The state is written here but
  decided only by ``hub.delivery``.
* ``delivery_events`` — every state change, append-only, for the timeline and audits; hash-
  chained after the fact by the evidence sealer (``chain_seq``, ``prev_hash``, ``hash``), each
  sealing round's head timestamped (RFC 3161) into ``evidence_batches`` (:mod:`hub.evidence`).
* ``systems`` / ``system_agencies`` — connected QLVB systems (HMAC secrets encrypted at rest)
  and the agency codes each one hosts.
* ``agencies`` — the agency registry (codes of the 2025 reform, successors, QĐ 20 codes).
* ``outbox`` — the transactional outbox: work published to the broker after the commit and
  deleted once the broker confirmed it.
* ``audit`` — append-only record of who did what, hash-chained by a sealer (``chain_seq``,
  ``prev_hash``, ``hash``), with signed ``audit_checkpoints`` (:mod:`hub.audit_chain`).
* ``blobs`` / ``blob_chunks`` — package bodies when the database is the blob store
  (``blobs.store: database``, :mod:`adapters.store.db_blobs`); empty with the filesystem store.
* ``leases`` — named time-bound leases: which process of which node runs a piece of scheduled
  work now (:class:`hub.ports.Leases`, :mod:`adapters.store.leases`).
* ``inbound_items`` — every item taken from a peer's inbox (national axis, parent hub…) and its
  outcome, keyed by ``(peer, remote_id)``: an item is decided once, refused items stay visible
  to IT staff and are never fetched again.
* ``operators`` / ``operator_sessions`` / ``login_failures`` — the console's named accounts
  (argon2id hashes), their live sessions (SHA-256 of the cookie value) and failed logins for
  throttling (:mod:`hub.services.accounts`); ``operator_agencies`` — the agencies a clerk's
  account seals for.
* ``peer_health`` — one row per peer hub: its circuit breaker's view and its last registry
  sync, so every process can show what the workers saw.

Timestamps are :class:`UtcDateTime`: timezone-aware UTC in Python on both backends (SQLite has
no time zone type; a naive datetime is refused on write rather than guessed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: Constraint names are fixed by convention so a later migration can drop them by name on every
#: backend (SQLite batch mode needs names too).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores ISO text without an offset. Values are
    converted to UTC on the way in and come back with ``tzinfo=UTC`` from both. A naive
    datetime is a bug in the caller (whose local time would it be?) and raises ``ValueError``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC instants")
        value = value.astimezone(dt.UTC)
        # SQLite keeps text; an offset in it would break ordering comparisons between rows.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):  # pragma: no cover - driver contract
            raise TypeError(f"unexpected timestamp value {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _autoinc_pk() -> sa.Column[int]:
    # BIGINT on PostgreSQL (an audit log outlives 2**31 rows); SQLite only auto-increments an
    # "INTEGER PRIMARY KEY" (the rowid alias), so the variant keeps that spelling there.
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


packages = sa.Table(
    "packages",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),  # SHA-256 hex of the stored bytes
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # hub.edxml.model.MessageKind
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("body", sa.LargeBinary),  # the bytes when small; NULL when in the blob store
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # VXP DocId (UUID text)
    sa.Column("digest", sa.String(64), sa.ForeignKey("packages.digest"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("document_id", sa.String(255)),  # edXML DocumentId; absent for status messages
    sa.Column("sender_code", sa.String(64), nullable=False),
    sa.Column("sender_system", sa.String(64), nullable=False),
    sa.Column("business_type", sa.Integer, nullable=False),  # BussinessDocType; 0 for status
    sa.Column("related_doc_id", sa.String(36)),  # the original for revoke/update/replace/status
    sa.Column("subject", sa.Text),
    sa.Column("code_number", sa.String(64)),
    sa.Column("code_notation", sa.String(128)),
    sa.Column("verdicts", sa.JSON, nullable=False),
    sa.Column("problems", sa.JSON, nullable=False),
    sa.Column("flags", sa.JSON, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("sender_system", "digest"),
    sa.Index(None, "sender_code", "document_id"),
    # One NEW document per DocumentId and sending agency (follow-ups reuse the id): the last
    # line behind intake's check against two concurrent pushes (migration 0007_unique_new_docid).
    sa.Index(
        "uq_documents_new_sender_code_document_id",
        "sender_code",
        "document_id",
        unique=True,
        postgresql_where=sa.text("business_type = 0"),
        sqlite_where=sa.text("business_type = 0"),
    ),
    sa.Index(None, "related_doc_id"),
    sa.Index(None, "received_at"),  # the console's rates over time (0016)
    # The message log's filters (migration 0017, adapters/store/message_log.py).
    sa.Index(None, "document_id"),
    sa.Index(None, "code_number", "code_notation"),
    sa.Index(None, "code_notation"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # the receiver's VXP docId
    sa.Column("doc_id", sa.String(36), sa.ForeignKey("documents.id"), nullable=False),
    sa.Column("recipient_code", sa.String(64), nullable=False),  # as addressed in the package
    sa.Column("resolved_code", sa.String(64)),  # live code after successors (2025 reform)
    sa.Column("route", sa.String(16), nullable=False),  # hub.services.contracts.Route
    sa.Column("peer_name", sa.String(64)),
    sa.Column("system_id", sa.String(64)),  # hosting system for a LOCAL route
    sa.Column("state", sa.String(16), nullable=False),  # hub.delivery state name
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("business_status", sa.String(8)),  # 01…16 from status messages
    sa.Column("business_status_desc", sa.Text),
    sa.Column("business_status_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("fetched_at", UtcDateTime),
    sa.Column("done_at", UtcDateTime),
    sa.Column("remote_id", sa.String(128)),  # the peer's id of a forwarded copy (0008)
    sa.Column("remote_status", sa.String(16)),  # the peer's last word on it (TransportStatus)
    sa.Column("remote_status_desc", sa.Text),
    sa.Column("remote_status_at", UtcDateTime),
    sa.UniqueConstraint("doc_id", "recipient_code"),
    # The inbox query: a system's deliveries in one state, oldest first.
    sa.Index(None, "system_id", "state", "created_at"),
    # The retry sweep: forwarding work whose backoff has elapsed.
    sa.Index(None, "state", "next_attempt_at"),
    # The console's per-system and per-agency pages: the newest deliveries first (0016).
    sa.Index(None, "system_id", "created_at"),
    sa.Index(None, "recipient_code", "created_at"),
    sa.Index(None, "resolved_code", "created_at"),
    # The message log (migration 0017): newest first, and each filter's starting point.
    sa.Index(None, "created_at", "id"),
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "business_status", "created_at"),
)

delivery_events = sa.Table(
    "delivery_events",
    metadata,
    _autoinc_pk(),
    sa.Column(
        "delivery_id",
        sa.String(36),
        sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("from_state", sa.String(16)),  # None for the creation event
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    # The evidence chain (hub.evidence): set once by the evidence sealer, never written again.
    sa.Column("chain_seq", sa.BigInteger, unique=True),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("hash", sa.String(64)),
    sa.Index(None, "delivery_id", "at"),
    # The console's rates over time (0016): covering, so counting never visits the rows.
    sa.Index(None, "to_state", "at", "from_state"),
)

evidence_batches = sa.Table(
    "evidence_batches",
    metadata,
    _autoinc_pk(),
    sa.Column("from_seq", sa.BigInteger, nullable=False),
    sa.Column("to_seq", sa.BigInteger, nullable=False, unique=True),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("token", sa.LargeBinary, nullable=False),  # RFC 3161 TimeStampToken, DER
    sa.Column("at", UtcDateTime, nullable=False),
)

systems = sa.Table(
    "systems",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("secret_enc", sa.Text, nullable=False),  # encrypted by hub.secrets, never plain
    sa.Column("secret_prev_enc", sa.Text),  # the previous secret during a rotation
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("max_age_s", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_pull_at", UtcDateTime),  # the last inbox listing, for the console (0016)
)

system_agencies = sa.Table(
    "system_agencies",
    metadata,
    sa.Column(
        "system_id",
        sa.String(64),
        sa.ForeignKey("systems.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # No foreign key to agencies: a system may be set up for a code before the registry sync
    # brings it in, and a code closed by the 2025 reform stays hosted until re-pointed.
    sa.Column("agency_code", sa.String(64), primary_key=True),
    sa.Index(None, "agency_code"),
)

agencies = sa.Table(
    "agencies",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("code_qd20", sa.String(64)),  # the Quyết định 20/2020 code, when known
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("parent_code", sa.String(64)),
    sa.Column("level", sa.Integer),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_to", sa.Date),
    sa.Column("successor_code", sa.String(64)),  # where a closed code's mail goes now
    sa.Column("email", sa.String(255)),
    sa.Column("source", sa.String(80), nullable=False),  # "sample", "national", "system:<id>"
    sa.Column("modified_at", UtcDateTime),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(None, "parent_code"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    _autoinc_pk(),
    sa.Column("queue", sa.String(128), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),  # small JSON of ids, never a package
    sa.Column("created_at", UtcDateTime, nullable=False),
    # Ids are never reused (migration 0003): relays delete the rows they published by id.
    sqlite_autoincrement=True,
)

audit = sa.Table(
    "audit",
    metadata,
    _autoinc_pk(),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(255)),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    # The hash chain (hub.audit_chain): set once by the sealer, never written again.
    sa.Column("chain_seq", sa.BigInteger, unique=True),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("hash", sa.String(64)),
    sa.Index(None, "at"),
    sa.Index(None, "subject"),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
)

blob_chunks = sa.Table(
    "blob_chunks",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),  # or a provisional pending-… key
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

inbound_items = sa.Table(
    "inbound_items",
    metadata,
    sa.Column("peer", sa.String(64), primary_key=True),
    sa.Column("remote_id", sa.String(128), primary_key=True),  # the peer's id of the item
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # "accepted" | "refused"
    sa.Column("reason", sa.Text),  # why it was refused (code: message)
    sa.Column("doc_id", sa.String(36)),  # the document it became (accepted)
    sa.Column("digest", sa.String(64)),  # SHA-256 hex of the fetched bytes
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("acked_at", UtcDateTime),  # when the peer was told; NULL: still owed
    sa.Index(None, "received_at"),
    sa.Index(None, "doc_id"),  # a document's origin (the IT timeline)
)

peer_health = sa.Table(
    "peer_health",
    metadata,
    # One row per peer (hub.ports.PeerHealth): written by the workers' circuit breakers and the
    # registry sync, read by every process (/readyz, /metrics, the dashboard).
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("last_success_at", UtcDateTime),
    sa.Column("last_error_at", UtcDateTime),
    sa.Column("last_error", sa.String(512)),
    sa.Column("alert", sa.String(512)),
    sa.Column("opened_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime),
    sa.Column("sync_at", UtcDateTime),
    sa.Column("sync_outcome", sa.String(512)),
    sa.Column("sync_count", sa.Integer),
)

operators = sa.Table(
    "operators",
    metadata,
    # Console accounts (hub.ports.OperatorRow); the password only as its argon2id hash.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
)

operator_sessions = sa.Table(
    "operator_sessions",
    metadata,
    # One login (hub.ports.SessionRow): the SHA-256 of the cookie value, never the value.
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column(
        "operator",
        sa.String(64),
        sa.ForeignKey("operators.name", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("seen_at", UtcDateTime, nullable=False),
    sa.Column("address", sa.String(64)),
    sa.Index(None, "operator"),
)

operator_agencies = sa.Table(
    "operator_agencies",
    metadata,
    # The agencies an account acts for (a clerk seals only for these), registry codes.
    sa.Column(
        "operator",
        sa.String(64),
        sa.ForeignKey("operators.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("agency_code", sa.String(64), primary_key=True),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    # Failed console logins per throttling key ("account:<name>", "address:<ip>").
    _autoinc_pk(),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index(None, "key", "at"),
)

#: Tables in an order that respects foreign keys (parents first); cleaning goes in reverse.
ALL_TABLES: tuple[sa.Table, ...] = tuple(metadata.sorted_tables)
