"""The inbound poller's own cost: items taken per second from a peer's inbox, in process.

Run from the repository root::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_inbound.py [--n 300] [--backend sqlite|postgresql]

What is measured: :class:`hub.services.inbound.InboundPoller` over the real intake
(:class:`hub.services.intake.Intake`: one parse, profile, policy, one transaction; no signature
verifier) and the SQL store, taking ``--n`` distinct edocs (≈ 4 KB, one small PDF) addressed to
a commune hosted here from an in-memory peer (:class:`adapters.memory.MemoryPeer`): listing,
fetching and acknowledging cost nothing, so the figures are the hub's side of each item
(intake + ``inbound_items`` row + acknowledgement record) — the ceiling of one poller thread.
Over HTTP each item adds the peer's ``getEdoc`` and ``updateStatus`` round trips.

Also measured: a round over ``--n`` items decided before (a parent that keeps listing items
acknowledged ``fail``): one ``inbound_items`` lookup each, nothing fetched.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from adapters.memory import ManualClock, MemoryBlobStore, MemoryPeer
from adapters.store.engine import create_engine
from adapters.store.migrate import upgrade
from adapters.store.uow import SqlStore
from hub.agency.loading import load_sample_registry
from hub.routing import Scope
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.hub import HubServices
from hub.services.inbound import InboundPoller
from tests.factories import make_edoc

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        else:
            import sqlalchemy as sa

            admin = sa.create_engine(PG + "test", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text("DROP DATABASE IF EXISTS bench_inbound"))
                conn.execute(sa.text("CREATE DATABASE bench_inbound"))
            url = PG + "bench_inbound"
        engine = create_engine(url)
        upgrade(engine)
        registry = load_sample_registry()
        deps = Deps(SqlStore(engine).unit_of_work, MemoryBlobStore(), lambda: registry,
                    ManualClock())  # fmt: skip
        config = HubConfig(organ_id="000.00.00.H41", scope=Scope.parse(["H41", "K41"]))
        hub = HubServices(deps, config, SecretBox(generate_key()))
        hub.systems.add("qlvb.nghiloc", ["000.00.65.H41"], secret="s")
        peer = MemoryPeer("national", relist_failed=False)
        sizes = []
        for i in range(args.n):
            data = make_edoc(sender="000.00.00.G22", to=["000.00.65.H41"],
                             document_id=f"G22-BENCH-{i}", code_number=str(1000 + i))  # fmt: skip
            sizes.append(len(data))
            peer.hold(data)
        poller = InboundPoller(deps, hub.intake, [peer.as_peer()], batch=args.n)

        wall, cpu = time.perf_counter(), time.process_time()
        report = poller.poll()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert len(report.accepted) == args.n, report

        peer.acks.clear()  # the peer lists every item again: all of them known here
        peer.relist_failed = True
        known_wall = time.perf_counter()
        again = poller.poll()
        known_wall = time.perf_counter() - known_wall
        assert again.skipped == args.n
        assert not again.accepted

        print(f"backend {args.backend}, {args.n} edocs of {sum(sizes) // len(sizes)} bytes")
        print(f"taken:   {args.n / wall:8.1f} items/s  wall {1000 * wall / args.n:6.2f} ms/item  "
              f"cpu {1000 * cpu / args.n:6.2f} ms/item")  # fmt: skip
        print(f"known:   {args.n / known_wall:8.1f} items/s  "
              f"wall {1000 * known_wall / args.n:6.2f} ms/item")  # fmt: skip
        engine.dispose()


if __name__ == "__main__":
    main()
