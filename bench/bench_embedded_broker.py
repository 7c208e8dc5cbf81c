"""The embedded broker's own bookkeeping on SQLite: thread CPU per claim + settlement.

One claim of ``--batch`` messages and their ack, ``--pairs`` times per round, on a fresh SQLite
file holding enough published messages for every round; prints the CPU (``time.thread_time``)
per pair for each round. ``--tree DIR`` imports ``adapters`` and ``hub`` from another checkout
(a worktree at the base commit) for an A/B in one session; run the two alternately.

Usage: ``python bench/bench_embedded_broker.py [--tree DIR] [--rounds 4] [--pairs 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--batch", type=int, default=5)
    a = ap.parse_args()
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


if __name__ == "__main__":
    main()
