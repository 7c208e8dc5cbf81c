"""The pull path per call: inbox page, count, fetch and acknowledgement against a deep inbox.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, trust auth)::

    . .venv/bin/activate
    python bench/bench_pull.py [--backend pg|sqlite] [--inbox 5000] [--pages 40] [--takes 300]
                               [--body row|store]

What runs: one hub built as ``lienthong`` builds it (``build_hub`` from ``LIENTHONG_*``
settings) on a fresh store — a throwaway PostgreSQL database (``BENCH_PULL_DB``, default
``bench_pull``, dropped at the end) or a SQLite file —, one recipient system whose inbox holds
``--inbox`` status deliveries (``available``; each its own document row with the verdicts,
problems and flags an intake stores, all sharing one stored package — its body in the package
row, as the intake keeps a small one, or with ``--body store`` in the blob store behind it),
then, in one thread:

* ``list_received`` (``getReceivedEdocList``: one page of ``limits.inbox_page`` items) and
  ``count_received``, ``--pages`` calls each;
* ``--takes`` items from the front of the inbox, each ``fetch_stream`` read to its end
  (``downloadEdoc``) then ``update_status done`` (``updateStatus``).

Per call: CPU of this thread (``time.thread_time``: the hub's own work — SQLAlchemy, the
driver, mapping, the trace hop —, not the database server's), wall time and SQL statements
(cursor executions, commits not counted). The machine is shared: CPU per call is the figure to
compare; compare two trees by running this script from each (``PYTHONPATH=<tree>``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from sqlalchemy import event

from hub.edxml.model import MessageKind
from hub.ports import DeliveryRow, DocumentRow, PackageRow
from hub.services.contracts import TransportStatus
from tests.factories import make_status

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DB = os.environ.get("BENCH_PULL_DB", "bench_pull")
SYSTEM, AGENCY = "bench.recv", "000.00.01.H41"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def populate(hub: Any, n: int, *, in_store: bool = False) -> None:
    """``n`` status deliveries waiting in the recipient's inbox (one package, ``n`` documents);
    the body in the blob store behind the package row when ``in_store``."""
    data = make_status(sender="000.00.02.H41", description="Đã nhận văn bản")
    digest = hashlib.sha256(data).hexdigest()
    # Where the intake puts it: in the package row when small enough, else in the blob store.
    in_row = not in_store and len(data) <= hub.blobs.inline_max_bytes
    if not in_row:
        hub.blobs.put(data)
    verdicts = {"envelope": "missing", "pdf_checked": 0, "pdf_bad": 0, "schema": "valid"}
    problems = [{"code": "profile.signer_info_missing", "path": "/edXMLEnvelope/Header"}]
    with hub.uow() as uow:
        body = data if in_row else None
        uow.packages.add(PackageRow(digest, len(data), MessageKind.STATUS, T0, body))
        uow.commit()
    batch = 500
    for start in range(0, n, batch):
        with hub.uow() as uow:
            rows = []
            for i in range(start, min(n, start + batch)):
                at = T0 + dt.timedelta(milliseconds=i)
                doc = DocumentRow(
                    id=str(uuid.uuid4()),
                    digest=digest,
                    kind=MessageKind.STATUS,
                    document_id=None,
                    sender_code="000.00.02.H41",
                    sender_system=f"bench.send{i}",  # (sender_system, digest) is unique
                    business_type=0,
                    related_doc_id=None,
                    subject=None,
                    code_number=None,
                    code_notation=None,
                    verdicts=verdicts,
                    problems=problems,
                    flags=("profile.signer_info_missing", "envelope.missing"),
                    received_at=at,
                )
                uow.documents.add(doc)
                rows.append(
                    DeliveryRow(
                        str(uuid.uuid4()),
                        doc.id,
                        AGENCY,
                        None,
                        "local",
                        None,
                        SYSTEM,
                        "available",
                        0,
                        None,
                        None,
                        None,
                        None,
                        None,
                        at,
                        at,
                    )
                )
            uow.deliveries.add_many(rows)
            uow.commit()


class Meter:
    """CPU, wall and statements per call, by operation."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements = 0
        self.rows: dict[str, list[tuple[float, float, int]]] = {}
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:
        self.statements += 1

    def call(self, name: str, fn: Callable[[], Any]) -> Any:
        n0, c0, w0 = self.statements, time.thread_time(), time.perf_counter()
        out = fn()
        cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
        self.rows.setdefault(name, []).append((cpu, wall, self.statements - n0))
        return out

    def table(self) -> list[dict[str, Any]]:
        out = []
        for name, rows in self.rows.items():
            out.append(
                {
                    "op": name,
                    "calls": len(rows),
                    "cpu_us_median": statistics.median(r[0] for r in rows) * 1e6,
                    "cpu_us_mean": statistics.fmean(r[0] for r in rows) * 1e6,
                    "wall_ms_median": statistics.median(r[1] for r in rows) * 1e3,
                    "statements": statistics.median(r[2] for r in rows),
                }
            )
        return out


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from hub.entrypoints.bootstrap import build_hub
    from hub.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    env = {"LIENTHONG_DATA_DIR": str(work / "data")}
    admin = None
    if args.backend == "pg":
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
            c.execute(sa.text(f"CREATE DATABASE {PG_DB}"))
        env["LIENTHONG_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
    hub = build_hub(load_settings(None, env), verifier=None)
    try:
        hub.services.systems.add(SYSTEM, [AGENCY], secret="bench-secret-0123456789abcdef")
        populate(hub, args.inbox, in_store=args.body == "store")
        pull = hub.services.pull
        meter = Meter(hub.engine)
        for _ in range(args.pages):
            page = meter.call(
                "list_received", lambda: pull.list_received(SYSTEM, MessageKind.STATUS)
            )
            meter.call("count_received", lambda: pull.count_received(SYSTEM, MessageKind.STATUS))
        taken = [i.delivery_id for i in page][: args.takes]
        while len(taken) < args.takes:  # pages of inbox_page items: take more from the front
            page = pull.list_received(SYSTEM, MessageKind.STATUS, limit=args.takes)
            taken = [i.delivery_id for i in page]
        for delivery_id in taken:

            def download(d: str = delivery_id) -> int:
                fetched = pull.fetch_stream(SYSTEM, d)
                return sum(len(c) for c in fetched.chunks)

            meter.call("fetch_stream (read to the end)", download)
            meter.call(
                "update_status done",
                lambda d=delivery_id: pull.update_status(SYSTEM, d, TransportStatus.DONE),
            )
        return meter.table()
    finally:
        hub.close()
        if admin is not None:
            with admin.connect() as c:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
            admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("pg", "sqlite"), default="pg")
    ap.add_argument("--inbox", type=int, default=5000, help="deliveries waiting in the inbox")
    ap.add_argument("--pages", type=int, default=40, help="list_received / count_received calls")
    ap.add_argument("--takes", type=int, default=300, help="items fetched and acknowledged")
    ap.add_argument(
        "--body",
        choices=("row", "store"),
        default="row",
        help="where the package body is: its row, as the intake keeps a small one (default), "
        "or the blob store, as for a large one",
    )
    ap.add_argument("--json", metavar="FILE", help="append the raw result as a JSON line")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = run(args)
    took = time.perf_counter() - t0
    print(f"{args.backend}, inbox {args.inbox:,}, body in {args.body}, {took:.1f} s")
    print("| operation | calls | CPU µs/call median (mean) | wall ms median | statements |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['op']} | {r['calls']} | {r['cpu_us_median']:,.0f} ({r['cpu_us_mean']:,.0f}) "
            f"| {r['wall_ms_median']:.2f} | {r['statements']:.0f} |"
        )
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps({"backend": args.backend, "inbox": args.inbox, "rows": rows}) + "\n"
            )


if __name__ == "__main__":
    main()
