"""Intake-shaped store transactions per second, on SQLite (WAL) and PostgreSQL.

Run from the repository root (PostgreSQL running on 127.0.0.1:5432, trust auth)::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_store.py [--n 2000] [--rounds 3] [--batch 100]
        [--sqlite-synchronous full,normal] [--skip-pg]

One "intake" is what the intake service writes for one accepted package with three
recipients: 1 ``packages`` row + 1 ``documents`` row (verdicts/problems/flags JSON) + 3
``deliveries`` + 3 ``delivery_events`` + 1 ``outbox`` row. Modes, each through
:class:`adapters.store.uow.SqlUnitOfWork` exactly as the services use it:

* ``port, 1 tx/intake`` — one unit of work per intake, one port call per row (what
  ``hub/services`` does with the ``hub.ports`` Protocols: 9 INSERT statements);
* ``lean, 1 tx/intake`` — one unit of work per intake with the SQL store's batch methods
  (``deliveries.add_many``, ``deliveries.add_events``): 5 INSERT statements;
* ``lean, B/tx`` — ``--batch`` intakes per transaction (group commit).

SQLite runs once per ``--sqlite-synchronous`` level (``database.sqlite_synchronous``: FULL
syncs the WAL at every commit, NORMAL at checkpoints only), each on a fresh file on the temp
directory's disk (``bench/RESULTS-durability.md``).

Figures are medians over ``--rounds`` rounds of ``--n`` intakes on a fresh database
(SQLite file in a temp dir; a throwaway PostgreSQL database, dropped at the end). One client
thread: the wall figures are per-connection latency-bound rates, not the server's ceiling; the
client CPU column (``time.process_time``) is what the hub process itself spends per intake and is
steadier on a shared, loaded machine (the database server's CPU is not in it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from scratch import scratch_database

from adapters.store import migrate
from adapters.store.engine import EngineOptions, create_engine
from adapters.store.uow import SqlStore, SqlUnitOfWork
from hub.edxml.model import MessageKind
from hub.ports import DeliveryEvent, DeliveryRow, DocumentRow, PackageRow

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
RECIPIENTS = ("000.01.00.H41", "000.02.00.H41", "000.03.00.H41")


def intake_rows() -> tuple[PackageRow, DocumentRow, list[DeliveryRow], list[DeliveryEvent]]:
    digest = secrets.token_hex(32)
    doc = DocumentRow(
        id=str(uuid.uuid4()),
        digest=digest,
        kind=MessageKind.EDOC,
        # Unique per intake: one new document per DocumentId (migration 0007_unique_new_docid).
        document_id=f"000.00.00.H41,2026/03/02,{digest[:16]}/UBND-VP",
        sender_code="000.00.00.H41",
        sender_system="qlvb-a",
        business_type=0,
        related_doc_id=None,
        subject="V/v triển khai công tác văn thư năm 2026",
        code_number="17",
        code_notation="UBND-VP",
        verdicts={"envelope": "valid", "pdf_checked": 1, "pdf_bad": 0, "details": {}},
        problems=[],
        flags=[],
        received_at=T0,
    )
    deliveries = [
        DeliveryRow(
            str(uuid.uuid4()),
            doc.id,
            code,
            None,
            "local",
            None,
            "qlvb-b",
            "queued",
            0,
            None,
            None,
            None,
            None,
            None,
            T0,
            T0,
        )
        for code in RECIPIENTS
    ]
    events = [DeliveryEvent(d.id, T0, None, "queued") for d in deliveries]
    return PackageRow(digest, 4096, MessageKind.EDOC, T0), doc, deliveries, events


def write_port(uow: SqlUnitOfWork) -> None:
    pkg, doc, deliveries, events = intake_rows()
    uow.packages.add(pkg)
    uow.documents.add(doc)
    for d in deliveries:
        uow.deliveries.add(d)
    for e in events:
        uow.deliveries.add_event(e)
    uow.outbox.add("lienthong.dispatch", b'{"delivery_ids":["..."]}', T0)


def write_lean(uow: SqlUnitOfWork) -> None:
    pkg, doc, deliveries, events = intake_rows()
    uow.packages.add(pkg)
    uow.documents.add(doc)
    uow.deliveries.add_many(deliveries)
    uow.deliveries.add_events(events)
    uow.outbox.add("lienthong.dispatch", b'{"delivery_ids":["..."]}', T0)


def run(
    store: SqlStore, write: Callable[[SqlUnitOfWork], None], n: int, batch: int
) -> tuple[float, float]:
    """(intakes per wall second, client CPU µs per intake) for ``n`` intakes, ``batch``/tx."""
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    while done < n:
        with store.unit_of_work() as uow:
            for _ in range(min(batch, n - done)):
                write(uow)
            uow.commit()
        done += batch
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n * 1e6


def bench_backend(
    label: str, url: str, n: int, rounds: int, batch: int, options: EngineOptions | None = None
) -> list[str]:
    migrate.upgrade(url)
    engine = create_engine(url, options)
    store = SqlStore(engine)
    lines = []
    try:
        modes = [
            ("port, 1 tx/intake", write_port, 1),
            ("lean, 1 tx/intake", write_lean, 1),
            (f"lean, {batch}/tx", write_lean, batch),
        ]
        run(store, write_lean, min(n, 200), 1)  # warm the pool and the statement cache
        for name, write, per_tx in modes:
            results = [run(store, write, n, per_tx) for _ in range(rounds)]
            rate = statistics.median(r[0] for r in results)
            cpu = statistics.median(r[1] for r in results)
            lines.append(
                f"| {label} | {name} | {rate:,.0f} | {rate * 9:,.0f} "
                f"| {cpu:,.0f} | {1e6 / cpu:,.0f} |"
            )
            print(lines[-1], flush=True)
    finally:
        engine.dispose()
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="intakes per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100, help="intakes per transaction (batched)")
    ap.add_argument("--pg", default=PG_SERVER, help="PostgreSQL server URL (a database is made)")
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument(
        "--sqlite-synchronous",
        default="full,normal",
        help="comma-separated SQLite synchronous levels to run (full, normal)",
    )
    args = ap.parse_args(argv)

    print(f"python {sys.version.split()[0]}, SQLAlchemy {sa.__version__}, n={args.n}")
    print(
        "| backend | mode | intakes/s (wall) | rows/s (wall) "
        "| client CPU µs/intake | intakes per client CPU s |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for level in (x.strip().upper() for x in args.sqlite_synchronous.split(",") if x.strip()):
        with tempfile.TemporaryDirectory() as tmp:
            bench_backend(
                f"SQLite (WAL, {level})",
                f"sqlite:///{Path(tmp) / 'hub.db'}",
                args.n,
                args.rounds,
                args.batch,
                EngineOptions(sqlite_synchronous=level),
            )
    if not args.skip_pg:
        with scratch_database(args.pg) as url:
            bench_backend("PostgreSQL 15", url, args.n, args.rounds, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
