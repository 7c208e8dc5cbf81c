"""The console's message log on a large store: page latency per filter, a deep page, the CSV
export, and the plan each query gets (which index it starts from).

Run from the repository root (PostgreSQL running on 127.0.0.1:5432, trust auth)::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_message_log.py [--docs 40000] [--runs 7]

Writes ``--docs`` documents with 3 deliveries each (untimed, bulk inserts): 50 sending
agencies, 2,000 recipient codes, 5,000 document numbers × 6 notations, states mostly ``done``
with 1 % ``dead``, a business status on a third, creation times spread over 90 days. Then times
one page (50 rows, :data:`hub.services.message_log.PAGE_SIZE`) for each filter of the console,
the page after a cursor 60 % of the way down, and the whole CSV of one sender — medians over
``--runs`` runs — on a fresh SQLite file and a throwaway PostgreSQL database (dropped at the
end). The plan column is the first index the database names for the query (SQLite ``EXPLAIN
QUERY PLAN``, PostgreSQL ``EXPLAIN``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from scratch import scratch_database

from adapters.store import migrate
from adapters.store import tables as t
from adapters.store.engine import create_engine
from adapters.store.message_log import log_statement
from adapters.store.uow import SqlStore
from hub.ports import LogFilter
from hub.services.message_log import PAGE_SIZE, export_csv, parse_cursor, read_page

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T_END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
NOTATIONS = ("QĐ-UBND", "CV-UBND", "TB-SNV", "KH-STTTT", "BC-SYT", "TTr-SGD")
STATES = ["done"] * 80 + ["available"] * 10 + ["fetched"] * 6 + ["forwarded"] * 3 + ["dead"]


def populate(engine: sa.Engine, docs: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    senders = [f"000.00.{i:02d}.H41" for i in range(50)]
    recipients = [f"000.{i // 100:02d}.{i % 100:02d}.K41" for i in range(2000)]
    chunk = 2000
    for start in range(0, docs, chunk):
        pkgs, documents, deliveries = [], [], []
        for i in range(start, min(docs, start + chunk)):
            digest = hashlib.sha256(str(i).encode()).hexdigest()
            at = T_END - dt.timedelta(seconds=rnd.randrange(90 * 86400))
            doc_id = str(uuid.UUID(int=rnd.getrandbits(128)))
            sender = rnd.choice(senders)
            pkgs.append({"digest": digest, "size": 1000, "kind": "edoc", "received_at": at})
            documents.append(
                {
                    "id": doc_id,
                    "digest": digest,
                    "kind": "edoc",
                    "document_id": f"{sender},2026/01/01,{i}",
                    "sender_code": sender,
                    "sender_system": f"qlvb.{sender}",
                    "business_type": 0,
                    "related_doc_id": None,
                    "subject": f"V/v văn bản số {i}",
                    "code_number": str(i % 5000),
                    "code_notation": NOTATIONS[i % len(NOTATIONS)],
                    "verdicts": {},
                    "problems": [],
                    "flags": [],
                    "received_at": at,
                }
            )
            for to in rnd.sample(recipients, 3):
                status = rnd.choice(["03", "06", "01"]) if rnd.random() < 0.33 else None
                deliveries.append(
                    {
                        "id": str(uuid.UUID(int=rnd.getrandbits(128))),
                        "doc_id": doc_id,
                        "recipient_code": to,
                        "resolved_code": None,
                        "route": "local",
                        "peer_name": None,
                        "system_id": "qlvb.k41",
                        "state": rnd.choice(STATES),
                        "attempts": 0,
                        "business_status": status,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
        with engine.begin() as conn:
            conn.execute(t.packages.insert(), pkgs)
            conn.execute(t.documents.insert(), documents)
            conn.execute(t.deliveries.insert(), deliveries)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE deliveries")
            conn.exec_driver_sql("ANALYZE documents")


def plan(engine: sa.Engine, where: LogFilter, before: tuple[dt.datetime, str] | None) -> str:
    """The first index the database names in its plan of the page query."""
    stmt = log_statement(where, before, PAGE_SIZE)
    with engine.connect() as conn:
        compiled = stmt.compile(dialect=engine.dialect)
        params = compiled.params
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(
                params[k] for k in compiled.positiontup or ()
            )).all()  # fmt: skip
            text = " | ".join(str(r[-1]) for r in rows)
        else:
            rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", params).all()
            text = " | ".join(str(r[0]) for r in rows)
    found = re.findall(r"(ix_\w+|uq_\w+|pk_\w+)", text)
    return found[0] if found else ("SCAN" if "Seq Scan" in text or "SCAN" in text else "?")


def timed(runs: int, fn: Callable[[], Any]) -> float:
    fn()  # warm the cache and the statement cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def bench_backend(label: str, url: str, docs: int, runs: int) -> None:
    engine = create_engine(url)
    migrate.upgrade(engine)
    start = time.perf_counter()
    populate(engine, docs)
    loaded = time.perf_counter() - start
    uow = SqlStore(engine).unit_of_work
    day = T_END - dt.timedelta(days=30)
    with engine.connect() as conn:  # a document and a recipient that exist, from the middle
        doc = conn.execute(
            sa.select(t.documents).order_by(t.documents.c.id).offset(docs // 2).limit(1)
        ).one()
        to = conn.execute(
            sa.select(t.deliveries.c.recipient_code).where(t.deliveries.c.doc_id == doc.id).limit(1)
        ).scalar_one()
    cases: list[tuple[str, LogFilter]] = [
        ("no filter (newest first)", LogFilter()),
        ("DocumentId", LogFilter(document=doc.document_id)),
        ("số/ký hiệu", LogFilter(code=f"{doc.code_number}/{doc.code_notation}")),
        ("sender", LogFilter(sender="000.00.07.H41")),
        ("recipient", LogFilter(recipient=to)),
        ("state dead (1 %)", LogFilter(state="dead")),
        ("status 03", LogFilter(status="03")),
        ("one day", LogFilter(since=day, until=day + dt.timedelta(days=1))),
        ("sender + status 06", LogFilter(sender="000.00.07.H41", status="06")),
    ]
    for name, where in cases:
        ms = timed(runs, lambda w=where: read_page(uow, w))  # type: ignore[misc]
        rows = len(read_page(uow, where).rows)
        print(
            f"| {label} | {docs * 3:,} | {name} | {rows} | {ms:.1f} | {plan(engine, where, None)} |"
        )
    # A deep page: the cursor 60 % down the unfiltered log.
    with engine.connect() as conn:
        d = t.deliveries
        row = conn.execute(
            sa.select(d.c.created_at, d.c.id)
            .order_by(d.c.created_at.desc(), d.c.id.desc())
            .offset(int(docs * 3 * 0.6))
            .limit(1)
        ).one()
    micros = round(row.created_at.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)
    cursor = f"{micros}.{row.id}"
    ms = timed(runs, lambda: read_page(uow, LogFilter(), cursor=cursor))
    print(f"| {label} | {docs * 3:,} | page after a cursor 60 % down | {PAGE_SIZE} | {ms:.1f} | "
          f"{plan(engine, LogFilter(), parse_cursor(cursor))} |")  # fmt: skip
    sender = LogFilter(sender="000.00.07.H41")
    size = 0

    def export() -> None:
        nonlocal size
        size = sum(len(c) for c in export_csv(uow, sender))

    ms = timed(max(1, runs // 3), export)
    print(
        f"| {label} | {docs * 3:,} | CSV of one sender ({size / 1e6:.1f} MB) | — | {ms:.0f} | — |"
    )
    print(f"<!-- {label}: loaded {docs:,} documents in {loaded:.1f} s -->")
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--docs", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--pg", default=PG_SERVER, help="PostgreSQL server URL (a database is made)")
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, SQLAlchemy {sa.__version__}, docs={args.docs}")
    print("| backend | deliveries | filter | rows | page ms | index |")
    print("|---|---:|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        bench_backend("SQLite (WAL)", f"sqlite:///{Path(tmp) / 'hub.db'}", args.docs, args.runs)
    if not args.skip_pg:
        with scratch_database(args.pg) as url:
            bench_backend("PostgreSQL", url, args.docs, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
