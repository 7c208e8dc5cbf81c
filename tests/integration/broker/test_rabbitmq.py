"""What only the RabbitMQ adapter has: its topology, reconnection after the server drops every
connection, and the translation of aio-pika failures to ``BrokerUnavailable``."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess

import pytest

from adapters.broker.rabbitmq import (
    RETRY_STEPS_MS,
    RabbitBroker,
    node_urls,
    redacted,
    retry_step_ms,
)
from hub.errors import BrokerUnavailable
from hub.messaging import DISPATCH_QUEUE, BrokerMessage, QueueStats
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
    return BackendFactory("rabbitmq", prefix=f"t{secrets.token_hex(5)}")


def _rabbitmqctl(*args: str) -> str:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        pytest.fail("rabbitmqctl is not installed (apt-get install rabbitmq-server)")
    done = subprocess.run([exe, "-q", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _close_connections_of(prefix: str, reason: str) -> int:
    """Close, from the server side, only the connections of brokers with this prefix (other
    suites may be using the same RabbitMQ)."""
    closed = 0
    for line in _rabbitmqctl("list_connections", "pid", "client_properties").splitlines():
        pid, _, properties = line.partition("\t")
        if f"lienthong {prefix}" in properties:
            _rabbitmqctl("close_connection", pid, reason)
            closed += 1
    return closed


@pytest.mark.parametrize(
    ("delay_s", "step_ms"),
    [(0.0, 250), (0.1, 250), (0.3, 250), (0.6, 500), (2.0, 2000), (600.0, 512_000)],
)
def test_a_retry_waits_in_the_largest_step_not_above_its_delay(
    delay_s: float, step_ms: int
) -> None:
    assert retry_step_ms(delay_s) == step_ms
    assert retry_step_ms(10**6) == RETRY_STEPS_MS[-1]


def test_topology_is_quorum_queues_with_ttl_retry_steps(rabbit: BackendFactory) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        again = await f.started()  # declaring twice is harmless (same names, same arguments)
        assert isinstance(again, RabbitBroker)
        listing = _rabbitmqctl("list_queues", "name", "type", "arguments")
        ours = {
            line.split("\t")[0]: line.split("\t")[1:]
            for line in listing.splitlines()
            if line.startswith(f"{f.prefix}.")
        }
        assert isinstance(broker, RabbitBroker)
        work = broker.physical(Q)
        assert work == f"{f.prefix}.dispatch"
        assert ours[work][0] == "quorum"
        assert ours[f"{work}.dead"][0] == "quorum"
        for step in RETRY_STEPS_MS:
            kind, arguments = ours[f"{work}.retry.{step}ms"]
            assert kind == "quorum"
            assert f'{{"x-message-ttl",{step}}}' in arguments
            assert '{"x-dead-letter-strategy","at-least-once"}' in arguments
            assert f'{{"x-dead-letter-routing-key","{work}"}}' in arguments
        assert len(ours) == 2 * (2 + len(RETRY_STEPS_MS))  # two logical queues

    rabbit.run(scenario)


def test_publishing_and_consuming_resume_after_the_server_drops_connections(
    rabbit: BackendFactory,
) -> None:
    async def scenario(f: BackendFactory) -> None:
        broker = await f.started()
        seen: list[str] = []

        async def handler(message: BrokerMessage) -> None:
            seen.append(message.message_id)

        await broker.consume(Q, handler)
        await broker.publish(Q, b"{}", message_id="before")
        await eventually(lambda: seen == ["before"], what="the first message")

        closed = await asyncio.to_thread(_close_connections_of, f.prefix, "reconnect test")
        assert closed == 1
        # The publish waits for the robust connection to come back, then is confirmed.
        await broker.publish(Q, b"{}", message_id="after")
        await eventually(lambda: "after" in seen, timeout_s=20, what="consuming resumed")
        await eventually(lambda: _empty(broker), what="acked after the reconnect")

    rabbit.run(scenario)


async def _empty(broker: RabbitBroker | object) -> bool:
    assert isinstance(broker, RabbitBroker)
    return await broker.stats(Q) == QueueStats(Q, 0, 0, 0)


def test_an_unreachable_server_is_broker_unavailable() -> None:
    async def scenario() -> None:
        broker = RabbitBroker("amqp://guest:guest@127.0.0.1:1/", retry_policy=TEST_POLICY)
        with pytest.raises(BrokerUnavailable) as caught:
            await broker.start()
        assert caught.value.details["action"] == "connecting"
        with pytest.raises(BrokerUnavailable):
            await broker.publish(Q, b"{}", message_id="x")

    asyncio.run(scenario())


def test_a_publish_that_cannot_be_confirmed_in_time_is_broker_unavailable(
    rabbit: BackendFactory,
) -> None:
    async def scenario(f: BackendFactory) -> None:
        # The robust connection waits 30 s before reconnecting: longer than the publish may.
        broker = await f.started(publish_timeout_s=0.5, reconnect_interval_s=30)
        await asyncio.to_thread(_close_connections_of, f.prefix, "timeout test")
        with pytest.raises(BrokerUnavailable) as caught:
            await broker.publish(Q, b"{}", message_id="lost")
        assert caught.value.details["action"] == "publishing"
        await broker.close()

    rabbit.run(scenario)


def test_default_names_follow_the_logical_queue_names() -> None:
    broker = RabbitBroker(AMQP_URL)
    assert broker.physical(DISPATCH_QUEUE) == "lienthong.dispatch"
    assert broker.dead_letter_exchange == "lienthong.dlx"
    with pytest.raises(ValueError, match="not declared"):
        broker.physical("elsewhere")


def _dead_node() -> str:
    """An amqp:// URL of a loopback port nothing listens on (a cluster node that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"amqp://guest:secret-of-a-dead-node@127.0.0.1:{port}/"


def test_a_list_of_nodes_skips_dead_ones_at_start_and_on_reconnection(
    rabbit: BackendFactory,
) -> None:
    """``broker.url`` naming every node of a cluster: the first connection takes the first
    node that answers; after the live node drops the connection, reconnection goes round the
    list (through the dead nodes) and comes back to a live one; no password is printed."""
    nodes = [_dead_node(), AMQP_URL, _dead_node()]

    async def scenario(f: BackendFactory) -> None:
        broker = await f.started(url=",".join(nodes), reconnect_interval_s=0.2)
        assert isinstance(broker, RabbitBroker)
        assert "secret-of-a-dead-node" not in repr(broker)
        assert "guest:guest" not in repr(broker)
        seen: list[str] = []

        async def handler(message: BrokerMessage) -> None:
            seen.append(message.message_id)

        await broker.consume(Q, handler)
        await broker.publish(Q, b"{}", message_id="before")
        await eventually(lambda: seen == ["before"], what="the first message")
        assert await asyncio.to_thread(_close_connections_of, f.prefix, "node failover") == 1
        await broker.publish(Q, b"{}", message_id="after")
        await eventually(lambda: "after" in seen, timeout_s=20, what="consuming resumed")

    rabbit.run(scenario)


def test_the_node_list_and_its_log_form() -> None:
    assert node_urls(" amqp://a/ ,amqp://u:p@b:5673/,") == ("amqp://a/", "amqp://u:p@b:5673/")
    assert redacted("amqp://a/,amqp://u:p@b:5673/") == "amqp://a/,amqp://u:******@b:5673/"
    with pytest.raises(ValueError):
        node_urls(" , ")
