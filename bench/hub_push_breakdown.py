"""Where one push's CPU goes, in-process: sequential pushes through ``HubServices.push`` with the
stage timers of ``bench/hub_server.py`` plus timers on the unit of work and the intake helpers.

No HTTP. One thread by default: the figures are the service's own cost per push (nested timers
overlap: ``_plan`` includes its SELECT, which is also in "db statements"). ``--threads N``
pushes from N threads at once, so the group commit (``limits.intake_batch`` /
``--intake-batch``, ``--intake-lanes``) joins them; process CPU per push is then the figure.

Usage: ``python bench/hub_push_breakdown.py --backend pg --kind status --n 300``
``python bench/hub_push_breakdown.py --backend pg --n 2000 --threads 16 --intake-batch 1``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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
    intake._finish = hs.timed("outbox + audit rows (once per transaction)", intake._finish)  # type: ignore[assignment]
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
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--intake-batch", type=int, default=None)
    ap.add_argument("--intake-lanes", type=int, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hub-breakdown-"))
    revocation = RevocationServer().start()
    try:
        pdf, anchors = b.signed_pdf(work, revocation)
        with b.backend(args.backend, work / "data") as env:
            env["LIENTHONG_SETTINGS"] = str(
                b.write_settings(work, anchors, args.intake_batch, args.intake_lanes)
            )
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
            t0, w0 = time.process_time(), time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(lambda d: hub.services.push("bench.send0", d), data))
            cpu = (time.process_time() - t0) / args.n
            rate = args.n / (time.perf_counter() - w0)
            writer = hub.services.intake.writer
            grouped = f"{writer.items} pushes in {writer.batches} grouped transactions"
            hub.close()
    finally:
        revocation.stop()
    print(
        f"{args.backend} {args.kind}, {args.threads} thread(s): {1e6 * cpu:,.0f} µs process CPU"
        f" per push, {rate:,.0f} pushes/s; {grouped}; load {Path('/proc/loadavg').read_text()}"
    )
    print("| timer | calls per push | CPU µs per push |\n|---|---:|---:|")
    for name, (calls, _wall, cpu_s) in sorted(hs.STATS.items(), key=lambda kv: -kv[1][2]):
        print(f"| {name} | {calls / args.n:.1f} | {1e6 * cpu_s / args.n:,.0f} |")


if __name__ == "__main__":
    main()
