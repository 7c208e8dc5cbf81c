"""Ids of ``outbox`` and ``broker_messages`` are never reused (migration 0003).

On SQLite a plain rowid key gives a deleted highest id to the next row; a relay deleting the
outbox row it published, by id, would then delete an unpublished newer row (found by the
end-to-end crash test with two relays)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.broker.embedded import broker_messages
from adapters.store import tables as t
from adapters.store.migrate import downgrade, upgrade

NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def _insert_delete_insert(engine: Engine) -> tuple[int, int]:
    with engine.begin() as conn:
        first = conn.execute(
            sa.insert(t.outbox).values(queue="q", body=b"{}", created_at=NOW)
        ).inserted_primary_key
        conn.execute(sa.delete(t.outbox).where(t.outbox.c.id == first[0]))
        second = conn.execute(
            sa.insert(t.outbox).values(queue="q", body=b"{}", created_at=NOW)
        ).inserted_primary_key
    return int(first[0]), int(second[0])


def test_outbox_ids_are_not_reused(migrated_engine: Engine) -> None:
    first, second = _insert_delete_insert(migrated_engine)
    assert second > first


def test_broker_message_ids_are_not_reused(migrated_engine: Engine) -> None:
    row = {
        "queue": "q",
        "message_id": "m",
        "body": b"{}",
        "attempt": 0,
        "available_at": NOW,
        "dead": False,
        "created_at": NOW,
    }
    with migrated_engine.begin() as conn:
        first = conn.execute(sa.insert(broker_messages).values(**row)).inserted_primary_key[0]
        conn.execute(sa.delete(broker_messages).where(broker_messages.c.id == first))
        second = conn.execute(sa.insert(broker_messages).values(**row)).inserted_primary_key[0]
    assert second > first


def test_migration_0003_keeps_rows_and_goes_both_ways(sqlite_url: str) -> None:
    from adapters.store.engine import create_engine

    engine = create_engine(sqlite_url)
    upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(sa.insert(t.outbox).values(queue="q", body=b"kept", created_at=NOW))
    first, second = _insert_delete_insert(engine)
    assert second == first  # the defect: the deleted highest id was given again
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(sa.select(t.outbox.c.body)).scalars().all() == [b"kept", b"{}"]
    first, second = _insert_delete_insert(engine)
    assert second > first
    downgrade(engine, "0002")
    upgrade(engine)
    engine.dispose()
