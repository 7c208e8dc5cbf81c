"""The in-memory fake's test helpers: ``join(queue)`` and ``published``."""

from __future__ import annotations

import asyncio

import pytest

from adapters.broker.memory import MemoryBroker
from hub.errors import InternalError
from hub.messaging import DISPATCH_QUEUE, FORWARD_QUEUE, BrokerMessage, Retry, RetryPolicy

Q = DISPATCH_QUEUE


def test_join_waits_for_retries_and_in_flight_work() -> None:
    async def scenario() -> None:
        broker = MemoryBroker(retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.05))
        await broker.start()
        done: list[tuple[str, int]] = []

        async def handler(message: BrokerMessage) -> None:
            await asyncio.sleep(0.01)
            if message.attempt == 1:
                raise Retry(delay_s=0.1)
            done.append((message.message_id, message.attempt))

        await broker.consume(Q, handler)
        await broker.publish(Q, b"1", message_id="a")
        await broker.publish(Q, b"2", message_id="b", delay_s=0.05)
        await broker.join(Q)
        assert sorted(done) == [("a", 2), ("b", 2)]
        assert [(m.queue, m.message_id) for m in broker.published] == [(Q, "a"), (Q, "b")]
        await broker.join(FORWARD_QUEUE)  # an idle queue joins at once
        await broker.close()

    asyncio.run(scenario())


def test_join_fails_instead_of_hanging_when_nobody_consumes() -> None:
    async def scenario() -> None:
        broker = MemoryBroker()
        await broker.start()
        await broker.publish(Q, b"{}", message_id="stuck")
        with pytest.raises(TimeoutError):
            await broker.join(Q, timeout_s=0.1)

    asyncio.run(scenario())


def test_consuming_before_start_is_refused() -> None:
    async def scenario() -> None:
        async def handler(message: BrokerMessage) -> None:
            return None

        with pytest.raises(InternalError, match="not started"):
            await MemoryBroker().consume(Q, handler)

    asyncio.run(scenario())
