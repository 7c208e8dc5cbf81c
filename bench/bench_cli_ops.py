"""The operators' long commands at the sizes a bad day brings: registry import of tens of
thousands of agencies, dead-letter listing, redrive and discard of thousands.

Run from the repository root::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_cli_ops.py [--agencies 20000] [--dead 5000] [--pg]

Each step runs ``lienthong`` in this process (``hub.entrypoints.cli.main``, exactly what the
console script calls) on a fresh data dir — SQLite in it, or with ``--pg`` a throwaway
PostgreSQL database (dropped at the end). Dead letters are seeded straight into the store as
intake and the forwarder would leave them (a document with two recipients, one ``dead`` on the
national route, one ``dead`` on the peer route ``caobang``, each with its events), since pushing
thousands of packages would measure intake instead. Then:

* ``agencies import`` of a national-registry CSV of ``--agencies`` rows;
* ``deadletters list --json`` (the first 100), and ``--system`` (a filter applied over every
  dead letter read: the hazard named in ``Monitor.dead_letters``);
* ``deadletters redrive --all --peer national --yes`` (``--dead`` deliveries, batches of 200);
* ``deadletters discard`` of the other ``--dead`` deliveries by id.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import secrets
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from hub.edxml.model import MessageKind
from hub.entrypoints.bootstrap import build_hub
from hub.entrypoints.cli import main
from hub.ports import DeliveryEvent, DeliveryRow, DocumentRow, PackageRow
from hub.settings import load_settings

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _csv(path: Path, n: int) -> None:
    lines = ["id,pid,code,name,mail,oldCode", "1,,000.00.00.K99,Ủy ban nhân dân tỉnh Thử,,"]
    for i in range(2, n + 1):
        lines.append(f"{i},1,{i // 100:03d}.{i % 100:02d}.{i // 10000 + 1:02d}.K99,Xã thử {i},,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _seed(data_dir: str, n: int) -> None:
    """``n`` documents, each with a dead national and a dead peer delivery."""
    with build_hub(load_settings(env={**os.environ, "LIENTHONG_DATA_DIR": data_dir})) as hub:
        at = hub.clock.now() - dt.timedelta(days=1)
        for start in range(0, n, 500):
            with hub.uow() as uow:
                for _ in range(start, min(n, start + 500)):
                    digest = secrets.token_hex(32)
                    doc = DocumentRow(
                        str(uuid.uuid4()),
                        digest,
                        MessageKind.EDOC,
                        f"000.00.00.H41,2026/03/02,{digest[:16]}/UBND-VP",
                        "000.00.00.H41",
                        "qlvb.ubnd",
                        0,
                        None,
                        "V/v thử",
                        "17",
                        "UBND-VP",
                        {},
                        [],
                        [],
                        at,
                    )
                    uow.packages.add(PackageRow(digest, 4096, MessageKind.EDOC, at))
                    uow.documents.add(doc)
                    rows = [
                        DeliveryRow(
                            str(uuid.uuid4()),
                            doc.id,
                            code,
                            None,
                            route,
                            peer,
                            None,
                            "dead",
                            3,
                            None,
                            "peer.unavailable",
                            None,
                            None,
                            None,
                            at,
                            at,
                        )
                        for code, route, peer in (
                            ("000.00.00.G22", "national", None),
                            ("000.00.00.H14", "peer", "caobang"),
                        )
                    ]
                    uow.deliveries.add_many(rows)
                    uow.deliveries.add_events(
                        DeliveryEvent(r.id, at, s0, s1)
                        for r in rows
                        for s0, s1 in (
                            (None, "queued"),
                            ("queued", "forwarding"),
                            ("forwarding", "dead"),
                        )
                    )
                uow.commit()


def _timed(label: str, argv: list[str]) -> tuple[float, str]:
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    took = time.perf_counter() - t0
    print(f"{label:48} {took:8.2f} s  (exit {code})", flush=True)
    return took, out.getvalue()


def run(agencies: int, dead: int, data_dir: str) -> None:
    d = ["--data-dir", data_dir]
    csv = Path(data_dir) / "registry.csv"
    _csv(csv, agencies)
    _timed(f"agencies import ({agencies} rows)", ["agencies", "import", str(csv), *d])
    t0 = time.perf_counter()
    _seed(data_dir, dead)
    print(f"{'(seed ' + str(2 * dead) + ' dead letters)':48} {time.perf_counter() - t0:8.2f} s")
    _timed("deadletters list --json (first 100)", ["deadletters", "list", "--json", *d])
    _timed(
        f"deadletters list --system (over {2 * dead})",
        ["deadletters", "list", "--json", "--system", "qlvb.ubnd", *d],
    )
    _, listed = _timed(
        f"deadletters list --peer caobang --limit {dead}",
        ["deadletters", "list", "--json", "--peer", "caobang", "--limit", str(dead), *d],
    )
    import json

    peer_ids = [r["delivery_id"] for r in json.loads(listed)]
    _timed(
        f"deadletters redrive --all --peer national ({dead})",
        ["deadletters", "redrive", "--all", "--peer", "national", "--yes", *d],
    )
    _timed(
        f"deadletters discard ({len(peer_ids)} ids)",
        ["deadletters", "discard", *peer_ids, "--reason", "bench", *d],
    )


def main_bench() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agencies", type=int, default=20000)
    ap.add_argument("--dead", type=int, default=5000)
    ap.add_argument("--pg", action="store_true")
    args = ap.parse_args()
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.pg:
            print("backend: SQLite (WAL) in the data dir")
            run(args.agencies, args.dead, tmp)
        else:
            name = f"bench_cli_{secrets.token_hex(4)}"
            admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            os.environ["LIENTHONG_DATABASE_URL"] = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
            print("backend: PostgreSQL")
            try:
                run(args.agencies, args.dead, tmp)
            finally:
                with admin.connect() as c:
                    c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main_bench()
