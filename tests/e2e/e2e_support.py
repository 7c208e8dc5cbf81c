"""Whole hub processes for the end-to-end suite: ``lienthong run`` / ``serve`` / ``worker``.

A :class:`HubSite` is one hub installation — a data dir, a database, a broker, a Fernet key —
shared by the CLI commands and the server processes started on it, exactly as an operator
would: ``lienthong systems add`` against the data dir / database first, then ``lienthong run``
on 127.0.0.1 and a free port. Settings reach the processes only through ``LIENTHONG_*``
variables (``hub/settings.py``); nothing is imported into the test process but the clients.

The ``site`` fixture is parametrized over the two supported deployments:

* ``sqlite`` — SQLite file in the data dir + the embedded broker (the defaults);
* ``postgresql`` — a fresh PostgreSQL database per test module + RabbitMQ.

RabbitMQ: every site gets a queue-name prefix of its own (``LIENTHONG_BROKER_PREFIX``), so
several hubs of one test, concurrent test runs and a live hub share one RabbitMQ server
without sharing queues; the site deletes its own topology at the end.

Stopping: SIGTERM, then SIGKILL after a grace period (:meth:`HubProcess.stop`);
:meth:`HubProcess.kill` is the crash (SIGKILL at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.fernet import Fernet

from adapters.vxp_client import VxpClient
from hub.edxml.model import EdocPackage, MessageKind
from hub.errors import PeerUnavailable
from hub.messaging import RetryPolicy
from hub.vxp.replies import Knobstick
from tests.factories import edoc_package, make_edoc

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
RABBIT_URL = os.environ.get("LIENTHONG_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")

#: The two agency systems of the suite and the commune-level agencies they host.
SYSTEM_A = "qlvb.nghiloc"
AGENCY_A = "000.00.65.H41"  # Ủy ban nhân dân xã Nghi Lộc (since 1 July 2025)
SECRET_A = "e2e-secret-of-system-a"
SYSTEM_B = "qlvb.hungnguyen"
AGENCY_B = "000.00.61.H41"  # Ủy ban nhân dân xã Hưng Nguyên
SECRET_B = "e2e-secret-of-system-b"
#: Closed district (1 July 2025) whose successor is AGENCY_B.
CLOSED_DISTRICT = "000.00.22.H41"
#: In the hub's scope, in no registry entry and hosted by nobody.
UNKNOWN_AGENCY = "000.00.99.H41"
ORGAN_ID = "000.00.00.H41"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
]

START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


@contextlib.contextmanager
def exclusive(lock: Path, what: str, timeout: float = 600) -> Iterator[None]:
    """Hold ``lock`` (an ``flock``) alone, waiting at most ``timeout`` for another holder —
    in this run or a concurrent one on this machine — to let go; ``what`` names the held
    thing in the error."""
    with lock.open("a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} stayed busy") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class HubProcess:
    """One running ``lienthong`` process (its output goes to a log file in the data dir)."""

    command: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.command} does not listen"
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"lienthong {self.command} exited with {self.popen.returncode}:\n{self.log()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"lienthong {self.command} not healthy in {timeout} s:\n{self.log()}")

    def wait_output(self, text: str, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.popen.poll() is not None:
                raise RuntimeError(f"lienthong {self.command} exited:\n{self.log()}")
            time.sleep(0.1)
        raise RuntimeError(f"lienthong {self.command}: no {text!r} in {timeout} s:\n{self.log()}")

    def stop(self) -> bool:
        """SIGTERM, then SIGKILL if it has not exited within the grace period.

        True when the process stopped by itself on SIGTERM, its log free of tracebacks.
        (``run``/``serve`` exit with ``-SIGTERM`` even then: uvicorn shuts down gracefully
        and re-raises the signal it captured.)
        """
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_GRACE_S)
                return False
        graceful = (0, -signal.SIGTERM) if self.port is not None else (0,)
        return self.popen.returncode in graceful and "Traceback" not in self.log()

    def kill(self) -> None:
        """The crash: SIGKILL, no chance to flush or close anything."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(STOP_GRACE_S)


