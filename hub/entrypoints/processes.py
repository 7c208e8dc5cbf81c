"""Several API processes on one port: ``lienthong serve --workers N`` / ``run --workers N``.

Why: one Python process uses at most one core (the GIL), and the push path spends several
milliseconds of CPU per package (``bench/RESULTS-hub.md``); N processes use N cores.

Theory of operation. The supervisor (this module, in the ``lienthong`` process) brings the
database schema to head ONCE, reserves the port with a bound but not listening
``SO_REUSEPORT`` socket (so ``--port 0`` works and no other program takes the port between
children), then starts N children: each is the ordinary single-process ``lienthong serve|run``
with ``--reuse-port --no-migrate``, building its OWN hub — engine and connection pool, broker
connection, outbox relay (and, for ``run``, the delivery consumers) — and listening on its own
``SO_REUSEPORT`` socket; the Linux kernel spreads new connections across the listening sockets.
Nothing is shared between children but the database, the broker and the blob directory, all of
which already serve several processes (DESIGN.md §4: the relay claims outbox rows with ``FOR
UPDATE SKIP LOCKED``; blob writes are atomic renames; caches are per process with short TTLs).

Signals: SIGTERM/SIGINT are passed to every child, which stops cleanly (connections drained,
relay and consumers stopped); the supervisor exits once all have.

A child that dies (an OOM kill on a huge body, a crash in a C extension) is **replaced**: the
others keep serving the port meanwhile, so one crash never takes the API down. Replacements
wait an exponential backoff (:class:`RestartPolicy`) that resets once a child has lived a while;
more deaths than the policy allows within its window is a crash loop — the supervisor stops the
group and exits non-zero, and the service manager (``deploy/systemd``, ``Restart=``) takes over.
Why not uvicorn's own multi-process supervisor: its children run only the ASGI app, while ours
each build a whole hub (relay, delivery consumers for ``run``) from the single-process command,
and the schema must be migrated once before any of them starts.

When to raise N: on PostgreSQL, up to the cores the hub may use (each process also holds its
own connection pool: N × pool size must fit ``max_connections``). On SQLite 1 is as good as
more: there is one writer, and the processes take turns on it (the writers' file lock of
:mod:`adapters.store.write_gate`, so a waiting process is not parked in SQLite's busy
handler); two processes pushed about as much as one (``bench/RESULTS-hub.md``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

from hub.settings import Settings

#: How long children get to stop after SIGTERM before they are killed.
STOP_TIMEOUT_S = 30.0


def migrate_once(settings: Settings) -> None:
    """Bring the schema to head before any child starts (children run ``--no-migrate``)."""
    from adapters.store.engine import create_engine
    from adapters.store.migrate import upgrade
    from hub.entrypoints.bootstrap import database_url

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url(settings))
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def child_command(
    command: str, host: str, port: int, settings_file: str | None, data_dir: str | None
) -> list[str]:
    """The argv of one child: the single-process command on the shared port."""
    argv = [sys.executable, "-m", "hub.entrypoints.cli", command, "--host", host]
    argv += ["--port", str(port), "--workers", "1", "--reuse-port", "--no-migrate"]
    if settings_file:
        argv += ["--settings", settings_file]
    if data_dir:
        argv += ["--data-dir", data_dir]
    return argv


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How dead API processes are replaced, and when that is a crash loop."""

    first_delay_s: float = 1.0
    """Wait before the first replacement; doubled for each death in a row."""
    max_delay_s: float = 30.0
    healthy_after_s: float = 60.0
    """A child that lived this long resets the backoff: its death was not a loop."""
    max_deaths: int = 5
    """More deaths than this within ``window_s`` is a crash loop: stop and exit non-zero."""
    window_s: float = 120.0

    def delay(self, deaths_in_a_row: int) -> float:
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** max(0, deaths_in_a_row - 1)))


@dataclass
class _Slot:
    """One place in the group: the child filling it, or the time its replacement is due."""

    child: subprocess.Popen[bytes] | None
    started: float
    deaths_in_a_row: int = 0
    due: float = 0.0


def supervise(
    settings: Settings,
    command: str,
    n: int,
    host: str,
    port: int,
    *,
    settings_file: str | None = None,
    data_dir: str | None = None,
    policy: RestartPolicy = RestartPolicy(),
) -> int:
    """Run ``n`` children of ``command`` (``serve`` or ``run``) on ``host:port`` until a
    signal, replacing those that die; return the exit status (0 after a requested stop, 1 after
    a crash loop)."""
    from hub.entrypoints.bootstrap import reuse_port_socket

    migrate_once(settings)
    reserved = reuse_port_socket(host, port)  # bound, never listening: gets no connections
    port = reserved.getsockname()[1]
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    argv = child_command(command, host, port, settings_file, data_dir)

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv)  # noqa: S603 - our own interpreter and options, no shell

    slots: list[_Slot] = []
    deaths: deque[float] = deque()
    try:
        slots = [_Slot(spawn(), time.monotonic()) for _ in range(n)]
        pids = ", ".join(str(s.child.pid) for s in slots if s.child is not None)
        print(f"lienthong: {n} API processes on http://{host}:{port}/ (pids {pids})", flush=True)
        while not stopping:
            now = time.monotonic()
            for slot in slots:
                if slot.child is None:
                    if now >= slot.due and not stopping:
                        slot.child, slot.started = spawn(), now
                        print(f"lienthong: API process replaced (pid {slot.child.pid})", flush=True)
                    continue
                code = slot.child.poll()
                if code is None:
                    continue
                lived = now - slot.started
                slot.deaths_in_a_row = (
                    1 if lived >= policy.healthy_after_s else slot.deaths_in_a_row + 1
                )
                deaths.append(now)
                while deaths and now - deaths[0] > policy.window_s:
                    deaths.popleft()
                if len(deaths) > policy.max_deaths:
                    print(
                        f"lienthong: {len(deaths)} API process deaths within "
                        f"{policy.window_s:.0f} s: crash loop, stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
                wait = policy.delay(slot.deaths_in_a_row)
                print(
                    f"lienthong: API process {slot.child.pid} exited with {code} after "
                    f"{lived:.1f} s; replacing it in {wait:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                slot.child, slot.due = None, now + wait
            time.sleep(0.1)
        return 0
    finally:
        _terminate([s.child for s in slots if s.child is not None])
        reserved.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _terminate(children: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every running child, wait for all, kill what outlives the timeout."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
