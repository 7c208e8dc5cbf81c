"""The broker contract (``hub.messaging.Broker``), run on every backend: the in-memory fake,
the embedded broker on SQLite and on PostgreSQL, and RabbitMQ.

Order of delivery is never assumed: the tests compare sets and counts.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from adapters.broker import REASON_HEADER
from hub.errors import EdxmlError
from hub.messaging import DISPATCH_QUEUE, FORWARD_QUEUE, BrokerMessage, QueueStats, Retry
from tests.integration.broker.conftest import BackendFactory, eventually

Q = DISPATCH_QUEUE


async def _stats_are(broker: object, expected: QueueStats) -> bool:
    return await broker.stats(expected.queue) == expected  # type: ignore[attr-defined,no-any-return]


def test_publish_consume_ack(broker_backend: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        ids = {f"m{i}" for i in range(20)}
        for mid in sorted(ids):
            await broker.publish(Q, f'{{"delivery_id": "{mid}"}}'.encode(), message_id=mid)
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 20, 0, 0)), what="20 ready")

        seen: list[BrokerMessage] = []

        async def handler(message: BrokerMessage) -> None:
            seen.append(message)

        await broker.consume(Q, handler, prefetch=8)
        await eventually(lambda: len(seen) >= 20, what="20 deliveries")
        assert {m.message_id for m in seen} == ids
        assert all(m.attempt == 1 and m.queue == Q for m in seen)
        assert {m.body for m in seen} == {f'{{"delivery_id": "{i}"}}'.encode() for i in ids}
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 0, 0)), what="all acked")
        # The other queue is untouched.
        assert await broker.stats(FORWARD_QUEUE) == QueueStats(FORWARD_QUEUE, 0, 0, 0)

    broker_backend.run(scenario)


def test_publish_many_is_confirmed_as_a_whole(broker_backend: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        batch = [(f"b{i}", b"x" * 4096) for i in range(50)]
        await broker.publish_many(FORWARD_QUEUE, batch)  # type: ignore[attr-defined]
        await eventually(
            lambda: _stats_are(broker, QueueStats(FORWARD_QUEUE, 50, 0, 0)), what="50 ready"
        )

    broker_backend.run(scenario)


def test_delayed_publish_is_not_delivered_early(broker_backend: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        loop = asyncio.get_running_loop()
        arrived: list[float] = []

        async def handler(message: BrokerMessage) -> None:
            arrived.append(loop.time())

        await broker.consume(Q, handler)
        sent = loop.time()
        await broker.publish(Q, b"later", message_id="later", delay_s=1.0)
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 1, 0)), what="1 delayed")
        await eventually(lambda: bool(arrived), what="the delayed message")
        assert arrived[0] - sent >= 0.9

    broker_backend.run(scenario)


def test_retry_with_delay_then_success(broker_backend: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        loop = asyncio.get_running_loop()
        attempts: list[tuple[int, float]] = []

        async def handler(message: BrokerMessage) -> None:
            attempts.append((message.attempt, loop.time()))
            if message.attempt == 1:
                raise Retry("peer busy", delay_s=0.6)

        await broker.consume(Q, handler)
        await broker.publish(Q, b"{}", message_id="r1")
        await eventually(lambda: len(attempts) >= 2, what="the retried delivery")
        assert [a for a, _ in attempts] == [1, 2]
        # RabbitMQ rounds a delay down to its retry step (0.6 s → 0.5 s), never below half.
        assert attempts[1][1] - attempts[0][1] >= 0.3
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 0, 0)), what="acked")
        await asyncio.sleep(0.3)
        assert len(attempts) == 2

    broker_backend.run(scenario)


def test_failure_is_retried_with_backoff_then_dead_lettered(
    broker_backend: BackendFactory,
) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        attempts: list[int] = []

        async def handler(message: BrokerMessage) -> None:
            attempts.append(message.attempt)
            raise ConnectionError("national axis down")

        await broker.consume(Q, handler)
        await broker.publish(Q, b'{"delivery_id": "d1"}', message_id="d1")
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 0, 1)), what="1 dead")
        assert attempts == [1, 2, 3]  # TEST_POLICY.max_attempts
        dead = await broker.dead_letters(Q)
        assert [(m.message_id, m.body, m.attempt) for m in dead] == [
            ("d1", b'{"delivery_id": "d1"}', 3)
        ]
        assert dead[0].headers[REASON_HEADER] == "ConnectionError: national axis down"

    broker_backend.run(scenario)


def test_sender_error_is_dead_lettered_at_once(broker_backend: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        attempts: list[int] = []

        async def handler(message: BrokerMessage) -> None:
            attempts.append(message.attempt)
            raise EdxmlError("missing From")

        await broker.consume(Q, handler)
        await broker.publish(Q, b"{}", message_id="s1")
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 0, 1)), what="1 dead")
        assert attempts == [1]
        (dead,) = await broker.dead_letters(Q)
        assert dead.headers[REASON_HEADER] == "EdxmlError: missing From"

    broker_backend.run(scenario)


def test_dead_letters_peek_keeps_them_and_redrive_moves_them_back(
    broker_backend: BackendFactory,
) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        healthy = asyncio.Event()
        seen: list[BrokerMessage] = []

        async def handler(message: BrokerMessage) -> None:
            seen.append(message)
            if not healthy.is_set():
                raise EdxmlError("refused")

        await broker.consume(Q, handler)
        for mid in ("x1", "x2", "x3"):
            await broker.publish(Q, mid.encode(), message_id=mid)
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 0, 3)), what="3 dead")

        first = await broker.dead_letters(Q)
        again = await broker.dead_letters(Q, limit=10)
        assert {m.message_id for m in first} == {m.message_id for m in again} == {"x1", "x2", "x3"}
        assert len(await broker.dead_letters(Q, limit=2)) == 2
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 0, 3)), what="3 still dead")

        healthy.set()
        seen.clear()
        assert await broker.redrive(Q, limit=2) == 2
        await eventually(lambda: len(seen) >= 2, what="2 redriven deliveries")
        assert await broker.redrive(Q) == 1
        await eventually(lambda: len(seen) >= 3, what="the last redriven delivery")
        assert sorted(m.message_id for m in seen) == ["x1", "x2", "x3"]
        assert all(m.attempt == 1 for m in seen)  # a redriven message starts over
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 0, 0)), what="all acked")
        assert await broker.dead_letters(Q) == []
        assert await broker.redrive(Q) == 0

    broker_backend.run(scenario)


def test_a_lost_consumer_means_redelivery_not_loss(broker_backend: BackendFactory) -> None:
    """At-least-once: a consumer that dies holding a message (never acks) → another gets it."""

    async def scenario(f: BackendFactory) -> None:
        first = await f.started()
        held = asyncio.Event()

        async def stuck(message: BrokerMessage) -> None:
            held.set()
            await asyncio.Event().wait()  # the process "dies" with the message in hand

        await first.consume(Q, stuck)
        await first.publish(Q, b'{"delivery_id": "c1"}', message_id="c1")
        await asyncio.wait_for(held.wait(), 10)
        await first.close()

        second = await f.started()
        seen: list[BrokerMessage] = []

        async def handler(message: BrokerMessage) -> None:
            seen.append(message)

        await second.consume(Q, handler)
        await eventually(lambda: bool(seen), what="the redelivery")
        assert seen[0].message_id == "c1"
        assert seen[0].attempt == 2  # the lost hand-over counts as an attempt
        await eventually(lambda: _stats_are(second, QueueStats(Q, 0, 0, 0)), what="acked")

    broker_backend.run(scenario)


def test_messages_survive_a_restart(broker_backend: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        first = await f.started()
        for i in range(5):
            await first.publish(Q, b"durable", message_id=f"p{i}")
        await first.close()

        second = await f.started()
        seen: set[str] = set()

        async def handler(message: BrokerMessage) -> None:
            seen.add(message.message_id)

        await second.consume(Q, handler)
        await eventually(lambda: len(seen) == 5, what="5 messages after the restart")

    broker_backend.run(scenario)


def test_many_concurrent_handlers_process_everything(broker_backend: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        rng = random.Random(4)
        counts: Counter[str] = Counter()

        async def handler(message: BrokerMessage) -> None:
            await asyncio.sleep(rng.random() / 100)
            counts[message.message_id] += 1
            if rng.random() < 0.1 and message.attempt == 1:
                raise Retry(delay_s=0.25)

        await broker.consume(Q, handler, prefetch=16)
        await broker.consume(Q, handler, prefetch=16)  # a second consumer on the same queue
        ids = [f"n{i}" for i in range(200)]
        await broker.publish_many(Q, [(mid, b"{}") for mid in ids])  # type: ignore[attr-defined]
        await eventually(lambda: _stats_are(broker, QueueStats(Q, 0, 0, 0)), what="drained")
        await eventually(lambda: set(counts) == set(ids), what="every id handled")
        assert await broker.dead_letters(Q) == []

    broker_backend.run(scenario)


def test_unknown_queue_is_refused(broker_backend: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        with pytest.raises(ValueError, match=r"lienthong\.nowhere"):
            await broker.publish("lienthong.nowhere", b"{}", message_id="u1")

    broker_backend.run(scenario)


def test_a_message_that_keeps_killing_its_consumer_is_dead_lettered(
    broker_backend: BackendFactory,
) -> None:
    """Poison message: lost with its consumer ``max_attempts`` times → dead-lettered with the
    reason, without being handed to a handler again."""

    async def scenario(f: BackendFactory) -> None:
        publisher = await f.started()
        await publisher.publish(Q, b"poison", message_id="p1")
        handed: list[int] = []
        for _ in range(3):  # TEST_POLICY.max_attempts
            broker = await f.started()
            held = asyncio.Event()

            async def stuck(message: BrokerMessage, held: asyncio.Event = held) -> None:
                handed.append(message.attempt)
                held.set()
                await asyncio.Event().wait()

            await broker.consume(Q, stuck)
            await asyncio.wait_for(held.wait(), 10)
            await broker.close()
        assert handed == [1, 2, 3]

        last = await f.started()
        after: list[BrokerMessage] = []

        async def handler(message: BrokerMessage) -> None:
            after.append(message)

        await last.consume(Q, handler)
        await eventually(lambda: _stats_are(last, QueueStats(Q, 0, 0, 1)), what="1 dead")
        assert after == []
        (dead,) = await last.dead_letters(Q)
        assert dead.message_id == "p1"
        assert dead.headers[REASON_HEADER].startswith("ConsumerLost: ")

    broker_backend.run(scenario)
