"""What the peer guard costs a call, and what the health recorder's throttle saves.

Run from the repository root (PostgreSQL running on 127.0.0.1:5432, trust auth)::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_peer_guard.py [--n 20000] [--writes 500] [--rounds 3]

Measured, each a median over ``--rounds`` rounds, client CPU (``time.process_time``, steadier
than wall time on a shared machine) and wall:

* ``bare link`` — :class:`adapters.memory.RecordingPeerLink` ``send`` called directly;
* ``guarded, closed`` — the same through :func:`hub.peer_guard.guard` with a health store
  (the breaker admits, records the success; the recorder writes at most every 30 s);
* ``guarded, open`` — a call refused fast by an open breaker (the exception is built and
  raised; no network);
* ``save_link`` on SQLite and PostgreSQL — one health row upserted in its own transaction:
  what an unthrottled recorder would add to every successful push.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from adapters.memory import ManualClock, MemoryPeerHealthStore, RecordingPeerLink
from adapters.store.engine import create_engine
from adapters.store.migrate import upgrade
from adapters.store.peer_health import SqlPeerHealthStore
from hub.circuit import BreakerPolicy
from hub.edxml.model import MessageKind
from hub.errors import PeerUnavailable
from hub.peer_guard import guard
from hub.ports import Peer, PeerHealth

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _time(fn: Callable[[], None], n: int, rounds: int) -> tuple[float, float]:
    """Median (CPU µs, wall µs) per call."""
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            fn()
        cpu.append((time.process_time() - c0) / n * 1e6)
        wall.append((time.perf_counter() - w0) / n * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--writes", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    clock = ManualClock()
    rows: list[tuple[str, float, float]] = []

    def send(link: object) -> Callable[[], None]:
        def call() -> None:
            link.send(  # type: ignore[attr-defined]
                b"<edXML/>", from_code="A", to_codes=["B"], kind=MessageKind.EDOC
            )

        return call

    bare = RecordingPeerLink()
    rows.append(("bare link", *_time(send(bare), args.n, args.rounds)))
    policy = BreakerPolicy()
    health = MemoryPeerHealthStore()
    guarded = guard(Peer("p", "vxp", RecordingPeerLink()), policy, clock=clock, health=health)
    rows.append(("guarded, closed", *_time(send(guarded.link), args.n, args.rounds)))
    down = RecordingPeerLink()
    down.fail_next(policy.failure_threshold)
    opened = guard(Peer("p", "vxp", down), policy, clock=clock)

    def refused() -> None:
        with contextlib.suppress(PeerUnavailable):
            send(opened.link)()

    for _ in range(policy.failure_threshold):
        refused()
    rows.append(("guarded, open (fail fast)", *_time(refused, args.n, args.rounds)))

    with tempfile.TemporaryDirectory() as tmp:
        for label, url in (("SQLite", f"sqlite:///{Path(tmp) / 'h.db'}"), ("PostgreSQL", None)):
            if url is None:
                admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(sa.text("DROP DATABASE IF EXISTS bench_peer_health"))
                    conn.execute(sa.text("CREATE DATABASE bench_peer_health"))
                url = PG.rsplit("/", 1)[0] + "/bench_peer_health"
            engine = create_engine(url)
            upgrade(engine)
            store = SqlPeerHealthStore(engine)
            row = PeerHealth("national", "vxp", last_success_at=dt.datetime.now(dt.UTC))
            write = functools.partial(store.save_link, row)
            rows.append((f"save_link, {label}", *_time(write, args.writes, 3)))
            engine.dispose()
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS bench_peer_health WITH (FORCE)"))
    print(f"health rows written by the guarded run: {health.writes}")
    print("| what | client CPU µs/call | wall µs/call |")
    print("|---|---:|---:|")
    for label, cpu, wall in rows:
        print(f"| {label} | {cpu:,.1f} | {wall:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
