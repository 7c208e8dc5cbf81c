"""What psycopg's transaction round trips cost a one-step unit of work: a read by key, then a
compare-and-set ``UPDATE`` (the shape of a fetch or an acknowledgement), on one connection.

Three ways, alternating, ``--rounds`` times each:

* ``transaction``: ``BEGIN`` (psycopg's own round trip), the two statements, ``COMMIT``;
* ``autocommit``: the two statements alone (what ``SqlStore.step_unit`` does on PostgreSQL);
* ``pipeline``: the transaction in pipeline mode, synced after each statement (so ``BEGIN``
  rides with the first statement, and the result is there when the caller looks, as
  SQLAlchemy does).

Client CPU is ``time.process_time``; PostgreSQL's is every ``postgres`` process's CPU from
``/proc`` over the run (nothing else should use the server meanwhile).

Usage: ``python bench/bench_autocommit.py [--dsn "host=127.0.0.1 dbname=test user=postgres"]
[--n 3000] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

READ = "SELECT id, state, n FROM bench_step WHERE id = %s"
STEP = "UPDATE bench_step SET n = n + 1 WHERE id = %s AND state = %s"


def postgres_cpu_s() -> float:
    """CPU seconds of every ``postgres`` process so far."""
    ticks = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", default="host=127.0.0.1 dbname=test user=postgres")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    conn = psycopg.connect(args.dsn)
    conn.autocommit = True
    # A logged table, as the hub's are (a temporary one skips the WAL a commit flushes).
    conn.execute("DROP TABLE IF EXISTS bench_step")
    conn.execute("CREATE TABLE bench_step (id int PRIMARY KEY, state text, n int)")
    conn.execute("INSERT INTO bench_step SELECT g, 'a', 0 FROM generate_series(1, 1000) g")
    conn.autocommit = False
    cur = conn.cursor()

    def transaction(key: int) -> None:
        cur.execute(READ, (key,), prepare=True)
        cur.fetchall()
        cur.execute(STEP, (key, "a"), prepare=True)
        conn.commit()

    def autocommit(key: int) -> None:
        conn.autocommit = True
        cur.execute(READ, (key,), prepare=True)
        cur.fetchall()
        cur.execute(STEP, (key, "a"), prepare=True)
        conn.autocommit = False

    def pipeline(key: int) -> None:
        with conn.pipeline() as p:
            cur.execute(READ, (key,), prepare=True)
            p.sync()
            cur.fetchall()
            cur.execute(STEP, (key, "a"), prepare=True)
            p.sync()
            conn.commit()

    ways: dict[str, Callable[[int], None]] = {
        "transaction": transaction,
        "autocommit": autocommit,
        "pipeline": pipeline,
    }
    load = Path("/proc/loadavg").read_text().strip()
    print(f"{args.n} units per run; load {load}")
    print("| way | client CPU µs | PostgreSQL CPU µs | wall µs |\n|---|---:|---:|---:|")
    for _ in range(args.rounds):
        for name, unit in ways.items():
            cpu0, wall0, pg0 = time.process_time(), time.perf_counter(), postgres_cpu_s()
            for i in range(args.n):
                unit(i % 1000 + 1)
            cpu = (time.process_time() - cpu0) / args.n * 1e6
            wall = (time.perf_counter() - wall0) / args.n * 1e6
            pg = (postgres_cpu_s() - pg0) / args.n * 1e6
            print(f"| {name} | {cpu:,.0f} | {pg:,.0f} | {wall:,.0f} |")
    conn.rollback()
    conn.autocommit = True
    conn.execute("DROP TABLE bench_step")
    conn.close()


if __name__ == "__main__":
    main()
