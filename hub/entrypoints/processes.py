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
relay and consumers stopped); the supervisor exits once all have. A child that exits on its own
is not restarted: the supervisor stops the others and exits non-zero, so the service manager
(systemd ``Restart=``) restarts the whole group and nothing runs half-sized unnoticed.

When to raise N: on PostgreSQL, up to the cores the hub may use (each process also holds its
own connection pool: N × pool size must fit ``max_connections``). On SQLite keep 1: there is
one writer, so more processes only queue for the write lock.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
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


def supervise(
    settings: Settings,
    command: str,
    n: int,
    host: str,
    port: int,
    *,
    settings_file: str | None = None,
    data_dir: str | None = None,
) -> int:
    """Run ``n`` children of ``command`` (``serve`` or ``run``) on ``host:port`` until a
    signal; return the exit status (0 after a requested stop, 1 if a child died)."""
    from hub.entrypoints.bootstrap import reuse_port_socket

    migrate_once(settings)
    reserved = reuse_port_socket(host, port)  # bound, never listening: gets no connections
    port = reserved.getsockname()[1]
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        argv = child_command(command, host, port, settings_file, data_dir)
        # argv: our own interpreter and parsed options, no shell
        children = [subprocess.Popen(argv) for _ in range(n)]  # noqa: S603
        print(
            f"lienthong: {n} API processes on http://{host}:{port}/ "
            f"(pids {', '.join(str(c.pid) for c in children)})",
            flush=True,
        )
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.2)
        died = not stopping
        _terminate(children)
        return 1 if died else 0
    finally:
        _terminate(children)
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
