"""Fixtures of the broker suite: one contract, four backends.

``broker_backend`` is parametrized over ``memory``, ``embedded-sqlite``, ``embedded-postgresql``
and ``rabbitmq`` (the last two marked ``integration``). It yields a :class:`BackendFactory`
whose :meth:`~BackendFactory.make` returns a broker *over the same backend* each time — a
second call is "the process after a restart" — and which closes every broker it made and
deletes what it created (RabbitMQ queues of a per-test prefix, PostgreSQL rows).

RabbitMQ must run on 127.0.0.1:5672 (guest/guest, ``LIENTHONG_TEST_AMQP`` to override);
``scripts/test`` starts it. An unreachable broker FAILS the test with the reason: a skipped
broker suite would look like a passing one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from adapters.broker.embedded import EmbeddedBroker, broker_messages
from adapters.broker.memory import MemoryBroker
from adapters.broker.rabbitmq import RabbitBroker
from adapters.store import migrate
from adapters.store.engine import create_engine
from hub.messaging import Broker, RetryPolicy

AMQP_URL = os.environ.get("LIENTHONG_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")

#: Short delays so retries and dead letters happen within a test's time.
TEST_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.25, max_delay_s=1.0)
#: How long a message held by a lost consumer stays hidden in the embedded broker.
TEST_LEASE_S = 1.0

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("embedded-sqlite", id="embedded-sqlite"),
    pytest.param("embedded-postgresql", id="embedded-postgresql", marks=pytest.mark.integration),
    pytest.param("rabbitmq", id="rabbitmq", marks=pytest.mark.integration),
]


def require_rabbitmq() -> None:
    url = make_url(AMQP_URL.replace("amqp://", "postgresql://", 1))  # only host and port
    host, port = url.host or "127.0.0.1", url.port or 5672
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as err:
        pytest.fail(
            f"RabbitMQ is not reachable at {host}:{port} ({err}). Start it (scripts/test does:"
            " scripts/services) or point LIENTHONG_TEST_AMQP at a broker; the broker suite"
            " does not skip.",
            pytrace=False,
        )


@dataclass
class BackendFactory:
    """Makes brokers over one backend; ``make()`` again = the same queues after a restart."""

    kind: str
    engine: Engine | None = None
    prefix: str = ""
    made: list[Broker] = field(default_factory=list)
    _memory: MemoryBroker | None = None

    def make(self, **overrides: Any) -> Broker:
        broker: Broker
        if self.kind == "memory":
            if self._memory is None:
                self._memory = MemoryBroker(retry_policy=TEST_POLICY)
            broker = self._memory
        elif self.kind.startswith("embedded"):
            assert self.engine is not None
            options: dict[str, Any] = {
                "retry_policy": TEST_POLICY,
                "lease_s": TEST_LEASE_S,
                "poll_s": 0.05,
            }
            broker = EmbeddedBroker(self.engine, **(options | overrides))
        else:
            options = {"url": AMQP_URL, "retry_policy": TEST_POLICY} | overrides
            broker = RabbitBroker(prefix=self.prefix, **options)
        self.made.append(broker)
        return broker

    async def started(self, **overrides: Any) -> Broker:
        broker = self.make(**overrides)
        await broker.start()
        return broker

    def run(self, scenario: Callable[[BackendFactory], Awaitable[None]]) -> None:
        """Run ``scenario(self)`` in a fresh event loop, then close and clean up in that loop
        (aio-pika connections cannot be closed from another loop)."""

        async def main() -> None:
            try:
                await asyncio.wait_for(scenario(self), timeout=60)
            finally:
                await self.cleanup()

        asyncio.run(main())

    async def cleanup(self) -> None:
        for broker in reversed(self.made):
            await broker.close()
        if self.kind == "rabbitmq":
            janitor = RabbitBroker(AMQP_URL, prefix=self.prefix, retry_policy=TEST_POLICY)
            await janitor.start()
            await janitor.delete_topology()
            await janitor.close()


def _engine_for(kind: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("sqlite_url" if kind == "embedded-sqlite" else "postgres_url")
    engine = create_engine(url)
    migrate.upgrade(engine)  # idempotent; 0002 creates broker_messages
    try:
        yield engine
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(broker_messages))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def broker_backend(request: pytest.FixtureRequest) -> Iterator[BackendFactory]:
    kind: str = request.param
    engines: Iterator[Engine] | None = None
    factory = BackendFactory(kind)
    if kind.startswith("embedded"):
        engines = _engine_for(kind, request)
        factory.engine = next(engines)
    elif kind == "rabbitmq":
        require_rabbitmq()
        factory.prefix = f"t{secrets.token_hex(5)}"
    try:
        yield factory
    finally:
        if engines is not None:
            for _ in engines:
                pass


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], *, timeout_s: float = 10.0, what: str = ""
) -> None:
    """Wait until ``check()`` is true (polling), or fail the test after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if loop.time() > deadline:
            pytest.fail(f"not reached within {timeout_s}s: {what or check}")
        await asyncio.sleep(0.02)
