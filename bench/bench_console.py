"""The console's rates and per-system reads over a week of traffic, on SQLite and PostgreSQL.

Run from the repository root (PostgreSQL running on 127.0.0.1:5432, trust auth)::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_console.py [--docs 20000] [--rounds 5] [--skip-pg]

A week of traffic is written straight into the tables (bulk INSERTs, not the services: this
measures the reads): ``--docs`` documents spread evenly over the last 7 days, two deliveries
each (one local to one of 20 systems, one to a peer), three events per delivery (created,
dispatched, fetched / forwarded; one in 50 ends dead), one refused push per 20 documents.

Timed, each as one unit of work the way :class:`hub.services.monitor.Monitor` does it: the
four series of :func:`hub.services.activity.read_rates` for each span (hour, day, week), one
system's page (:meth:`Monitor.system_activity`, 50 newest deliveries with their documents), one
agency's page, and for comparison the overview's whole-table ``GROUP BY``
(``deliveries.summary``). Medians over ``--rounds`` reads (a first, unmeasured read warms the
caches). A fresh database each run: a SQLite file in a temp dir, a throwaway PostgreSQL
database dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from scratch import scratch_database

from adapters.memory import ManualClock
from adapters.store import migrate
from adapters.store import tables as t
from adapters.store.engine import create_engine
from adapters.store.uow import SqlStore
from hub.services.monitor import Monitor

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SYSTEMS = 20


def populate(engine: sa.Engine, docs: int, now: dt.datetime) -> None:
    week = dt.timedelta(days=7).total_seconds()
    with engine.begin() as conn:
        conn.execute(
            t.systems.insert(),
            [
                {
                    "id": f"qlvb.{i}",
                    "name": f"QLVB {i}",
                    "secret_enc": "x",
                    "enabled": True,
                    "max_age_s": 900,
                    "created_at": now - dt.timedelta(days=30),
                }
                for i in range(SYSTEMS)
            ],
        )
    batch = 2000
    for first in range(0, docs, batch):
        packages, documents, deliveries, events, audit = [], [], [], [], []
        for n in range(first, min(first + batch, docs)):
            at = now - dt.timedelta(seconds=week * (1 - n / docs))
            digest = secrets.token_hex(32)
            doc_id = str(uuid.uuid4())
            packages.append({"digest": digest, "size": 4096, "kind": "edoc", "received_at": at})
            documents.append(
                {
                    "id": doc_id,
                    "digest": digest,
                    "kind": "edoc",
                    "document_id": f"000.00.00.H41,2026/03/02,{n}/UBND",
                    "sender_code": "000.00.00.H41",
                    "sender_system": f"qlvb.{n % SYSTEMS}",
                    "business_type": 0,
                    "subject": f"Công văn {n}",
                    "verdicts": {},
                    "problems": [],
                    "flags": [],
                    "received_at": at,
                }
            )
            system = f"qlvb.{(n + 1) % SYSTEMS}"
            for k, (route, final) in enumerate(
                [("local", "fetched"), ("peer", "dead" if n % 50 == 0 else "forwarded")]
            ):
                did = str(uuid.uuid4())
                deliveries.append(
                    {
                        "id": did,
                        "doc_id": doc_id,
                        "recipient_code": f"000.{(n + 1) % SYSTEMS:02d}.00.H41"
                        if route == "local"
                        else "000.00.00.G22",
                        "route": route,
                        "peer_name": None if route == "local" else "national",
                        "system_id": system if route == "local" else None,
                        "state": final,
                        "attempts": 1,
                        "created_at": at,
                        "updated_at": at + dt.timedelta(seconds=30),
                        "fetched_at": at + dt.timedelta(seconds=30) if route == "local" else None,
                    }
                )
                middle = "available" if route == "local" else "forwarding"
                for j, (a, b) in enumerate([(None, "queued"), ("queued", middle), (middle, final)]):
                    events.append(
                        {
                            "delivery_id": did,
                            "at": at + dt.timedelta(seconds=10 * j + k),
                            "from_state": a,
                            "to_state": b,
                        }
                    )
            if n % 20 == 0:
                audit.append(
                    {
                        "at": at,
                        "actor": "system:qlvb.0",
                        "action": "push",
                        "subject": None,
                        "outcome": "edxml.invalid",
                        "details": {},
                    }
                )
        with engine.begin() as conn:
            conn.execute(t.packages.insert(), packages)
            conn.execute(t.documents.insert(), documents)
            conn.execute(t.deliveries.insert(), deliveries)
            conn.execute(t.delivery_events.insert(), events)
            if audit:
                conn.execute(t.audit.insert(), audit)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # both backends: statistics for the planner


def timed(fn: Callable[[], Any], rounds: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def bench_backend(label: str, url: str, docs: int, rounds: int) -> None:
    engine = create_engine(url)
    migrate.upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    populate(engine, docs, now)
    load_s = time.perf_counter() - started
    monitor = Monitor(SqlStore(engine).unit_of_work, ManualClock(now))
    uow = SqlStore(engine).unit_of_work

    def summary() -> None:
        with uow() as u:
            u.deliveries.summary()

    rows = [
        ("rates, hour (4 series)", lambda: monitor.rates("hour")),
        ("rates, day (4 series)", lambda: monitor.rates("day")),
        ("rates, week (4 series)", lambda: monitor.rates("week")),
        ("system page (50 newest)", lambda: monitor.system_activity("qlvb.3")),
        ("agency page (50 newest)", lambda: monitor.agency_activity("000.03.00.H41")),
        ("overview GROUP BY (whole table)", summary),
    ]
    week = monitor.rates("week")
    print(f"\n{label}: {docs} documents, {2 * docs} deliveries, {6 * docs} events "
          f"(loaded in {load_s:.1f} s); week totals "
          + ", ".join(f"{k}={week.total(k)}" for k in week.series))  # fmt: skip
    print("| read | median ms |\n|---|---:|")
    for name, fn in rows:
        print(f"| {name} | {timed(fn, rounds):.1f} |")
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg", default=PG_SERVER)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_backend("SQLite (WAL)", f"sqlite:///{Path(tmp) / 'hub.db'}", args.docs, args.rounds)
    if not args.skip_pg:
        with scratch_database(args.pg) as url:
            bench_backend("PostgreSQL 15", url, args.docs, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
