"""The worker's own costs, in process: thread CPU per delivery dispatched and per row sealed.

A fresh store (SQLite file, or a PostgreSQL database ``bench_worker`` dropped afterwards)
receives ``--n`` accepted packages as the intake leaves them — a document, one LOCAL delivery
in ``queued`` with its ``accepted`` event, one audit row — then:

* **dispatch** — :meth:`hub.services.dispatch.DispatchHandler.dispatch` over batches of
  ``--batch`` delivery ids (what one merged dispatch message carries), one transaction each;
* **audit seal** — :meth:`hub.services.audit_seal.AuditSealer.seal_once` until every row is
  linked (checkpoint file in a temporary directory);
* **evidence seal** — :meth:`hub.services.evidence_seal.EvidenceSealer.seal_once` until every
  event (accepted + available: two per package) is linked; no TSA.

CPU is ``time.thread_time()`` around each phase (the database server's own CPU is not in it);
wall time beside it. ``--tree DIR`` imports ``adapters`` and ``hub`` from another checkout (a
worktree at the base commit) for an A/B in one session; run the two alternately.

Usage: ``python bench/bench_worker.py [--backend sqlite|pg] [--n 3000] [--batch 10]
[--tree DIR]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DB = os.environ.get("BENCH_WORKER_DB", "bench_worker")


def fill(uow_factory: Any, n: int, at: dt.datetime) -> list[str]:
    """``n`` accepted status packages as the intake stores them; returns the delivery ids."""
    from hub.edxml.model import MessageKind
    from hub.ports import AuditRow, DeliveryEvent, DeliveryRow, DocumentRow, PackageRow

    ids: list[str] = []
    for start in range(0, n, 500):
        with uow_factory() as uow:
            for i in range(start, min(n, start + 500)):
                digest = f"{i:064x}"
                doc = DocumentRow(
                    id=str(uuid.uuid4()),
                    digest=digest,
                    kind=MessageKind.STATUS,
                    document_id=None,
                    sender_code="000.00.02.H41",
                    sender_system="bench.send",
                    business_type=0,
                    related_doc_id=None,
                    subject=None,
                    code_number=None,
                    code_notation=None,
                    verdicts={},
                    problems=[],
                    flags=[],
                    received_at=at,
                )
                row = DeliveryRow(
                    id=str(uuid.uuid4()),
                    doc_id=doc.id,
                    recipient_code="000.00.01.H41",
                    resolved_code="000.00.01.H41",
                    route="local",
                    peer_name=None,
                    system_id="bench.recv",
                    state="queued",
                    attempts=0,
                    next_attempt_at=None,
                    last_error=None,
                    business_status=None,
                    business_status_desc=None,
                    business_status_at=None,
                    created_at=at,
                    updated_at=at,
                )
                uow.packages.add(PackageRow(digest, 5167, MessageKind.STATUS, at))
                uow.documents.add(doc)
                uow.deliveries.add(row)
                uow.deliveries.add_event(DeliveryEvent(row.id, at, None, "queued", "accepted"))
                uow.audit.append(
                    AuditRow(at, "system:bench.send", "push.accepted", doc.id, "ok", {"n": i})
                )
                ids.append(row.id)
            uow.commit()
    return ids


def timed(fn: Callable[[], int]) -> tuple[int, float, float]:
    """``(count, thread CPU s, wall s)`` of ``fn`` called until it returns 0."""
    c0, w0, count = time.thread_time(), time.perf_counter(), 0
    while (done := fn()) > 0:
        count += done
    return count, time.thread_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "pg"), default="pg")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent))
    a = ap.parse_args()
    sys.path.insert(0, a.tree)
    import sqlalchemy as sa

    from adapters.memory import ManualClock
    from adapters.store import migrate
    from adapters.store.audit_chain import SqlAuditChain
    from adapters.store.engine import create_engine
    from adapters.store.evidence import SqlEvidenceChain
    from adapters.store.uow import SqlStore
    from hub.audit_chain import anchor_key
    from hub.services.audit_seal import AuditSealer
    from hub.services.dispatch import DispatchHandler
    from hub.services.evidence_seal import EvidenceSealer

    at = dt.datetime.now(dt.UTC)
    admin = None
    with tempfile.TemporaryDirectory() as work:
        if a.backend == "pg":
            admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
                c.execute(sa.text(f"CREATE DATABASE {PG_DB}"))
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
        else:
            url = f"sqlite:///{work}/hub.db"
        engine = create_engine(url)
        try:
            migrate.upgrade(engine)
            store = SqlStore(engine)
            ids = fill(store.unit_of_work, a.n, at)
            clock = ManualClock(at + dt.timedelta(seconds=1))
            handler = DispatchHandler(store.unit_of_work, clock, wake_outbox=lambda: None)
            batches = [ids[i : i + a.batch] for i in range(0, len(ids), a.batch)]

            def dispatch() -> int:
                if not batches:
                    return 0
                batch = batches.pop(0)
                handler.dispatch(batch)
                return len(batch)

            key = anchor_key(b"bench-secret-0123456789abcdef")
            audit = AuditSealer(SqlAuditChain(engine), clock, key, Path(work) / "anchors.jsonl")
            evidence = EvidenceSealer(SqlEvidenceChain(engine), clock, None)
            figures = [
                ("dispatch", ("delivery", "deliveries"), timed(dispatch)),
                ("audit seal", ("row", "rows"), timed(audit.seal_once)),
                ("evidence seal", ("event", "events"), timed(evidence.seal_once)),
            ]
        finally:
            engine.dispose()
            if admin is not None:
                with admin.connect() as c:
                    c.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
                admin.dispose()
    print(f"{a.tree} ({a.backend}, {a.n} packages, dispatch batches of {a.batch}):")
    for name, (unit, units), (count, cpu, wall) in figures:
        print(
            f"  {name}: {count:,} {units}, {1e6 * cpu / max(count, 1):,.0f} µs CPU "
            f"and {1e6 * wall / max(count, 1):,.0f} µs wall per {unit}"
        )


if __name__ == "__main__":
    main()
