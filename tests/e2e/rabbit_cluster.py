"""A three-node RabbitMQ cluster on loopback for fail-over tests, apart from the machine's own
node (``rabbit@localhost`` is never touched): nodes ``lt1``/``lt2``/``lt3@localhost`` on AMQP
ports 5681–5683 (Erlang distribution 25681–25683), each with its own config, Mnesia, logs,
feature-flags and plugins files under one directory owned by ``rabbitmq``, sharing the machine's
Erlang cookie. ``lt2`` and ``lt3`` join ``lt1``'s cluster (``stop_app / reset / join_cluster /
start_app``). Starting takes about 20 s; a running cluster is reused.

Tests that stop nodes hold :func:`exclusive` meanwhile (an ``flock`` beside the nodes' files),
so two of them — in one run or in concurrent runs on this machine — never stop nodes under
each other; each restores every node before letting go.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import e2e_support

BASE = Path("/tmp/lienthong-rabbit-cluster")
BIN = Path("/usr/lib/rabbitmq/bin")
NODES = (("lt1", 5681, 25681), ("lt2", 5682, 25682), ("lt3", 5683, 25683))


@contextlib.contextmanager
def exclusive(timeout: float = 600) -> Iterator[None]:
    """Hold the cluster alone (blocking until another holder lets go, at most ``timeout``)."""
    with e2e_support.exclusive(
        Path("/tmp/lienthong-rabbit-cluster.lock"), "the RabbitMQ test cluster", timeout
    ):
        yield


def _as_rabbitmq(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    extra = [f"{k}={v}" for k, v in (env or {}).items()]
    # Run from the cluster's own directory: a node started from a checkout that is deleted
    # later (a CI clone) loses its working directory and fails every later ``stop_app``.
    done = subprocess.run(
        ["runuser", "-u", "rabbitmq", "--", "env", "HOME=/var/lib/rabbitmq", *extra, *args],
        cwd=BASE if BASE.is_dir() else "/",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def ctl(node: str, *args: str, timeout: float = 120) -> str:
    """``rabbitmqctl -n <node>@localhost …`` as the rabbitmq user (the Erlang cookie's owner)."""
    return _as_rabbitmq(
        str(BIN / "rabbitmqctl"), "-q", "-n", f"{node}@localhost", *args, timeout=timeout
    )


@dataclass(frozen=True)
class RabbitCluster:
    """The three nodes; :meth:`url` names them all, as ``broker.url`` would in production."""

    def url(self, user: str = "guest", password: str = "guest") -> str:
        return ",".join(f"amqp://{user}:{password}@127.0.0.1:{port}/" for _, port, _ in NODES)

    def stop_node(self, node: str) -> None:
        """The node stops serving (its connections are closed); the VM stays for a restart."""
        ctl(node, "stop_app")

    def start_node(self, node: str) -> None:
        ctl(node, "start_app")
        ctl(node, "await_startup")

    @classmethod
    def ensure(cls) -> RabbitCluster:
        """Start the nodes that are not running and cluster them; reuse a running cluster."""
        if shutil.which("runuser") is None or not (BIN / "rabbitmq-server").exists():
            raise RuntimeError("RabbitMQ (Debian package rabbitmq-server) is not installed")
        cluster = cls()
        if cluster._clustered():
            for node, _, _ in NODES:
                ctl(node, "start_app")  # idempotent: a node a previous test left stopped
            return cluster
        BASE.mkdir(parents=True, exist_ok=True)
        shutil.chown(BASE, "rabbitmq", "rabbitmq")
        for node, port, dist in NODES:
            if not cluster._running(node):
                cluster._start(node, port, dist)
        for node, _, _ in NODES:
            # A node just started with -detached is not reachable at once, and
            # ``await_startup`` fails fast on a node it cannot reach: wait for a ping first.
            deadline = time.monotonic() + 120
            while not cluster._running(node):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"RabbitMQ node {node}@localhost did not start")
                time.sleep(1)
            ctl(node, "await_startup", timeout=180)
        for node, _, _ in NODES[1:]:
            ctl(node, "stop_app")
            ctl(node, "reset")
            ctl(node, "join_cluster", f"{NODES[0][0]}@localhost")
            ctl(node, "start_app")
        deadline = time.monotonic() + 60
        while not cluster._clustered():
            if time.monotonic() > deadline:
                raise RuntimeError("the three nodes did not form one cluster")
            time.sleep(0.5)
        return cluster

    @staticmethod
    def _running(node: str) -> bool:
        try:
            ctl(node, "ping", timeout=20)
        except RuntimeError:
            return False
        return True

    def _clustered(self) -> bool:
        try:
            status = ctl(NODES[0][0], "cluster_status", "--formatter", "json", timeout=30)
        except RuntimeError:
            return False
        return all(f"{node}@localhost" in status for node, _, _ in NODES)

    @staticmethod
    def _start(node: str, port: int, dist: int) -> None:
        home = BASE / node
        if home.exists():
            shutil.rmtree(home)  # a node we do not run: start it from nothing
        (home / "mnesia").mkdir(parents=True)
        (home / "log").mkdir()
        (home / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"
        )
        (home / "enabled_plugins").write_text("[].\n")
        for path in [home, *home.rglob("*")]:
            shutil.chown(path, "rabbitmq", "rabbitmq")
        env = {
            "RABBITMQ_NODENAME": f"{node}@localhost",
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(home / "log"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(home / "feature_flags"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(home / "pid"),
        }
        erl_flags = os.environ.get("ERL_FLAGS")
        if erl_flags:
            env["ERL_FLAGS"] = erl_flags
        _as_rabbitmq(str(BIN / "rabbitmq-server"), "-detached", env=env)
