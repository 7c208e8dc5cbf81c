"""PostgreSQL server CPU to store a package body in its row, by compression method.

Why: a body kept in ``packages.body`` (migration 0020) is a few kilobytes of XML, so PostgreSQL
compresses it on every push (TOAST compresses values over ≈ 2 KB); migration 0021 switched the
column from the default pglz to LZ4. This inserts ``--n`` distinct bodies built from the official
samples between 2 KB and 64 KB into a scratch table per method, in one transaction, and reads the
backend's own CPU (``/proc/<pid>/stat``) around the inserts: no client cost is in the figure.

Usage: ``python bench/bench_body_compression.py --n 4000``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import psycopg

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "edxml-samples"
URL = os.environ.get("BENCH_PG", "host=127.0.0.1 user=postgres dbname=test")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    bodies = [
        p.read_bytes() for p in sorted(SAMPLES.rglob("*.edxml")) if 2048 < p.stat().st_size < 65536
    ]
    print(f"bodies: {len(bodies)} samples of {[len(b) for b in bodies]} bytes, {args.n} inserts")
    print("| method | server CPU µs per insert | table size MB |\n|---|---:|---:|")
    with psycopg.connect(URL, autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        for _ in range(args.rounds):
            for method in ("pglz", "lz4"):
                conn.execute("DROP TABLE IF EXISTS bench_body_compression")
                conn.execute(
                    "CREATE TABLE bench_body_compression "
                    f"(id int PRIMARY KEY, body bytea COMPRESSION {method})"
                )
                rows = [(i, bodies[i % len(bodies)] + str(i).encode()) for i in range(args.n)]
                before = backend_cpu(pid)
                with conn.transaction():
                    for row in rows:
                        conn.execute(
                            "INSERT INTO bench_body_compression VALUES (%s, %s)", row, prepare=True
                        )
                spent = backend_cpu(pid) - before
                size = conn.execute(
                    "SELECT pg_total_relation_size('bench_body_compression')"
                ).fetchone()[0]  # type: ignore[index]
                print(f"| {method} | {1e6 * spent / args.n:,.0f} | {size / 1e6:.1f} |")
        conn.execute("DROP TABLE bench_body_compression")


if __name__ == "__main__":
    main()
