"""What the pool's pre-ping costs per unit of work on PostgreSQL, pinging every checkout or only
a connection idle longer than ``ping_idle_s`` (``adapters.store.engine``).

Runs ``--n`` units of work, each one primary-key read and a commit (the shape of a fetch's or an
acknowledgement's unit), on one thread through the hub's own engine and :class:`SqlStore`, for
``ping_idle_s`` 0 (every checkout pinged, the pool's ``pre_ping``) and 1 s (the default: a
connection taken again at once is not pinged), alternating, ``--rounds`` times. Reports the
client's process CPU, the PostgreSQL server's CPU (every ``postgres`` process, from ``/proc``)
and the wall time, per unit of work. A scratch database is created and dropped.

Usage: ``python bench/bench_pool_ping.py --n 3000 --rounds 3``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.store import migrate
from adapters.store.engine import EngineOptions, create_engine
from adapters.store.uow import SqlStore

ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DB = "bench_pool_ping"


def postgres_cpu() -> float:
    """CPU seconds of every ``postgres`` process alive now."""
    total = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if (d / "comm").read_text().strip() != "postgres":
                continue
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def one_round(url: str, idle_s: float, n: int) -> tuple[float, float, float]:
    """(client CPU, server CPU, wall) in µs per unit of work."""
    engine = create_engine(url, EngineOptions(ping_idle_s=idle_s))
    store = SqlStore(engine)
    try:
        for _ in range(200):  # warm: connection open, statements prepared
            with store.unit_of_work() as uow:
                uow.packages.get("0" * 64)
        c0, p0, w0 = time.process_time(), postgres_cpu(), time.perf_counter()
        for _ in range(n):
            with store.unit_of_work() as uow:
                uow.packages.get("0" * 64)
        c1, p1, w1 = time.process_time(), postgres_cpu(), time.perf_counter()
    finally:
        engine.dispose()
    return tuple(1e6 * x / n for x in (c1 - c0, p1 - p0, w1 - w0))  # type: ignore[return-value]


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database ``name`` migrated to head (its URL), dropped afterwards."""
    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sa.make_url(ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(create_engine(url))
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with scratch_database(DB) as url:
        figures: dict[float, list[tuple[float, float, float]]] = {0.0: [], 1.0: []}
        for _ in range(args.rounds):
            for idle_s in figures:
                figures[idle_s].append(one_round(url, idle_s, args.n))
        print(f"{args.n} units of work per round, {args.rounds} rounds (alternating)\n")
        print("| ping | client CPU µs/unit | PostgreSQL CPU µs/unit | wall µs/unit |")
        print("|---|---|---|---|")
        for idle_s, rows in figures.items():
            cols = [", ".join(f"{r[k]:,.0f}" for r in rows) for k in range(3)]
            label = "every checkout" if idle_s == 0 else f"idle > {idle_s:g} s only"
            print(f"| {label} | {cols[0]} | {cols[1]} | {cols[2]} |")


if __name__ == "__main__":
    main()