@dataclass
class HubSite:
    """A hub installation: data dir + database + broker + key, shared by CLI and servers."""

    backend: str
    data_dir: Path
    env: dict[str, str]
    processes: list[HubProcess] = field(default_factory=list)
    #: The site's ``retry:`` settings when not the defaults (its RabbitMQ queues' arguments
    #: derive from them, and the cleanup must declare them alike).
    retry: RetryPolicy | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one ``lienthong`` command to completion against this site; fail loudly."""
        done = subprocess.run(
            [sys.executable, "-m", "hub.entrypoints.cli", *args, "--data-dir", str(self.data_dir)],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"lienthong {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def add_system(self, system_id: str, agencies: list[str], secret: str) -> None:
        args = ["systems", "add", system_id, "--secret", secret]
        for code in agencies:
            args += ["--agency", code]
        self.cli(*args)

    def start(
        self,
        command: str = "run",
        *,
        port: int | None = None,
        wait: bool = True,
        data_dir: Path | None = None,
    ) -> HubProcess:
        """Start ``lienthong run|serve`` (on ``port``, else a free one) or ``worker``;
        ``data_dir``: another node's own data directory (same database, broker and key)."""
        n = len(self.processes)
        data_dir = data_dir or self.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = data_dir / f"{command}-{n}.log"
        args = [sys.executable, "-m", "hub.entrypoints.cli", command]
        args += ["--data-dir", str(data_dir)]
        if command in ("run", "serve"):
            port = port or free_port()
            args += ["--host", "127.0.0.1", "--port", str(port)]
        with log_path.open("wb") as out:
            popen = subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=out, stderr=out)
        proc = HubProcess(command, popen, log_path, port)
        self.processes.append(proc)
        if wait:
            if port is not None:
                proc.wait_healthy()
            else:
                proc.wait_output("workers running")
        return proc

    def client(self, system_id: str, secret: str, proc: HubProcess, **kw: Any) -> VxpClient:
        return VxpClient(proc.url + "/", system_id, secret, **kw)

    def stop_all(self) -> list[HubProcess]:
        """Stop every process still running; return those that did not stop cleanly."""
        running = [p for p in self.processes if p.popen.poll() is None]
        return [p for p in running if not p.stop()]


def parent_env(
    endpoint: str, system_id: str, secret: str, *, poll_s: float = 0.3, track_s: float = 1.0
) -> dict[str, str]:
    """The variables that put a site below a parent hub (or the national axis): the site is
    the system ``system_id`` there, polls it every ``poll_s`` seconds and asks it about each
    forwarded package every ``track_s`` seconds."""
    return {
        "LIENTHONG_NATIONAL_ENDPOINT": endpoint,
        "LIENTHONG_NATIONAL_SYSTEM_ID": system_id,
        "LIENTHONG_NATIONAL_SECRET": secret,
        "LIENTHONG_INBOUND_POLL_S": str(poll_s),
        "LIENTHONG_INBOUND_TRACK_S": str(track_s),
    }


