"""Across the levels: packages pushed on one provincial hub, available on another province's hub
through the national axis — three ``lienthong run`` processes on 127.0.0.1.

Run from the repository root::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_levels.py [--n 300] [--pushers 4] [--poll-s 0.2]
        [--backend sqlite|postgresql]

What runs: the e2e suite's machinery (:mod:`tests.e2e.e2e_support`: ``HubSite``, ``parent_env``)
starts the axis (``--role national``), Nghệ An (H41) and Cao Bằng (H14), both below the axis,
exactly as ``tests/e2e/test_levels.py`` does; ``sqlite`` is each hub on its own SQLite file and
the embedded broker, ``postgresql`` each on its own PostgreSQL database and a RabbitMQ prefix of
its own. This process is the load: ``--pushers`` threads push ``--n`` distinct edocs (≈ 4.8 KB,
one small PDF, unsigned) from a commune of H41 to a department of H14, and one thread is the
department, listing its inbox every 50 ms and taking + acknowledging each new item.

The path of each package: H41's intake → dispatch → forward (``sendEdoc`` to the axis) → the
axis' intake → the axis' dispatch into ``hub.h14``'s inbox → H14's inbound poller (every
``--poll-s``: list, ``getEdoc``, local intake, ``updateStatus``) → H14's dispatch into the
department's inbox.

Figures:

* **throughput** — ``n`` / (first push → last package available at H14);
* **latency** push→available — per package, the client's clock at the start of its ``sendEdoc``
  to the first listing that shows it in the department's inbox (≤ 50 ms listing granularity);
* **CPU per package** of each hub process from ``/proc/<pid>/stat`` (user + system) over the
  run, divided by ``n``. H14's is the poller's process: the inbound round and the local intake,
  plus the dispatch and the department's pulls it serves — ``run`` is one process;
* the machine's load average before and after (the machine is shared: say so in the results).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from e2e_support import (
    RABBIT_URL,
    HubSite,
    _site_env,
    delete_rabbit_topology,
    edoc_for,
    number_of,
    parent_env,
    wait_for,
)

from adapters.vxp_client import VxpClient

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
G22, H41, H14 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"
COMMUNE, DEPT = "000.00.65.H41", "000.00.02.H14"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def database(name: str) -> str:
    import sqlalchemy as sa

    admin = sa.create_engine(PG + "test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return PG + name


def site(root: Path, name: str, backend: str, prefixes: list[str]) -> HubSite:
    data = root / name
    data.mkdir()
    if backend == "sqlite":
        return HubSite(backend, data, _site_env(data, None, "embedded"))
    prefix = f"bench{secrets.token_hex(4)}"
    prefixes.append(prefix)
    env = _site_env(data, database(f"bench_levels_{name}"), RABBIT_URL, prefix)
    return HubSite(backend, data, env)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--pushers", type=int, default=4)
    parser.add_argument("--poll-s", type=float, default=0.2)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    prefixes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-levels-") as tmp:
        root = Path(tmp)
        axis, h41, h14 = (site(root, n, args.backend, prefixes) for n in ("axis", "h41", "h14"))
        try:
            run(args, axis, h41, h14)
        finally:
            for s in (axis, h41, h14):
                s.stop_all()
            for prefix in prefixes:
                delete_rabbit_topology(prefix)


def run(args: argparse.Namespace, axis: HubSite, h41: HubSite, h14: HubSite) -> None:
    axis.env.update(LIENTHONG_ORGAN_ID=G22, LIENTHONG_ROLE="national")
    axis.add_system("hub.h41", [H41], "bench-h41")
    axis.add_system("hub.h14", [H14], "bench-h14")
    parent = axis.start("run")
    for s, organ, system, secret in ((h41, H41, "hub.h41", "bench-h41"),
                                     (h14, H14, "hub.h14", "bench-h14")):  # fmt: skip
        s.env["LIENTHONG_ORGAN_ID"] = organ
        s.env["LIENTHONG_SCOPE"] = organ[-3:]
        s.env.update(parent_env(parent.url + "/", system, secret, poll_s=args.poll_s))
    h41.add_system("qlvb.nghiloc", [COMMUNE], "bench-commune")
    h14.add_system("qlvb.snv.h14", [DEPT], "bench-dept")
    p41, p14 = h41.start("run"), h14.start("run")

    def registered() -> list[str]:
        import json

        systems = json.loads(axis.cli("systems", "list", "--json").stdout)
        return [c for s in systems if s["system_id"] == "hub.h14" for c in s["agencies"]
                if c == DEPT]  # fmt: skip

    wait_for(registered, what="H14's department registered at the axis", timeout=120)

    packages = {}
    for _ in range(args.n):
        _, data = edoc_for(COMMUNE, [DEPT])
        packages[number_of(data)] = data
    numbers = list(packages)
    pushed_at: dict[str, float] = {}
    available_at: dict[str, float] = {}
    errors: list[BaseException] = []
    done = threading.Event()

    def pusher(mine: list[str]) -> None:
        with VxpClient(p41.url + "/", "qlvb.nghiloc", "bench-commune") as c:
            for number in mine:
                pushed_at[number] = time.monotonic()
                try:
                    c.send_edoc(packages[number], from_code=COMMUNE, to_codes=[DEPT])
                except BaseException as exc:
                    errors.append(exc)

    def department() -> None:
        with VxpClient(p14.url + "/", "qlvb.snv.h14", "bench-dept") as c:
            while not done.is_set():
                items = c.get_received_edoc_list()
                seen = time.monotonic()
                for item in items:
                    number = number_of(c.get_edoc(item.doc_id))
                    c.update_status(item.doc_id, "done")
                    if number in available_at:
                        errors.append(AssertionError(f"{number} delivered twice"))
                    available_at[number] = seen
                if len(available_at) >= args.n:
                    return
                time.sleep(0.05)

    procs = {"axis": parent, "h41": p41, "h14": p14}
    load_before = os.getloadavg()
    cpu_before = {k: cpu_s(p.popen.pid) for k, p in procs.items()}
    taker = threading.Thread(target=department)
    taker.start()
    started = time.monotonic()
    threads = [threading.Thread(target=pusher, args=(numbers[i :: args.pushers],))
               for i in range(args.pushers)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pushed = time.monotonic()
    taker.join(timeout=600)
    done.set()
    finished = max(available_at.values(), default=time.monotonic())
    cpu = {k: cpu_s(p.popen.pid) - cpu_before[k] for k, p in procs.items()}
    load_after = os.getloadavg()

    assert not errors, errors[:3]
    assert len(available_at) == args.n, f"{len(available_at)} of {args.n} arrived"
    latencies = sorted(available_at[n] - pushed_at[n] for n in numbers)
    q = statistics.quantiles(latencies, n=100)
    size = sum(map(len, packages.values())) // args.n
    print(f"backend {args.backend}: {args.n} edocs of {size} bytes, {args.pushers} pushers, "
          f"inbound poll every {args.poll_s} s")  # fmt: skip
    print(f"push rate at H41:          {args.n / (pushed - started):8.1f} packages/s")
    print(f"throughput H41 → axis → H14: {args.n / (finished - started):6.1f} packages/s")
    print(f"latency push→available:    p50 {1000 * q[49]:7.0f} ms  p99 {1000 * q[98]:7.0f} ms  "
          f"max {1000 * latencies[-1]:7.0f} ms")  # fmt: skip
    for name, seconds in cpu.items():
        print(f"CPU per package, {name:4s}:   {1000 * seconds / args.n:7.2f} ms")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"({os.cpu_count()} cores)")  # fmt: skip


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
