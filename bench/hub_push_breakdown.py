"""Where one push's CPU goes, in-process: sequential pushes through ``HubServices.push`` with the
stage timers of ``bench/hub_server.py`` plus timers on the unit of work and the intake helpers.

One thread, no HTTP, no concurrency: the figures are the service's own cost per push (nested
timers overlap: ``_plan`` includes its SELECT, which is also in "db statements").

Usage: ``python bench/hub_push_breakdown.py --backend pg --kind status --n 300``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_hub as b
import hub_server as hs


def instrument_more() -> None:
    import adapters.store.uow as uow_mod
    import hub.services.intake as intake

    intake.router = hs.timed("router()", intake.router)  # type: ignore[assignment]
    intake.Intake._plan = hs.timed("_plan", intake.Intake._plan)  # type: ignore[method-assign]
    intake.audit = hs.timed("audit()", intake.audit)  # type: ignore[assignment]
    intake.enqueue_dispatch = hs.timed("enqueue_dispatch", intake.enqueue_dispatch)  # type: ignore[assignment]
    exit_ = hs.timed("uow exit (rollback + return)", uow_mod.SqlUnitOfWork.__exit__)
    uow_mod.SqlUnitOfWork.__exit__ = exit_  # type: ignore[method-assign]
    checkout = hs.timed("uow checkout (pool + pre-ping)", uow_mod.SqlUnitOfWork.connection)
    plain = uow_mod.SqlUnitOfWork.connection

    def connection(self: Any) -> Any:
        return checkout(self) if self._conn is None else plain(self)

    uow_mod.SqlUnitOfWork.connection = connection  # type: ignore[method-assign]


def main() -> None:
    from tests.pki import RevocationServer

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("pg", "embedded"), default="pg")
    ap.add_argument("--kind", choices=("status", "edoc"), default="status")
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hub-breakdown-"))
    revocation = RevocationServer().start()
    try:
        pdf, anchors = b.signed_pdf(work, revocation)
        with b.backend(args.backend, work / "data") as env:
            env["LIENTHONG_SETTINGS"] = str(b.write_settings(work, anchors))
            env["LIENTHONG_TRUST_NETWORK"] = "1"
            b.register_systems(env)
            os.environ.update(env)
            hs.instrument()
            instrument_more()
            from hub.entrypoints.bootstrap import build_hub
            from hub.settings import load_settings

            hub = build_hub(load_settings(), migrate=False)
            feed = b.Feed(b.templates(args.kind, pdf))
            for _ in range(20):
                hub.services.push("bench.send0", feed.next(0))
            data = [feed.next(0) for _ in range(args.n)]
            hs.reset()
            t0 = time.process_time()
            for d in data:
                hub.services.push("bench.send0", d)
            cpu = (time.process_time() - t0) / args.n
            hub.close()
    finally:
        revocation.stop()
    print(f"{args.backend} {args.kind}: {1e6 * cpu:,.0f} µs process CPU per push\n")
    print("| timer | calls per push | CPU µs per push |\n|---|---:|---:|")
    for name, (calls, _wall, cpu_s) in sorted(hs.STATS.items(), key=lambda kv: -kv[1][2]):
        print(f"| {name} | {calls / args.n:.1f} | {1e6 * cpu_s / args.n:,.0f} |")


if __name__ == "__main__":
    main()
