"""A PostgreSQL pair managed by Patroni with etcd, on loopback, for fail-over tests: the HA stack
a data centre runs, from Debian's packages (``patroni`` 3.0, ``etcd-server`` 3.4, PostgreSQL 15).

* one etcd member (client 23790, peer 23800), data under the cluster's temporary directory;
* two Patroni nodes, ``pg1`` (PostgreSQL 5451, REST 8451) and ``pg2`` (5452, 8452), in scope
  ``lienthong`` over etcd's v3 API. ``pg1`` is started first and bootstraps the cluster
  (initdb); ``pg2`` is cloned from it (pg_basebackup) once ``pg1`` leads;
* ``synchronous_mode: true`` in the DCS configuration: Patroni names the standby in
  ``synchronous_standby_names`` (with ``synchronous_commit = on``), so a commit — and so an
  answered push — is on the standby before it is answered, and Patroni promotes only a
  synchronous standby. Not ``synchronous_mode_strict``: once the old primary is gone the new
  one stops waiting for a standby, so writes go on with one node;
* ``ttl`` 10 s, ``loop_wait`` 1 s, ``retry_timeout`` 3 s (``loop_wait + 2·retry_timeout ≤
  ttl``, as Patroni asks): a leader that stops renewing its key is replaced about ``ttl``
  seconds later.

PostgreSQL refuses to run as root, and Patroni starts PostgreSQL itself, so Patroni runs as the
``postgres`` user (each node in a process group of its own); etcd runs as the caller. Patroni
starts each postmaster in a session of its own (``setsid``), so a node is killed by killing both
groups: :meth:`PatroniCluster.kill_node` is a machine lost at once, while
:meth:`PatroniCluster.kill_postgres` crashes PostgreSQL alone and leaves the rest to Patroni,
and :meth:`PatroniCluster.switchover` is the planned move an operator makes with
``patronictl``.

One cluster at a time on this machine: :func:`patroni_cluster` holds an ``flock`` on
``/tmp/lienthong-patroni.lock`` from start to teardown, and tears everything down — every
process group it started, SIGKILL, and the directory — whatever the test did. Process groups
left by a run that was itself killed before its teardown are listed in a pid file beside the
lock and killed by the next run before it starts (which also removes their directory, and
refuses to start, naming the port, if one of the cluster's ports is taken by anything else).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from e2e_support import exclusive
from pg_ha import PG_BIN, _as_postgres, multi_host_url, wait_sync_standby

LOCK = Path("/tmp/lienthong-patroni.lock")
PIDS = Path("/tmp/lienthong-patroni.pids")
ETCD_CLIENT_PORT, ETCD_PEER_PORT = 23790, 23800
#: name, PostgreSQL port, Patroni REST port
NODES = (("pg1", 5451, 8451), ("pg2", 5452, 8452))
SCOPE = "lienthong"
#: In the name of the cluster's directory, so in every command line of its processes.
MARK = b"lienthong-patroni-"
TTL_S = 10
LOOP_WAIT_S = 1
RETRY_TIMEOUT_S = 3
START_TIMEOUT_S = 90.0


def _node_config(root: Path, name: str, pg_port: int, rest_port: int) -> dict[str, Any]:
    """Patroni's YAML configuration of one node (``bootstrap.dcs`` is used by the first)."""
    hba = [
        "local all all trust",
        "host all all 127.0.0.1/32 trust",
        "host replication all 127.0.0.1/32 trust",
    ]
    return {
        "scope": SCOPE,
        "namespace": "/lienthong-test/",
        "name": name,
        "log": {"level": "INFO"},
        "restapi": {
            "listen": f"127.0.0.1:{rest_port}",
            "connect_address": f"127.0.0.1:{rest_port}",
        },
        "etcd3": {"hosts": [f"127.0.0.1:{ETCD_CLIENT_PORT}"]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL_S,
                "loop_wait": LOOP_WAIT_S,
                "retry_timeout": RETRY_TIMEOUT_S,
                "maximum_lag_on_failover": 1 << 20,
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": False,
                    "use_slots": True,
                    "parameters": {
                        "synchronous_commit": "on",
                        "wal_level": "replica",
                        "max_wal_senders": 5,
                        "max_replication_slots": 5,
                        "hot_standby": "on",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{pg_port}",
            "connect_address": f"127.0.0.1:{pg_port}",
            "data_dir": str(root / name),
            "bin_dir": str(PG_BIN),
            "pgpass": str(root / f"{name}.pgpass"),
            "authentication": {
                "superuser": {"username": "postgres"},
                "replication": {"username": "replicator"},
            },
            "parameters": {"unix_socket_directories": str(root), "fsync": "on"},
            "pg_hba": hba,
        },
    }


@dataclass
class PatroniCluster:
    """The running etcd and Patroni nodes; :meth:`url` names both PostgreSQL hosts as the
    hub's ``database.url`` does in production."""

    root: Path
    groups: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)

    def url(self, database: str = "lienthong") -> str:
        return multi_host_url([port for _, port, _ in NODES], database)

    # -- starting ---------------------------------------------------------------------------

    def _spawn(self, key: str, argv: list[str], *, as_postgres: bool) -> None:
        log = (self.root / f"{key}.log").open("ab")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        extra: dict[str, Any] = {}
        if as_postgres:
            env["HOME"] = str(self.root)
            extra = {"user": "postgres", "group": "postgres", "extra_groups": []}
        self.groups[key] = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            env=env,
            start_new_session=True,
            **extra,
        )
        log.close()
        self._note_groups()

    def start_etcd(self) -> None:
        client = f"http://127.0.0.1:{ETCD_CLIENT_PORT}"
        peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
        self._spawn(
            "etcd",
            [
                "etcd",
                *("--name", "etcd1", "--data-dir", str(self.root / "etcd")),
                *("--listen-client-urls", client, "--advertise-client-urls", client),
                *("--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer),
                *("--initial-cluster", f"etcd1={peer}", "--initial-cluster-state", "new"),
                *("--initial-cluster-token", f"lienthong-{os.getpid()}"),
            ],
            as_postgres=False,
        )
        self._until(lambda: self._etcd_healthy(client), "etcd answering /health")

    def start_node(self, name: str) -> None:
        _, pg_port, rest_port = _node(name)
        config = self.root / f"{name}.yml"
        config.write_text(yaml.safe_dump(_node_config(self.root, name, pg_port, rest_port)))
        shutil.chown(config, "postgres", "postgres")
        self._spawn(name, ["patroni", str(config)], as_postgres=True)

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> tuple[str, str]:
        """Until one node leads (running) and the other is its synchronous standby
        (streaming), in Patroni's view and in PostgreSQL's; returns (leader, standby)."""

        def roles() -> tuple[str, str] | None:
            members = {m["name"]: m for m in self.members()}
            leader = [n for n, m in members.items() if m["role"] == "leader"]
            sync = [n for n, m in members.items() if m["role"] == "sync_standby"]
            if not (leader and sync) or members[leader[0]]["state"] != "running":
                return None
            if members[sync[0]]["state"] not in ("running", "streaming"):
                return None
            return leader[0], sync[0]

        leader, standby = self._until(roles, "a leader and a synchronous standby", timeout)
        wait_sync_standby(_node(leader)[1])
        return leader, standby

    def wait_leader(self, after_timeline: int = 0, timeout: float = START_TIMEOUT_S) -> str:
        """Until a node leads with PostgreSQL running on a timeline later than
        ``after_timeline`` (each promotion starts a new one); its name."""

        def leader() -> str | None:
            for m in self.members():
                running = m["role"] == "leader" and m["state"] == "running"
                if running and int(m.get("timeline") or 0) > after_timeline:
                    return str(m["name"])
            return None

        return self._until(leader, f"a running leader after timeline {after_timeline}", timeout)

    def timeline(self) -> int:
        """The latest PostgreSQL timeline among the members (0 if none reports one)."""
        return max((int(m.get("timeline") or 0) for m in self.members()), default=0)

    def create_database(self, name: str = "lienthong") -> None:
        leader = self.wait_leader()
        port = _node(leader)[1]
        _as_postgres(f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(port), name)

    # -- watching ---------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        """Patroni's ``GET /cluster`` from the first node that answers ([] if none does)."""
        for name, _, rest_port in NODES:
            if name in self.killed or name not in self.groups:
                continue
            with contextlib.suppress(httpx.HTTPError, ValueError):
                reply = httpx.get(f"http://127.0.0.1:{rest_port}/cluster", timeout=2)
                if reply.status_code == 200:
                    return list(reply.json().get("members", []))
        return []

    def _etcd_healthy(self, client: str) -> bool | None:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            return httpx.get(f"{client}/health", timeout=2).json().get("health") == "true" or None
        return None

    def _until(self, probe: Any, what: str, timeout: float = START_TIMEOUT_S) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if found:
                return found
            for key, popen in self.groups.items():
                if key not in self.killed and popen.poll() is not None:
                    raise RuntimeError(f"{key} exited ({popen.returncode}):\n{self.log(key)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {what} in {timeout:.0f} s:\n{self.logs()}")
            time.sleep(0.2)

    def log(self, key: str, tail: int = 4000) -> str:
        path = self.root / f"{key}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {key}\n{self.log(key)}" for key in self.groups)

    # -- faults and teardown ----------------------------------------------------------------

    def kill_node(self, name: str) -> None:
        """The node is lost at once: SIGKILL to its Patroni and to its PostgreSQL (postmaster
        and backends), so the leader key is no longer renewed and every connection drops."""
        postmaster = self._postmaster(name)
        self.killed.add(name)
        _kill_group_of(self.groups[name].pid)
        if postmaster:
            _kill_group_of(postmaster)
        self.groups[name].wait(10)

    def kill_postgres(self, name: str) -> None:
        """The node's PostgreSQL crashes (postmaster and backends SIGKILLed); its Patroni
        lives on and decides what follows."""
        postmaster = self._postmaster(name)
        assert postmaster, f"{name} has no running PostgreSQL"
        _kill_group_of(postmaster)

    def switchover(self, leader: str, candidate: str) -> str:
        """A planned switch-over as an operator runs it: ``patronictl switchover`` (Patroni
        stops the leader's PostgreSQL, promotes ``candidate``, and the old leader rejoins as
        its standby). Returns patronictl's output."""
        done = subprocess.run(
            [
                *("patronictl", "-c", str(self.root / f"{leader}.yml"), "switchover"),
                *("--leader", leader, "--candidate", candidate, "--force"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0 or "Successfully switched over" not in done.stdout:
            raise RuntimeError(f"patronictl switchover failed: {done.stdout}{done.stderr}")
        return done.stdout

    def _postmaster(self, name: str) -> int | None:
        pidfile = self.root / name / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pidfile.read_text().split()[0])
        return None

    def stop(self) -> None:
        postmasters = [pid for name, _, _ in NODES if (pid := self._postmaster(name))]
        for pid in [popen.pid for popen in self.groups.values()] + postmasters:
            _kill_group_of(pid)
        for popen in self.groups.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(10)
        PIDS.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _note_groups(self) -> None:
        """Write the process groups started (and the postmasters) to :data:`PIDS`."""
        pids = [p.pid for p in self.groups.values()]
        pids += [pid for name, _, _ in NODES if (pid := self._postmaster(name))]
        PIDS.write_text("".join(f"{pid}\n" for pid in pids))


def _node(name: str) -> tuple[str, int, int]:
    return next(node for node in NODES if node[0] == name)


def _kill_group_of(pid: int) -> None:
    """SIGKILL the process group of ``pid`` if ``pid`` is still one of ours (its command line
    names a ``lienthong-patroni-`` directory: a pid from a pid file may have been reused)."""
    with contextlib.suppress(OSError):
        if MARK in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.killpg(os.getpgid(pid), signal.SIGKILL)


def _clear_leftovers() -> None:
    """Kill the process groups a previous run listed in :data:`PIDS` but never tore down
    (that run was killed itself) and remove its directory; then check that the cluster's ports
    are free. Only called with :data:`LOCK` held, so no live cluster is touched."""
    if PIDS.exists():
        for line in PIDS.read_text().split():
            with contextlib.suppress(ValueError):
                _kill_group_of(int(line))
        PIDS.unlink(missing_ok=True)
        time.sleep(1)
    for old in Path(tempfile.gettempdir()).glob(f"{MARK.decode()}*"):
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    ports = [ETCD_CLIENT_PORT, ETCD_PEER_PORT] + [p for _, pg, rest in NODES for p in (pg, rest)]
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise RuntimeError(f"port {port} of the Patroni test cluster is taken")


@contextlib.contextmanager
def patroni_cluster() -> Iterator[PatroniCluster]:
    """etcd, then ``pg1`` (leader), then ``pg2`` (its synchronous standby), and a database
    ``lienthong``; everything killed and removed at the end."""
    with exclusive(LOCK, "the Patroni test cluster"):
        _clear_leftovers()
        root = Path(tempfile.mkdtemp(prefix=MARK.decode()))
        shutil.chown(root, "postgres", "postgres")
        cluster = PatroniCluster(root)
        try:
            cluster.start_etcd()
            cluster.start_node("pg1")
            cluster.wait_leader()
            cluster.start_node("pg2")
            cluster.wait_healthy()
            cluster._note_groups()
            cluster.create_database()
            yield cluster
        finally:
            cluster.stop()
