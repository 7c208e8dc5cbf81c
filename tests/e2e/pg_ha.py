"""A replicated PostgreSQL pair on loopback for fail-over tests: a primary with a synchronous
streaming-replication standby, built with the server's own tools (initdb, pg_basebackup,
pg_ctl promote) in a temporary directory owned by the ``postgres`` user.

This is the promotion alone, by hand and in a fraction of a second: the primary gone at an
arbitrary point, the standby taking over with every synchronously committed transaction. The
same pair under an HA manager — Patroni with etcd deciding *when* to promote — is
:mod:`patroni_ha`. The hub's side is the same either way: libpq's multi-host URL with
``target_session_attrs=read-write`` finds whichever is primary.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def multi_host_url(ports: list[int], database: str) -> str:
    """The hub's ``database.url`` over every node: libpq's multi-host form, which keeps the
    node that takes writes (``target_session_attrs=read-write``)."""
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    return (
        f"postgresql+psycopg://postgres@{hosts}/{database}"
        "?target_session_attrs=read-write&connect_timeout=3"
    )


def wait_sync_standby(primary_port: int, timeout: float = 30) -> None:
    """Until the primary on ``primary_port`` has a standby streaming to it synchronously
    (``pg_stat_replication.sync_state = 'sync'``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = _as_postgres(
            "psql",
            *("-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres"),
            *("-Atc", "SELECT sync_state FROM pg_stat_replication"),
        )
        if "sync" in out.split():
            return
        time.sleep(0.2)
    raise RuntimeError(f"no synchronous standby of the primary on port {primary_port}")


@dataclass
class ReplicatedPair:
    """``primary`` and ``standby`` data directories and ports; :meth:`fail_over` kills the
    primary (immediate shutdown, as a crash) and promotes the standby."""

    root: Path
    primary_port: int
    standby_port: int

    @property
    def primary(self) -> Path:
        return self.root / "primary"

    @property
    def standby(self) -> Path:
        return self.root / "standby"

    def url(self, database: str = "lienthong") -> str:
        return multi_host_url([self.primary_port, self.standby_port], database)

    @classmethod
    def start(cls) -> ReplicatedPair:
        root = Path(tempfile.mkdtemp(prefix="lienthong-pg-ha-"))
        shutil.chown(root, "postgres", "postgres")
        pair = cls(root, _free_port(), _free_port())
        pg = str(PG_BIN)
        _as_postgres(f"{pg}/initdb", "-D", str(pair.primary), "-U", "postgres", "--auth=trust")
        pair._configure(
            pair.primary,
            pair.primary_port,
            # An answered commit is on the standby too: a fail-over loses nothing answered.
            "wal_level = replica\nmax_wal_senders = 5\nsynchronous_standby_names = '*'\n"
            "synchronous_commit = on\n",
        )
        pair._ctl(pair.primary, "start")
        _as_postgres(
            f"{pg}/pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", "postgres"),
            *("-D", str(pair.standby), "-R", "-X", "stream"),
        )
        # Once promoted, the standby has no standby of its own: it must not wait for one.
        pair._configure(pair.standby, pair.standby_port, "synchronous_standby_names = ''\n")
        pair._ctl(pair.standby, "start")
        _as_postgres(f"{pg}/createdb", "-h", "127.0.0.1", "-p", str(pair.primary_port), "lienthong")
        wait_sync_standby(pair.primary_port)
        return pair

    def _configure(self, data: Path, port: int, extra: str) -> None:
        conf = data / "postgresql.conf"
        text = conf.read_text() + (
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.root}'\nfsync = on\n{extra}"
        )
        conf.write_text(text)

    def _ctl(self, data: Path, *args: str) -> None:
        log = self.root / f"{data.name}.log"
        _as_postgres(f"{PG_BIN}/pg_ctl", "-D", str(data), "-l", str(log), "-w", *args)

    def fail_over(self) -> float:
        """Crash the primary, promote the standby; return the seconds the promotion took."""
        self._ctl(self.primary, "stop", "-m", "immediate")
        started = time.monotonic()
        self._ctl(self.standby, "promote")
        return time.monotonic() - started

    def restart_primary(self, down_s: float) -> None:
        """Crash the primary (immediate shutdown), leave it down ``down_s``, start it again on
        the same data (crash recovery replays its WAL); the standby reconnects by itself."""
        self._ctl(self.primary, "stop", "-m", "immediate")
        time.sleep(down_s)
        self._ctl(self.primary, "start")

    def stop(self) -> None:
        for data in (self.primary, self.standby):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError):
                    self._ctl(data, "stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)
