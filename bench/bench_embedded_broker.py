"""The embedded broker's own bookkeeping on SQLite: CPU per claim + settlement, per relay pass.

Default: one claim of ``--batch`` messages and their ack, ``--pairs`` times per round, on a fresh
SQLite file holding enough published messages for every round; prints the CPU
(``time.thread_time``) per pair for each round. ``--relay``: instead, ``--pairs`` outbox relay
passes per round, each over ``--batch`` freshly stored dispatch rows (read, publish, forget);
prints the process CPU (``time.process_time``: the relay's store calls run in worker threads)
per pass, the storing of the rows excluded. ``--tree DIR`` imports ``adapters`` and ``hub``
from another checkout (a worktree at the base commit) for an A/B in one session; run the two
alternately.

Usage: ``python bench/bench_embedded_broker.py [--tree DIR] [--relay] [--rounds 4] [--pairs 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--relay", action="store_true", help="time outbox relay passes instead")
    a = ap.parse_args()
    if a.relay:
        relay_passes(a)
        return
    sys.path.insert(0, a.tree)
    from adapters.broker.embedded import EmbeddedBroker, _Settlement
    from adapters.store import migrate
    from adapters.store.engine import create_engine
    from hub.messaging import DISPATCH_QUEUE, Outcome

    with tempfile.TemporaryDirectory() as work:
        engine = create_engine(f"sqlite:///{work}/broker.db")
        migrate.upgrade(engine)
        broker = EmbeddedBroker(engine)
        total = a.rounds * a.pairs * a.batch
        messages = [(f"m{i}", b'{"delivery_ids": []}') for i in range(total)]
        asyncio.run(broker.publish_many(DISPATCH_QUEUE, messages))
        per_pair = []
        for _ in range(a.rounds):
            t0 = time.thread_time()
            for _ in range(a.pairs):
                claimed = broker._claim(DISPATCH_QUEUE, a.batch)
                broker._settle([_Settlement(c.id, Outcome.ACK) for c in claimed])
            per_pair.append((time.thread_time() - t0) / a.pairs * 1e6)
        engine.dispose()
    rounds = " / ".join(f"{x:,.0f}" for x in per_pair)
    print(f"{a.tree}: CPU µs per claim of {a.batch} + ack, per round: {rounds}")


def relay_passes(a: argparse.Namespace) -> None:
    """``--relay`` (module docstring): the relay as the composition wires it on SQLite."""
    sys.path.insert(0, a.tree)
    import datetime as dt

    from adapters.broker.embedded import EmbeddedBroker
    from adapters.store import migrate
    from adapters.store.engine import create_engine
    from adapters.store.uow import SqlStore
    from hub.messaging import DISPATCH_QUEUE
    from hub.services.outbox import OutboxRelay

    async def rounds(engine: Any) -> list[float]:
        urgent = engine.execution_options(sqlite_write_urgent=True)
        broker = EmbeddedBroker(urgent)
        await broker.start()
        reader = SqlStore(engine.execution_options(sqlite_begin="DEFERRED")).unit_of_work
        relay = OutboxRelay(SqlStore(urgent).unit_of_work, broker, reader=reader)
        writer = SqlStore(engine).unit_of_work
        per_pass = []
        n = 0
        for _ in range(a.rounds):
            cpu = 0.0
            for _ in range(a.pairs):
                with writer() as uow:
                    bodies = [
                        (DISPATCH_QUEUE, f'{{"delivery_ids": ["d{n + i}"]}}'.encode())
                        for i in range(a.batch)
                    ]
                    uow.outbox.add_many(bodies, dt.datetime.now(dt.UTC))
                    uow.commit()
                n += a.batch
                t0 = time.process_time()
                await relay.run_once()
                cpu += time.process_time() - t0
            per_pass.append(cpu / a.pairs * 1e6)
        await broker.close()
        return per_pass

    with tempfile.TemporaryDirectory() as work:
        engine = create_engine(f"sqlite:///{work}/broker.db")
        migrate.upgrade(engine)
        per_pass = asyncio.run(rounds(engine))
        engine.dispose()
    shown = " / ".join(f"{x:,.0f}" for x in per_pass)
    print(f"{a.tree}: CPU µs per relay pass over {a.batch} rows, per round: {shown}")


if __name__ == "__main__":
    main()
