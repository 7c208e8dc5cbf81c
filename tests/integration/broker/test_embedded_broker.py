"""What only the embedded broker has: its table (migration 0002 = the Table in the module),
several brokers on one database (other processes), lease renewal, the in-process wake-up, and
database failures surfacing as ``BrokerUnavailable``."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

from adapters.broker.embedded import EmbeddedBroker, broker_messages, metadata
from adapters.store import migrate
from adapters.store.engine import create_engine
from adapters.store.tables import outbox
from adapters.store.uow import SqlStore
from hub.errors import BrokerUnavailable, InternalError
from hub.messaging import DISPATCH_QUEUE, BrokerMessage, QueueStats
from hub.services.outbox import OutboxRelay
from tests.integration.broker.conftest import TEST_POLICY, eventually

Q = DISPATCH_QUEUE

DATABASES = [
    pytest.param("sqlite_url", id="sqlite"),
    pytest.param("postgres_url", id="postgresql", marks=pytest.mark.integration),
]


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = create_engine(request.getfixturevalue(request.param))
    migrate.upgrade(engine)
    yield engine
    with engine.begin() as conn:
        conn.execute(sa.delete(broker_messages))
    engine.dispose()


def _broker(engine: Engine, *, lease_s: float = 1.0, poll_s: float = 0.05) -> EmbeddedBroker:
    return EmbeddedBroker(engine, retry_policy=TEST_POLICY, lease_s=lease_s, poll_s=poll_s)


def test_the_migration_creates_exactly_the_table_the_module_describes(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: (
                    kind != "table" or name == "broker_messages"
                ),
            },
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_start_without_the_table_says_to_run_the_migrations(tmp_path: Path) -> None:
    bare = create_engine(f"sqlite:///{tmp_path / 'bare.db'}")

    async def scenario() -> None:
        with pytest.raises(InternalError, match="lienthong db upgrade"):
            await EmbeddedBroker(bare).start()

    asyncio.run(scenario())
    bare.dispose()


def test_two_brokers_on_one_database_share_the_work_without_overlap(engine: Engine) -> None:
    """Two processes' worth of consumers: no message is handed out twice while nothing fails
    (PostgreSQL: SKIP LOCKED; SQLite: the claim runs under the write lock)."""

    async def scenario() -> None:
        first, second = _broker(engine), _broker(engine)
        await first.start()
        await second.start()
        handled: Counter[str] = Counter()
        by_broker: Counter[int] = Counter()

        def handler_for(which: int):  # type: ignore[no-untyped-def]
            async def handler(message: BrokerMessage) -> None:
                await asyncio.sleep(0.001)
                handled[message.message_id] += 1
                by_broker[which] += 1

            return handler

        for which, broker in enumerate((first, second)):
            await broker.consume(Q, handler_for(which), prefetch=8)
            await broker.consume(Q, handler_for(which), prefetch=8)
        ids = [f"w{i}" for i in range(400)]
        await first.publish_many(Q, [(mid, b"{}") for mid in ids])
        await eventually(lambda: sum(handled.values()) >= 400, what="400 handled")
        await eventually(lambda: _no_rows(engine), what="all acked")
        assert await first.stats(Q) == QueueStats(Q, 0, 0, 0)
        assert set(handled) == set(ids)
        assert max(handled.values()) == 1
        await first.close()
        await second.close()

    asyncio.run(scenario())


def test_a_slow_handler_keeps_its_lease(engine: Engine) -> None:
    async def scenario() -> None:
        slow, other = _broker(engine, lease_s=0.6), _broker(engine, lease_s=0.6)
        await slow.start()
        await other.start()
        calls: list[str] = []

        async def patient(message: BrokerMessage) -> None:
            calls.append("slow")
            await asyncio.sleep(2.0)  # over three leases: renewed every lease_s / 3

        async def eager(message: BrokerMessage) -> None:
            calls.append("other")

        await slow.consume(Q, patient)
        await slow.publish(Q, b"{}", message_id="long")
        await eventually(lambda: calls == ["slow"], what="the slow handler started")
        await other.consume(Q, eager)
        await eventually(lambda: _no_rows(engine), timeout_s=10, what="acked by the slow one")
        assert calls == ["slow"]
        await slow.close()
        await other.close()

    asyncio.run(scenario())


def test_a_publish_in_this_process_wakes_the_consumer_before_its_poll(engine: Engine) -> None:
    async def scenario() -> None:
        broker = _broker(engine, poll_s=30.0)
        await broker.start()
        seen: list[str] = []

        async def handler(message: BrokerMessage) -> None:
            seen.append(message.message_id)

        await broker.consume(Q, handler)
        await asyncio.sleep(0.2)  # the consumer found nothing and sleeps for 30 s
        await broker.publish(Q, b"{}", message_id="wake")
        await eventually(lambda: seen == ["wake"], timeout_s=5, what="woken by the publish")
        await broker.close()

    asyncio.run(scenario())


def test_a_database_that_is_gone_is_broker_unavailable() -> None:
    gone = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing")

    async def scenario() -> None:
        broker = EmbeddedBroker(gone)
        with pytest.raises(BrokerUnavailable) as caught:
            await broker.publish(Q, b"{}", message_id="x")
        assert caught.value.details["action"] == "publishing"
        with pytest.raises(BrokerUnavailable):
            await broker.stats(Q)

    asyncio.run(scenario())
    gone.dispose()


def _no_rows(engine: Engine) -> bool:
    """Every message acknowledged (a row in flight is not counted by ``stats`` as ready)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(broker_messages)).scalar() == 0


