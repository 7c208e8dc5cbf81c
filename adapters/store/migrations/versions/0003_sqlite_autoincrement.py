"""Never reuse the ids of ``outbox`` and ``broker_messages`` on SQLite.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

SQLite hands a new row the highest rowid + 1, so after the row with the highest id is deleted
its id is given again. Both tables are worked by id from more than one process: a relay that
read outbox row 5 and deletes it after publishing could delete a *new* row 5 that another relay
left behind meanwhile (its work then never published), and a consumer whose lease expired could
acknowledge a new message that took its old id. ``AUTOINCREMENT`` makes ids monotonic. The
tables are rebuilt (data kept) on SQLite; PostgreSQL sequences never reuse ids, so nothing
changes there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("outbox", "broker_messages")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
