"""What one statement costs on PostgreSQL, by the path it takes from the hub to the server.

Two measures, on a scratch database migrated to head, one connection, one thread:

1. **Read-only units of work ending with COMMIT or ROLLBACK** (``adapters.store.uow``). Each
   unit reads a package, a delivery and a document by key (three prepared-statement shapes).
   Ending with ``ROLLBACK`` (the behaviour before) makes psycopg forget every statement it
   prepared on the connection, so none reaches its threshold of five runs and the server parses
   and plans each one; ``COMMIT`` keeps them. Reported: the client's CPU and the PostgreSQL
   server's CPU (every ``postgres`` process, from ``/proc``) per unit, alternating ``--rounds``
   times.
2. **The client's CPU per statement** for one prepared ``SELECT`` of a delivery by key, through
   SQLAlchemy Core with the statement built once, built on every call, ``exec_driver_sql``,
   and the psycopg cursor itself — what the SQLAlchemy layer costs above the driver.

Usage: ``python bench/bench_statement_path.py --n 3000 --rounds 3``
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import sqlalchemy as sa
from sqlalchemy.engine import Connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.store import tables as t
from adapters.store import uow
from adapters.store.engine import EngineOptions, create_engine
from adapters.store.uow import SqlStore
from bench.bench_pool_ping import postgres_cpu, scratch_database

DB = "bench_statement_path"
KEY = "0" * 36


def units_of_work(url: str, *, commit_reads: bool, n: int) -> tuple[float, float]:
    """(client CPU, server CPU) in µs per read-only unit of work."""
    engine = create_engine(url, EngineOptions(pool_size=1, max_overflow=0))
    store = SqlStore(engine)
    # Before: every unit left without a commit rolled back, as if it had written.
    ending = (
        contextlib.nullcontext()
        if commit_reads
        else mock.patch.object(uow, "wrote_in_transaction", return_value=True)
    )

    def unit() -> None:
        with store.unit_of_work() as u:
            u.packages.get("0" * 64)
            u.deliveries.get(KEY)
            u.documents.by_digest("bench", "0" * 64)

    try:
        with ending:
            for _ in range(200):
                unit()
            c0, p0 = time.process_time(), postgres_cpu()
            for _ in range(n):
                unit()
            c1, p1 = time.process_time(), postgres_cpu()
    finally:
        engine.dispose()
    return 1e6 * (c1 - c0) / n, 1e6 * (p1 - p0) / n


def statement_paths(url: str, n: int) -> dict[str, float]:
    """Client CPU (µs) per statement, by path."""
    engine = create_engine(url, EngineOptions(pool_size=1, max_overflow=0))
    d = t.deliveries
    built_once = sa.select(d).where(d.c.id == sa.bindparam("id"))
    raw_sql = "SELECT * FROM deliveries WHERE id = %(id)s"

    def psycopg_cursor(c: Connection) -> Any:
        cursor = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(raw_sql, {"id": KEY})
            return cursor.fetchone()
        finally:
            cursor.close()

    paths: dict[str, Callable[[Connection], Any]] = {
        "SQLAlchemy Core, statement built once": lambda c: c.execute(
            built_once, {"id": KEY}
        ).first(),
        "SQLAlchemy Core, statement built per call": lambda c: c.execute(
            sa.select(d).where(d.c.id == KEY)
        ).first(),
        "SQLAlchemy exec_driver_sql": lambda c: c.exec_driver_sql(raw_sql, {"id": KEY}).first(),
        "psycopg cursor": psycopg_cursor,
    }
    figures = {}
    try:
        with engine.connect() as conn:
            for name, run in paths.items():
                for _ in range(200):
                    run(conn)
                c0 = time.thread_time()
                for _ in range(n):
                    run(conn)
                figures[name] = 1e6 * (time.thread_time() - c0) / n
            conn.commit()
    finally:
        engine.dispose()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with scratch_database(DB) as url:
        ends: dict[str, list[tuple[float, float]]] = {"ROLLBACK (before)": [], "COMMIT": []}
        for _ in range(args.rounds):
            for label in ends:
                ends[label].append(units_of_work(url, commit_reads=label == "COMMIT", n=args.n))
        print(f"read-only units of work (3 reads each), {args.n} per round, {args.rounds} rounds\n")
        print("| a read-only unit ends with | client CPU µs/unit | PostgreSQL CPU µs/unit |")
        print("|---|---|---|")
        for label, rows in ends.items():
            cols = [", ".join(f"{r[k]:,.0f}" for r in rows) for k in range(2)]
            print(f"| {label} | {cols[0]} | {cols[1]} |")
        print(f"\none prepared SELECT by key, {args.n} runs per path\n")
        print("| path | client CPU µs/statement |")
        print("|---|---|")
        for name, cpu in statement_paths(url, args.n).items():
            print(f"| {name} | {cpu:,.0f} |")


if __name__ == "__main__":
    main()