_DYING_CONSUMER = """
import asyncio, os, sys
from adapters.broker.embedded import EmbeddedBroker
from adapters.store.engine import create_engine
from hub.messaging import DISPATCH_QUEUE

async def main():
    broker = EmbeddedBroker(create_engine(sys.argv[1]), lease_s=1.0, poll_s=0.05)
    await broker.start()

    async def die(message):
        print(message.message_id, message.attempt, flush=True)
        os._exit(17)  # the process dies holding the message: no settle, no release

    await broker.consume(DISPATCH_QUEUE, die)
    await asyncio.sleep(30)

asyncio.run(main())
"""


def test_a_process_that_dies_mid_message_loses_it_only_for_the_lease(
    engine: Engine, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)

    async def scenario() -> None:
        broker = _broker(engine)
        await broker.start()
        await broker.publish(Q, b'{"delivery_id": "k1"}', message_id="k1")
        script = tmp_path / "dying_consumer.py"
        script.write_text(_DYING_CONSUMER)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            url,
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[3],
        )
        out, _ = await asyncio.wait_for(child.communicate(), 30)
        assert child.returncode == 17
        assert out.decode().split() == ["k1", "1"]

        seen: list[BrokerMessage] = []

        async def handler(message: BrokerMessage) -> None:
            seen.append(message)

        await broker.consume(Q, handler)
        await eventually(lambda: bool(seen), what="the redelivery after the lease")
        assert (seen[0].message_id, seen[0].attempt) == ("k1", 2)
        await eventually(lambda: _no_rows(engine), what="acked")
        await broker.close()

    asyncio.run(scenario())


def test_migration_0002_goes_down_and_up_again(engine: Engine) -> None:
    migrate.downgrade(engine, "0001")
    assert not sa.inspect(engine).has_table("broker_messages")
    assert migrate.current_revision(engine) == "0001"
    migrate.upgrade(engine)
    assert sa.inspect(engine).has_table("broker_messages")
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_a_settlement_does_not_cost_an_empty_claim(engine: Engine) -> None:
    """A claim that found the queue empty is repeated only when something is published (or at
    the poll), not after every settlement: on SQLite each claim is a write transaction."""

    async def scenario() -> None:
        broker = _broker(engine, poll_s=30.0)
        claims: list[int] = []
        claim = broker._claim

        def counted(queue: str, limit: int) -> Any:
            claimed = claim(queue, limit)
            claims.append(len(claimed))
            return claimed

        broker._claim = counted  # type: ignore[method-assign]
        await broker.start()
        done: list[str] = []

        async def handler(message: BrokerMessage) -> None:
            done.append(message.message_id)

        await broker.consume(Q, handler)
        await eventually(lambda: claims == [0], what="the first, empty claim")
        await broker.publish(Q, b"{}", message_id="one")
        await eventually(lambda: _no_rows(engine), what="handled and acked")
        await asyncio.sleep(0.3)  # a wake-up by the settlement would have claimed by now
        assert done == ["one"]
        assert claims == [0, 1]
        await broker.close()

    asyncio.run(scenario())


