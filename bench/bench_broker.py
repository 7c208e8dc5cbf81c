"""Broker throughput: publish (each confirmed / pipelined) and consume rates, 4 KB messages.

Backends: RabbitMQ (quorum queues, publisher confirms), the embedded broker on SQLite and on
PostgreSQL, and the in-memory fake as a floor. Each run uses its own RabbitMQ prefix / SQLite
file / PostgreSQL database and removes it afterwards.

    python bench/bench_broker.py --n 5000 [--backends rabbitmq,sqlite,postgresql,memory]

* ``publish, each confirmed`` — ``await publish()`` one after the other (confirm / commit each);
* ``publish, pipelined`` — ``publish_many`` in batches of ``--batch`` (RabbitMQ: publishes in
  flight together, confirms awaited together; embedded: one transaction per batch);
* ``consume + ack`` — ``--n`` messages waiting, one consumer with ``--prefetch``, a handler that
  does nothing: time until every message was handled and settled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa

from adapters.broker.embedded import EmbeddedBroker, broker_messages
from adapters.broker.memory import MemoryBroker
from adapters.broker.rabbitmq import RabbitBroker
from adapters.store import migrate
from adapters.store.engine import create_engine
from hub.messaging import DISPATCH_QUEUE, Broker, BrokerMessage

AMQP_URL = os.environ.get("LIENTHONG_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = os.environ.get("LIENTHONG_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
Q = DISPATCH_QUEUE
BODY = b"x" * 4096


@asynccontextmanager
async def open_backend(kind: str) -> AsyncIterator[tuple[Broker, Callable[[], int]]]:
    """A started broker and a function counting messages still stored (settlement check)."""
    if kind == "memory":
        memory = MemoryBroker()
        await memory.start()
        yield memory, lambda: 0
        await memory.close()
    elif kind == "rabbitmq":
        rabbit = RabbitBroker(AMQP_URL, prefix=f"bench{secrets.token_hex(4)}")
        await rabbit.start()
        try:
            yield rabbit, lambda: 0
        finally:
            await rabbit.delete_topology()
            await rabbit.close()
    elif kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_engine(f"sqlite:///{Path(tmp) / 'hub.db'}")
            migrate.upgrade(engine)
            async with _embedded(engine) as opened:
                yield opened
            engine.dispose()
    elif kind == "postgresql":
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        name = f"lienthong_bench_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(sa.make_url(PG_URL).set(database=name).render_as_string(False))
        try:
            migrate.upgrade(engine)
            async with _embedded(engine) as opened:
                yield opened
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        raise SystemExit(f"unknown backend {kind!r}")


@asynccontextmanager
async def _embedded(engine: sa.Engine) -> AsyncIterator[tuple[Broker, Callable[[], int]]]:
    broker = EmbeddedBroker(engine, poll_s=0.2)
    await broker.start()

    def stored() -> int:
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(broker_messages))
            return int(count.scalar() or 0)

    try:
        yield broker, stored
    finally:
        await broker.close()


async def measure(kind: str, n: int, batch: int, prefetch: int) -> dict[str, float]:
    rates: dict[str, float] = {}
    async with open_backend(kind) as (broker, stored):
        single = max(200, n // 5)
        start = time.perf_counter()
        for i in range(single):
            await broker.publish(Q, BODY, message_id=f"s{i}")
        rates["publish, each confirmed"] = single / (time.perf_counter() - start)

        start = time.perf_counter()
        for first in range(0, n, batch):
            chunk = [(f"p{i}", BODY) for i in range(first, min(n, first + batch))]
            await broker.publish_many(Q, chunk)  # type: ignore[attr-defined]
        rates["publish, pipelined"] = n / (time.perf_counter() - start)

        total = single + n
        handled = 0
        finished = asyncio.Event()

        async def handler(message: BrokerMessage) -> None:
            nonlocal handled
            handled += 1
            if handled >= total:
                finished.set()

        start = time.perf_counter()
        await broker.consume(Q, handler, prefetch=prefetch)
        await asyncio.wait_for(finished.wait(), timeout=600)
        while (await broker.stats(Q)).ready or await asyncio.to_thread(stored):
            await asyncio.sleep(0.01)
        rates["consume + ack"] = total / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="messages per pipelined run")
    parser.add_argument("--batch", type=int, default=100, help="messages per publish_many")
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--backends", default="rabbitmq,sqlite,postgresql,memory")
    args = parser.parse_args()
    kinds = args.backends.split(",")
    results = {
        kind: asyncio.run(measure(kind, args.n, args.batch, args.prefetch)) for kind in kinds
    }
    columns = list(next(iter(results.values())))
    print(f"| backend | {' | '.join(columns)} |")
    print(f"|---|{'---:|' * len(columns)}")
    for kind, rates in results.items():
        print(f"| {kind} | {' | '.join(f'{rates[c]:,.0f}/s' for c in columns)} |")


if __name__ == "__main__":
    main()
