"""Evidence sealing cost per 1,000 delivery events: linking, storing the links, one timestamp.

Run from the repository root (PostgreSQL running on 127.0.0.1:5432, trust auth)::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_evidence.py [--n 1000] [--rounds 5]

Each round writes ``--n`` delivery events (one document, ``n/5`` deliveries, 5 events each:
the shape of accepted → available → fetched → done → status), untimed, and then times one
:meth:`hub.services.evidence_seal.EvidenceSealer.seal_once` in three parts:

* **read** — reading the unsealed events joined with delivery and document;
* **link+write** — hashing (leaf + link per event) and the UPDATE transaction;
* **timestamp** — ONE RFC 3161 request over the head to the test TSA (``tests/tsa.py``, loopback
  HTTP, RSA-2048 signing in this same process — a real TSA adds its network round trip).

Also timed: exporting one document's ASiC-E container (statement, chain path over the round,
two CMS signatures with a file key) and verifying it offline. Figures are medians over
``--rounds`` rounds on a fresh database (SQLite file in a temp dir; a throwaway PostgreSQL
database, dropped at the end).
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
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding
from scratch import scratch_database

from adapters.memory import ManualClock
from adapters.store import migrate
from adapters.store import tables as t
from adapters.store.blobs import FileBlobStore
from adapters.store.engine import create_engine
from adapters.store.evidence import SqlEvidenceChain
from hub.audit_chain import link
from hub.evidence import chain_canon
from hub.services.evidence_seal import EvidenceSealer
from signing.evidence import CmsReceiptSigner, HttpTimestamper
from signing.evidence_asic import export_document, verify_container
from signing.keys import load_key
from tests.factories import make_edoc
from tests.pki import build_pki, write_key_files
from tests.tsa import TsaServer

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATES = [(None, "queued"), ("queued", "available"), ("available", "fetched"),
          ("fetched", "done"), ("done", "done")]  # fmt: skip


def write_events(engine: sa.Engine, blobs: FileBlobStore, n: int, at: dt.datetime) -> str:
    """One document with ``n // 5`` deliveries of 5 events each; returns the doc id."""
    data = make_edoc(sender="000.00.00.G22", to=["000.00.00.H41"], subject=uuid.uuid4().hex)
    digest = blobs.put(data)
    doc_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            t.packages.insert().values(digest=digest, size=len(data), kind="edoc", received_at=at)
        )
        conn.execute(
            t.documents.insert().values(
                id=doc_id, digest=digest, kind="edoc", document_id=f"bench/{doc_id}",
                sender_code="000.00.00.G22", sender_system="qlvb", business_type=0,
                verdicts={}, problems=[], flags=[], received_at=at,
            )
        )  # fmt: skip
        deliveries = [str(uuid.uuid4()) for _ in range(n // 5)]
        conn.execute(
            t.deliveries.insert(),
            [
                {"id": d, "doc_id": doc_id, "recipient_code": f"000.{i:02d}.00.H41",
                 "route": "local", "state": "done", "created_at": at, "updated_at": at}
                for i, d in enumerate(deliveries)
            ],
        )  # fmt: skip
        conn.execute(
            t.delivery_events.insert(),
            [
                {"delivery_id": d, "at": at + dt.timedelta(seconds=k), "from_state": f,
                 "to_state": s, "reason": "status 03" if k == 4 else None}
                for d in deliveries
                for k, (f, s) in enumerate(STATES)
            ],
        )  # fmt: skip
    return doc_id


def bench_backend(label: str, url: str, n: int, rounds: int, tmp: Path) -> None:
    migrate.upgrade(url)
    engine = create_engine(url)
    blobs = FileBlobStore(tmp / f"blobs-{secrets.token_hex(3)}", fsync=False)
    clock = ManualClock(dt.datetime(2026, 12, 4, 8, tzinfo=dt.UTC))
    store = SqlEvidenceChain(engine)
    pki = build_pki()
    key = load_key(f"file:{write_key_files(pki, tmp / 'keys')['agency.pem']}")
    signer = CmsReceiptSigner(key)
    times: dict[str, list[float]] = {"read": [], "link": [], "tsa": [], "export": [], "verify": []}
    with TsaServer() as tsa:
        timestamper = HttpTimestamper(tsa.url)
        cas = [pki.root.cert.public_bytes(Encoding.DER), tsa.root_cert.public_bytes(Encoding.DER)]
        sealer = EvidenceSealer(store, clock, timestamper)
        write_events(engine, blobs, 100, clock.now())  # warm pools, caches, the TSA
        sealer.seal_once()
        for _ in range(rounds):
            doc_id = write_events(engine, blobs, n, clock.advance(60))
            t0 = time.perf_counter()
            events = store.unsealed(n)
            t1 = time.perf_counter()
            seq, head = store.head()
            store.seal(link(events, seq, head, chain_canon))
            t2 = time.perf_counter()
            hits = tsa.hits
            sealer.seal_once()  # nothing left to link: exactly the one timestamp
            t3 = time.perf_counter()
            if tsa.hits != hits + 1:
                raise SystemExit(f"expected one timestamp in the round, got {tsa.hits - hits}")
            data = export_document(store, blobs, signer, doc_id, hub_id="bench", now=clock.now())
            t4 = time.perf_counter()
            report = verify_container(data, cas)
            t5 = time.perf_counter()
            if not report.ok or report.events_proven != n:
                raise SystemExit(f"the exported container does not verify: {report.problems}")
            for name, value in zip(
                times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True
            ):
                times[name].append(value * 1000)
    key.close()
    engine.dispose()
    med = {k: statistics.median(v) for k, v in times.items()}
    total = med["read"] + med["link"] + med["tsa"]
    print(
        f"| {label} | {n} | {med['read']:.1f} | {med['link']:.1f} | {med['tsa']:.1f} "
        f"| {total:.1f} | {total / n * 1000:.0f} | {med['export']:.1f} | {med['verify']:.1f} |",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="events per round (multiple of 5)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pg", default=PG_SERVER, help="PostgreSQL server URL (a database is made)")
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, SQLAlchemy {sa.__version__}, n={args.n}")
    print(
        "| backend | events | read ms | link+write ms | timestamp ms | seal round ms "
        "| µs/event | export ms (1 doc) | verify ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        bench_backend(
            "SQLite (WAL)", f"sqlite:///{Path(tmp) / 'hub.db'}", args.n, args.rounds, Path(tmp)
        )
        if not args.skip_pg:
            with scratch_database(args.pg) as url:
                bench_backend("PostgreSQL 15", url, args.n, args.rounds, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