def test_claims_and_settlements_commit_unsynced_publishes_synced(sqlite_url: str) -> None:
    """SQLite: the broker's bookkeeping commits with synchronous=NORMAL (a lost claim or ack is
    a redelivery), a publish with the store's level (FULL by default)."""
    engine = create_engine(sqlite_url)
    try:
        broker = _broker(engine)

        def level(conn: Connection) -> int:
            return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

        assert broker._run("reading", level) == 2
        assert broker._run("reading", level, bookkeeping=True) == 1
        assert broker._run("reading", level) == 2
    finally:
        engine.dispose()


def _outbox_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id)).scalars())


def _store_outbox(engine: Engine, bodies: list[bytes]) -> None:
    with SqlStore(engine).unit_of_work() as uow:
        uow.outbox.add_many([(Q, body) for body in bodies], dt.datetime.now(dt.UTC))
        uow.commit()


@pytest.fixture
def empty_outbox(engine: Engine) -> Iterator[Engine]:
    with engine.begin() as conn:
        conn.execute(sa.delete(outbox))
    yield engine
    with engine.begin() as conn:
        conn.execute(sa.delete(outbox))


def test_the_relay_publishes_and_forgets_in_one_transaction(empty_outbox: Engine) -> None:
    """The relay's pass over this broker is ONE write transaction: the messages appear and
    their outbox rows disappear together; the separate delete is never used."""
    engine = empty_outbox
    _store_outbox(engine, [b'{"delivery_ids": ["a"]}', b'{"delivery_ids": ["b"]}'])
    broker = _broker(engine)
    store = SqlStore(engine)
    relay = OutboxRelay(store.unit_of_work, broker)
    begins: list[str] = []

    def count(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("BEGIN") or statement.startswith("DELETE FROM outbox"):
            begins.append(statement.split(" WHERE")[0])

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        published = asyncio.run(relay.run_once())
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert published == 2
    assert _outbox_ids(engine) == []
    if engine.dialect.name == "sqlite":  # one reader, one writer
        assert begins == ["BEGIN IMMEDIATE", "BEGIN IMMEDIATE", "DELETE FROM outbox"]
    stats = asyncio.run(broker.stats(Q))
    assert stats.ready == 1  # the two dispatch rows merged into one message
    messages = asyncio.run(broker.dead_letters(Q))
    assert messages == []


def test_a_failed_outbox_publish_keeps_the_outbox_rows(empty_outbox: Engine) -> None:
    """The insert and the delete commit together or not at all: a failing insert (a row the
    table refuses) leaves every outbox row for the next pass and stores no message."""
    engine = empty_outbox
    _store_outbox(engine, [b"{}", b"{}"])
    ids = _outbox_ids(engine)
    broker = _broker(engine)
    refused: Any = None  # broker_messages.message_id is NOT NULL
    with pytest.raises(sa.exc.IntegrityError):
        asyncio.run(broker.publish_outbox([(Q, [("ok", b"{}"), (refused, b"{}")])], ids))
    assert _outbox_ids(engine) == ids
    assert asyncio.run(broker.stats(Q)).ready == 0
    with pytest.raises(ValueError, match="not declared"):
        asyncio.run(broker.publish_outbox([("nowhere", [("x", b"{}")])], ids))
    assert _outbox_ids(engine) == ids
