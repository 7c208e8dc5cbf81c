"""``retry.max_attempts`` may change on a running deployment (RabbitMQ, own queue prefix).

Queue arguments are fixed once a queue exists; a work queue declared with an
``x-delivery-limit`` derived from the setting made every start after a change fail with
PRECONDITION_FAILED. The limit now lives on the consumer side (``x-delivery-count``), and work
queues of an earlier version, declared with the argument, are used as they are.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess

import aio_pika
import pytest

from adapters.broker import REASON_HEADER
from adapters.broker.rabbitmq import RabbitBroker
from hub.messaging import DISPATCH_QUEUE, QUEUES, BrokerMessage, QueueStats, RetryPolicy
from tests.integration.broker.conftest import (
    AMQP_URL,
    TEST_POLICY,
    BackendFactory,
    eventually,
    require_rabbitmq,
)

pytestmark = pytest.mark.integration
Q = DISPATCH_QUEUE


@pytest.fixture
def rabbit() -> BackendFactory:
    require_rabbitmq()
    return BackendFactory("rabbitmq", prefix=f"tdl{secrets.token_hex(5)}")


def _work_queue_arguments(name: str) -> str:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        pytest.fail("rabbitmqctl is not installed (apt-get install rabbitmq-server)")
    done = subprocess.run(
        [exe, "-q", "list_queues", "name", "arguments"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (line,) = [row for row in done.stdout.splitlines() if row.split("\t")[0] == name]
    return line.split("\t")[1]


async def _declare_as_an_earlier_version(prefix: str, delivery_limit: int) -> None:
    """The work queues as the previous release declared them: with ``x-delivery-limit``."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for queue in QUEUES:
            await channel.declare_queue(
                f"{prefix}.{queue.removeprefix('lienthong.')}",
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-dead-letter-exchange": f"{prefix}.dlx",
                    "x-delivery-limit": delivery_limit,
                },
            )


def test_a_changed_max_attempts_starts_and_the_queue_carries_no_delivery_limit(
    rabbit: BackendFactory,
) -> None:
    async def scenario(f: BackendFactory) -> None:
        first = await f.started()
        await first.close()
        raised = await f.started(retry_policy=RetryPolicy(max_attempts=9))
        assert isinstance(raised, RabbitBroker)
        arguments = await asyncio.to_thread(_work_queue_arguments, raised.physical(Q))
        assert "x-delivery-limit" not in arguments
        assert '"x-queue-type","quorum"' in arguments
        seen: list[str] = []

        async def handler(message: BrokerMessage) -> None:
            seen.append(message.message_id)

        await raised.consume(Q, handler)
        await raised.publish(Q, b"{}", message_id="m1")
        await eventually(lambda: seen == ["m1"], what="the message after the restart")

    rabbit.run(scenario)


def test_queues_of_an_earlier_version_work_and_the_new_limit_applies(
    rabbit: BackendFactory,
) -> None:
    """Declared with x-delivery-limit = 3 + 2 by the old release; max_attempts is now 4: the
    start succeeds, and a message lost with its consumer is dead-lettered after 4 hand-outs by
    this adapter (reason ConsumerLost), not by the old broker-side limit."""
    policy = RetryPolicy(
        max_attempts=4, base_delay_s=TEST_POLICY.base_delay_s, max_delay_s=TEST_POLICY.max_delay_s
    )

    async def scenario(f: BackendFactory) -> None:
        await _declare_as_an_earlier_version(f.prefix, TEST_POLICY.max_attempts + 2)
        publisher = await f.started(retry_policy=policy)
        assert isinstance(publisher, RabbitBroker)
        arguments = await asyncio.to_thread(_work_queue_arguments, publisher.physical(Q))
        assert '"x-delivery-limit",5' in arguments  # the old queue, kept as it was
        await publisher.publish(Q, b"poison", message_id="p1")
        handed: list[int] = []
        for _ in range(policy.max_attempts):
            broker = await f.started(retry_policy=policy)
            held = asyncio.Event()

            async def stuck(message: BrokerMessage, held: asyncio.Event = held) -> None:
                handed.append(message.attempt)
                held.set()
                await asyncio.Event().wait()

            await broker.consume(Q, stuck)
            await asyncio.wait_for(held.wait(), 10)
            await broker.close()
        assert handed == [1, 2, 3, 4]

        last = await f.started(retry_policy=policy)
        after: list[BrokerMessage] = []

        async def handler(message: BrokerMessage) -> None:
            after.append(message)

        await last.consume(Q, handler)

        async def one_dead() -> bool:
            return await last.stats(Q) == QueueStats(Q, 0, 0, 1)

        await eventually(one_dead, what="1 dead")
        assert after == []
        (dead,) = await last.dead_letters(Q)
        assert dead.message_id == "p1"
        assert dead.headers[REASON_HEADER].startswith("ConsumerLost: ")

    rabbit.run(scenario)