def _site_env(
    data_dir: Path, database_url: str | None, broker_url: str, prefix: str = "lienthong"
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env.update(
        {
            "LIENTHONG_DATA_DIR": str(data_dir),
            "LIENTHONG_BROKER_URL": broker_url,
            "LIENTHONG_BROKER_PREFIX": prefix,
            "LIENTHONG_SECRET_KEY": Fernet.generate_key().decode("ascii"),
            "LIENTHONG_ORGAN_ID": ORGAN_ID,
            "PYTHONPATH": str(ROOT),
            # The suites read /metrics from loopback as an operator on the hub's machine would;
            # on PostgreSQL/RabbitMQ sites that takes the explicit loopback mode (auto: off).
            "LIENTHONG_LOOPBACK_LOGIN": "true",
        }
    )
    if database_url is not None:
        env["LIENTHONG_DATABASE_URL"] = database_url
    return env


def delete_rabbit_topology(
    prefix: str,
    retry: RetryPolicy | None = None,
    *,
    url: str = RABBIT_URL,
    max_attempts: int | None = None,
) -> None:
    """Delete the queues and exchange of one site's ``prefix`` (on the broker at ``url``),
    declared with ``retry`` — or ``max_attempts``: the work queues' delivery limit follows the
    site's ``retry.max_attempts``, and declaring them with another one is refused."""
    if retry is None and max_attempts is not None:
        retry = RetryPolicy(max_attempts=max_attempts)
    from adapters.broker.rabbitmq import RabbitBroker

    async def main() -> None:
        broker = RabbitBroker(
            url, prefix=prefix, retry_policy=retry, connection_name=f"{prefix} cleanup"
        )
        await broker.start()
        try:
            await broker.delete_topology()
        finally:
            await broker.close()

    asyncio.run(main())


@contextlib.contextmanager
def make_site(request: pytest.FixtureRequest, backend: str, data_dir: Path) -> Iterator[HubSite]:
    """A fresh site on ``backend``; every process started on it is stopped at the end."""
    prefix = f"e2e{secrets.token_hex(4)}"
    if backend == "sqlite":
        env = _site_env(data_dir, None, "embedded")
    elif backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        env = _site_env(data_dir, server.create(), RABBIT_URL, prefix)
    else:
        raise ValueError(backend)
    site = HubSite(backend, data_dir, env)
    try:
        yield site
    finally:
        unclean = site.stop_all()
        if backend == "postgresql":
            delete_rabbit_topology(prefix, site.retry)
    # SIGTERM must stop every process cleanly (no SIGKILL needed, no traceback in its log).
    assert not unclean, "\n".join(f"{p.command}:\n{p.log()}" for p in unclean)


# --- client-side helpers -------------------------------------------------------------------

_SERIAL = itertools.count(1)


def edoc_for(sender: str, to: list[str], **kw: Any) -> tuple[EdocPackage, bytes]:
    """A new edoc from ``sender`` with a code number never used before in this run."""
    number = f"{os.getpid() % 10000}{next(_SERIAL):05d}"
    kw.setdefault("code_number", number)
    kw.setdefault("subject", f"V/v thử nghiệm liên thông số {number}")
    return edoc_package(sender=sender, to=to, **kw), make_edoc(sender=sender, to=to, **kw)


def wait_for(probe: Callable[[], list[T]], *, what: str, timeout: float = 20.0) -> list[T]:
    """Poll ``probe`` until it returns a non-empty list (deliveries are dispatched async)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing in {what} after {timeout} s")
        time.sleep(0.1)


def drain(
    client: VxpClient,
    *,
    expect: int,
    kind: MessageKind = MessageKind.EDOC,
    timeout: float = 20.0,
    settle_s: float = 0.0,
) -> list[tuple[Knobstick, bytes]]:
    """Take everything in ``client``'s inbox (getEdoc + updateStatus done) until ``expect``
    items were taken (or, for ``expect=0``, for ``settle_s``); returns what was taken."""
    taken: list[tuple[Knobstick, bytes]] = []
    deadline = time.monotonic() + (timeout if expect else settle_s)
    while True:
        for item in client.get_received_edoc_list(kind):
            taken.append((item, client.get_edoc(item.doc_id)))
            client.update_status(item.doc_id, "done")
        if expect and len(taken) >= expect:
            return taken
        if time.monotonic() > deadline:
            if expect:
                raise AssertionError(f"took {len(taken)} of {expect} after {timeout} s")
            return taken
        time.sleep(0.1)


def spliced(sent: bytes, got: bytes) -> bytes:
    """The bytes the hub inserted: ``got`` must be ``sent`` with one run of bytes added."""
    prefix = 0
    while prefix < len(sent) and got[prefix] == sent[prefix]:
        prefix += 1
    suffix = 0
    while suffix < len(sent) - prefix and got[-1 - suffix] == sent[-1 - suffix]:
        suffix += 1
    assert prefix + suffix == len(sent), "the hub changed bytes of the package, not only added"
    return got[prefix : len(got) - suffix]


# --- batches under faults (crash tests) ------------------------------------------------

_NUMBER = re.compile(rb"<edXML:CodeNumber>([^<]+)</edXML:CodeNumber>")


@dataclass
class Batch:
    """The packages (by code number) and what the hub answered for each."""

    packages: dict[str, bytes]
    to_code: str | None = None  # instead of route's recipient
    answered: dict[str, str] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    refused_with: list[int | None] = field(default_factory=list)  # HTTP status, None: no answer
    errors: list[BaseException] = field(default_factory=list)
    answer_times: list[float] = field(default_factory=list)  # monotonic, one per answer
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Who pushes the batch, and to whom (system A's commune to B's, unless told).
    system: tuple[str, str] = (SYSTEM_A, SECRET_A)
    route: tuple[str, str] = (AGENCY_A, AGENCY_B)

    def push_all(
        self, url: str, numbers: list[str], interval_s: float = 0.0, refused_pause_s: float = 0.0
    ) -> None:
        """Push ``numbers`` in turn (one every ``interval_s`` at most, when given); after a
        refusal, wait ``refused_pause_s`` more, as a connector does before trying again."""
        sender, recipient = self.route
        recipient = self.to_code or recipient
        with VxpClient(url + "/", *self.system) as client:
            for number in numbers:
                if interval_s:
                    time.sleep(interval_s)
                try:
                    doc_id = client.send_edoc(
                        self.packages[number], from_code=sender, to_codes=[recipient]
                    )
                except PeerUnavailable as exc:  # the hub is down (or died under this request)
                    with self.lock:
                        self.unanswered.append(number)
                        self.refused_with.append(exc.details.get("http_status"))
                    time.sleep(refused_pause_s)
                except BaseException as exc:  # anything else is a finding: keep it
                    with self.lock:
                        self.errors.append(exc)
                else:
                    with self.lock:
                        self.answered[number] = doc_id
                        self.answer_times.append(time.monotonic())

    def longest_stall(self) -> float:
        """The longest time between two consecutive answers, in seconds."""
        times = sorted(self.answer_times)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def number_of(data: bytes) -> str:
    found = _NUMBER.search(data)
    assert found is not None, data[:300]
    return found.group(1).decode()


def drain_all(b: VxpClient, expect: int, *, timeout: float) -> list[tuple[str, str]]:
    """Take B's inbox until ``expect`` items came and then nothing more for 3 s."""
    received: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while True:
        items = b.get_received_edoc_list()
        for item in items:
            received.append((item.doc_id, number_of(b.get_edoc(item.doc_id))))
            b.update_status(item.doc_id, "done")
        now = time.monotonic()
        if items:
            quiet_since = None
        elif len(received) >= expect:
            quiet_since = quiet_since or now
            if now - quiet_since >= 3.0:  # a late duplicate would show up here
                return received
        assert now < deadline, f"received {len(received)} of {expect} in {timeout} s"
        time.sleep(0.1)
