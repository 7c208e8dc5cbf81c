"""What the threads cost: the same units of work run from an event loop through a threadpool
(how the HTTP gate runs the service today) or on the loop itself, in greenlets, over psycopg's
async connection (SQLAlchemy's asyncio bridge: the repositories' synchronous code unchanged).

Each unit of work mirrors an acknowledgement (``updateStatus``): the hub's own unit of work
(``adapters.store.uow``) reads a delivery by key and writes it back with a compare-and-set
``UPDATE``, then commits — ``BEGIN``, two statements, ``COMMIT``: four round trips. ``--tasks``
of them are in flight at once, as concurrent requests are.

* **threads** — the hub's engine (``adapters.store.engine.create_engine``), every unit handed
  to a ``ThreadPoolExecutor`` of ``--threads`` threads with ``loop.run_in_executor`` and
  awaited (``Gate.call``'s path).
* **greenlets** — the same engine options and listeners on ``postgresql+psycopg_async``, every
  unit run with ``sqlalchemy.util.greenlet_spawn`` on the loop: the driver's I/O is awaited by
  the loop, no thread is woken, nothing hands the GIL over.

Reported per unit: this process's CPU (user + system), its context switches (voluntary and
not: ``getrusage``), PostgreSQL's CPU (every ``postgres`` process, ``/proc``), and the rate.
Rounds alternate between the two paths.

Usage: ``python bench/bench_thread_hops.py --seconds 8 --rounds 3 --tasks 8``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.util import greenlet_spawn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.store import tables as t
from adapters.store.engine import (
    EngineOptions,
    _install_idle_ping,
    _install_write_tracking,
    create_engine,
)
from adapters.store.uow import SqlStore
from bench.bench_pool_ping import postgres_cpu, scratch_database

DB = "bench_thread_hops"
ROWS = 64


def seed(url: str) -> list[str]:
    """``ROWS`` deliveries (and the document and package they need); their ids."""
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC)
    ids = [f"{i:036d}" for i in range(ROWS)]
    with engine.begin() as conn:
        conn.execute(
            t.packages.insert(),
            {"digest": "0" * 64, "size": 1, "kind": "status", "received_at": now},
        )
        conn.execute(
            t.documents.insert(),
            {
                "id": "d" * 36, "digest": "0" * 64, "kind": "status",
                "sender_code": "000.00.00.H01", "sender_system": "bench", "business_type": 0,
                "verdicts": {}, "problems": [], "flags": [], "received_at": now,
            },
        )  # fmt: skip
        conn.execute(
            t.deliveries.insert(),
            [
                {
                    "id": i, "doc_id": "d" * 36, "recipient_code": f"000.00.{n:02d}.H02",
                    "route": "local", "system_id": "bench", "state": "available",
                    "attempts": 0, "created_at": now, "updated_at": now,
                }
                for n, i in enumerate(ids)
            ],
        )  # fmt: skip
    engine.dispose()
    return ids


def unit_of_work(store: SqlStore, delivery_id: str) -> None:
    """Read a delivery, write it back (compare-and-set on ``attempts``), commit."""
    with store.unit_of_work() as u:
        row = u.deliveries.get(delivery_id)
        assert row is not None
        u.connection().execute(
            t.deliveries.update()
            .where(t.deliveries.c.id == delivery_id)
            .where(t.deliveries.c.attempts == row.attempts)
            .values(attempts=row.attempts + 1)
        )
        u.commit()


async def drive(
    run: Callable[[str], object], ids: list[str], tasks: int, seconds: float
) -> tuple[int, float, float, float, float]:
    """(units, wall s, process CPU s, context switches, PostgreSQL CPU s) over ``seconds``."""
    done = 0
    stop = time.monotonic() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        i = k
        while time.monotonic() < stop:
            await run(ids[i % len(ids)])  # type: ignore[misc]
            i += tasks
            done += 1

    r0, pg0, w0 = resource.getrusage(resource.RUSAGE_SELF), postgres_cpu(), time.monotonic()
    await asyncio.gather(*(worker(k) for k in range(tasks)))
    r1, pg1, w1 = resource.getrusage(resource.RUSAGE_SELF), postgres_cpu(), time.monotonic()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    switches = (r1.ru_nvcsw - r0.ru_nvcsw) + (r1.ru_nivcsw - r0.ru_nivcsw)
    return done, w1 - w0, cpu, switches, pg1 - pg0


def threaded(url: str, threads: int) -> tuple[Callable[[str], object], Engine]:
    engine = create_engine(url, EngineOptions(pool_size=threads, max_overflow=0))
    store = SqlStore(engine)
    pool = ThreadPoolExecutor(threads)

    def run(delivery_id: str) -> object:
        return asyncio.get_running_loop().run_in_executor(pool, unit_of_work, store, delivery_id)

    return run, engine


def greenlets(url: str, tasks: int) -> tuple[Callable[[str], object], Engine]:
    async_url = url.replace("postgresql+psycopg://", "postgresql+psycopg_async://")
    engine = sa.create_engine(async_url, pool_size=tasks, max_overflow=0, _is_async=True)
    # the listeners the hub's engine has, so both paths pay for them
    _install_idle_ping(engine, EngineOptions().ping_idle_s)
    _install_write_tracking(engine)
    store = SqlStore(engine)

    def run(delivery_id: str) -> object:
        return greenlet_spawn(unit_of_work, store, delivery_id)

    return run, engine


async def one_round(
    url: str, ids: list[str], path: str, tasks: int, threads: int, seconds: float
) -> dict[str, float]:
    run, engine = threaded(url, threads) if path == "threads" else greenlets(url, tasks)
    await drive(run, ids, tasks, 1.0)  # warm: connections, prepared statements
    n, wall, cpu, switches, pg = await drive(run, ids, tasks, seconds)
    await greenlet_spawn(engine.dispose)  # an async driver's connections close on the loop
    return {
        "rate": n / wall,
        "cpu_us": cpu / n * 1e6,
        "switches": switches / n,
        "pg_us": pg / n * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=8, help="units of work in flight at once")
    ap.add_argument("--threads", type=int, default=40, help="the threadpool's size (the gate's)")
    args = ap.parse_args()
    with scratch_database(DB) as url:
        ids = seed(url)
        rows: dict[str, list[dict[str, float]]] = {"threads": [], "greenlets": []}
        for _ in range(args.rounds):
            for path in rows:
                rows[path].append(
                    asyncio.run(one_round(url, ids, path, args.tasks, args.threads, args.seconds))
                )
    print(f"{args.tasks} units of work in flight, {args.seconds:g} s per round, "
          f"{args.rounds} rounds (alternating)\n")  # fmt: skip
    print(
        "| path | units/s | process CPU µs/unit | context switches/unit | PostgreSQL CPU µs/unit |"
    )
    print("|---|---|---|---|---|")
    for path, figures in rows.items():
        cols = [
            ", ".join(f"{f[k]:,.0f}" if k != "switches" else f"{f[k]:.1f}" for f in figures)
            for k in ("rate", "cpu_us", "switches", "pg_us")
        ]
        print(f"| {path} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
