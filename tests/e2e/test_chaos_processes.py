"""Chaos on the hub's own processes and disk, under load, on both deployments.

* **Kills.** While senders push and the recipient pulls, the hub's processes are SIGKILLed three
  times and restarted on the same port: ``lienthong run`` on SQLite + the embedded broker (its
  lease shortened to 6 s so a message held by the dead process comes back within the test);
  ``lienthong worker`` and ``lienthong serve`` together on PostgreSQL + RabbitMQ.
* **Disk full.** The blob store's directory is a 16 MB tmpfs; mid-load it is filled to the last
  block. Pushes must then be refused cleanly — 503, which the sender retries — with nothing
  half-stored (no temp file left, no row without its body, no body stored twice), and be
  accepted again once the space is freed.

Each run prints its :class:`chaos_support.Figures` (``-s``); ``bench/RESULTS-chaos.md`` holds
the figures of a real run.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from chaos_support import Load, chaos_site, check, fill, free_bytes, tmpfs
from e2e_support import BACKENDS, HubProcess, HubSite

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.slow]

KILLS = 3
KILL_PACKAGES = 300
DISK_PACKAGES = 160
RATE = 12.0  # pushes a second, all senders together


def _start(site: HubSite) -> tuple[HubProcess, HubProcess | None]:
    """The API (``run`` on SQLite, which also runs the workers) and the worker, if separate."""
    if site.backend == "sqlite":
        return site.start("run"), None
    return site.start("serve"), site.start("worker")


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_sigkilled_three_times_under_load(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    env = {"LIENTHONG_BROKER_LEASE_S": "6"} if backend == "sqlite" else {}
    with chaos_site(request, backend, tmp_path, env=env) as site:
        api, worker = _start(site)
        load = Load(api.url, api.url, packages=KILL_PACKAGES, rate=RATE).start()
        for _ in range(KILLS):
            load.wait_answered(len(load.batch.answered) + 20)
            assert load.sending(), "the load ended before the kill"
            if worker is not None:
                worker.kill()
            api.kill()
            api = site.start(api.command, port=api.port)
            if worker is not None:
                worker = site.start("worker")
        load.recovered()
        fault = f"{'run' if worker is None else 'serve + worker'} SIGKILLed ×{KILLS}"
        figures = load.finish(backend, fault, timeout=120)
        check(figures, KILL_PACKAGES)
        assert figures.retried > 0, "no push met a dead hub: the kills were not under load"


@pytest.mark.parametrize("backend", BACKENDS)
def test_blob_store_disk_full_under_load(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    # Every body goes to the blob store (none kept in its package row): the disk under test.
    body_store = {"LIENTHONG_BLOB_INLINE_MAX": "0"}
    with (
        tmpfs(tmp_path / "blobs", "16m") as disk,
        chaos_site(request, backend, tmp_path, env=body_store) as site,
    ):
        api, _ = _start(site)
        load = Load(api.url, api.url, packages=DISK_PACKAGES, rate=RATE).start()
        load.wait_answered(40)
        filler = fill(disk)
        assert free_bytes(disk) < 4096
        refused_before = len(load.batch.unanswered)
        deadline = time.monotonic() + 30
        while len(load.batch.unanswered) < refused_before + 10:
            assert time.monotonic() < deadline, "no push refused while the disk is full"
            assert not load.batch.errors, load.batch.errors[:3]  # a 500, not a clean 503
            time.sleep(0.05)
        refused = len(load.batch.unanswered) - refused_before
        # Refused cleanly: the hub's 503 (blob.unwritable), never a 500 or a dropped connection.
        assert set(load.batch.refused_with[refused_before:]) == {503}, load.batch.refused_with
        assert load.sending(), "the load ended while the disk was full"
        assert list((disk / "tmp").iterdir()) == [], "a half-written body left behind"
        filler.unlink()
        load.recovered()
        figures = load.finish(backend, "blob store's disk full", timeout=90)
        check(figures, DISK_PACKAGES)
        print(f"chaos: {refused} pushes refused (503) while the disk was full")
        # Nothing half-stored: one intact body per package, no temp file.
        bodies = [p for p in disk.rglob("*") if p.is_file()]
        assert all(p.parent.parent.parent == disk for p in bodies), bodies
        assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.name for p in bodies)
        assert len(bodies) == DISK_PACKAGES
        assert api.popen.poll() is None, api.log()
