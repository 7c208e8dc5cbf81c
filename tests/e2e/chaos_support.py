"""Load under a fault, and its figures: the harness of the chaos suite (``test_chaos_*.py``).

A :class:`Load` is the traffic a fault is injected into: sender threads push distinct packages
(each a :class:`e2e_support.Batch` slice, paced) while one recipient pulls its inbox all along
(getReceivedEdocList + getEdoc + updateStatus done), recording which package each receiver
``docId`` carried and when it first came. The test runs the fault while the load runs, notes
when the fault was recovered, and calls :meth:`Load.finish`, which

1. waits for the senders (a push refused while the hub is down — 503, refused or reset
   connection — is *unanswered*, and that sender pauses 1 s; anything else the client raises
   is kept as a finding);
2. retries every unanswered push with the same bytes until accepted, as a QLVB connector does;
3. waits until every package has reached the recipient, then 3 s more (a late duplicate would
   show up there), and stops the recipient;
4. returns the :class:`Figures`: pushes answered at the first try, retried, delivered, lost
   (answered but never delivered — must be 0), delivered twice (one package under two receiver
   ``docId``\\ s — must be 0) and the time to drain after recovery: from :meth:`Load.recovered`
   until every push accepted before it has reached the recipient (the backlog the fault built;
   0 when deliveries kept up all along).

A package taken but not acknowledged before the API died is listed again under the same
``docId``: the recipient takes it again, which is not a duplicate (the client dedupes by
``docId``); a package under two ``docId``\\ s is.

:func:`chaos_site` builds a site for one test on given servers (``_site_env``), with systems A
and B registered; every process started on it is stopped, and its RabbitMQ topology deleted, at
the end. :func:`tmpfs` mounts a small filesystem (the blob store's disk-full fault).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    RABBIT_URL,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    SYSTEM_B,
    Batch,
    HubSite,
    _site_env,
    delete_rabbit_topology,
    edoc_for,
    number_of,
)

from adapters.vxp_client import VxpClient
from hub.errors import PeerError, PeerUnavailable

SETTLE_S = 3.0
#: A sender refused waits this long before its next push: a hub down for seconds does not use
#: up the batch (a connector retries on a timer, not in a tight loop).
REFUSED_PAUSE_S = 1.0


@dataclass(frozen=True)
class Figures:
    """One run of one fault: what the senders and the recipient saw."""

    backend: str
    fault: str
    answered: int
    retried: int
    delivered: int
    lost: int
    twice: int
    drain_s: float

    def row(self, command: str) -> str:
        """The line of ``bench/RESULTS-chaos.md``."""
        return (
            f"| {self.backend} | {self.fault} | {self.answered} (+{self.retried} retried) "
            f"| {self.delivered} | {self.lost} | {self.twice} | {self.drain_s:.1f} s "
            f"| `{command}` |"
        )


@dataclass
class Recipient:
    """Pulls one system's inbox until stopped; ``seen`` maps receiver docId → package number."""

    url: str
    system_id: str = SYSTEM_B
    secret: str = SECRET_B
    seen: dict[str, str] = field(default_factory=dict)
    first_at: dict[str, float] = field(default_factory=dict)  # number → first delivery
    errors: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with VxpClient(self.url + "/", self.system_id, self.secret) as b:
            while not self.stop.is_set():
                try:
                    for item in b.get_received_edoc_list():
                        number = number_of(b.get_edoc(item.doc_id))
                        self.seen[item.doc_id] = number
                        self.first_at.setdefault(number, time.monotonic())
                        b.update_status(item.doc_id, "done")
                except PeerUnavailable:
                    pass  # the hub is down or answered 503: a client polls again later
                except PeerError as exc:  # a 500 or a refusal: a finding, keep it
                    self.errors.append(exc)
                self.stop.wait(0.1)


class Load:
    """Senders pushing ``packages`` distinct edocs to ``to_code`` through ``push_url`` (about
    ``rate`` a second in all) while the recipient pulls from ``pull_url``."""

    def __init__(
        self,
        push_url: str,
        pull_url: str,
        *,
        packages: int,
        rate: float,
        senders: int = 4,
        to_code: str = AGENCY_B,
        recipient: tuple[str, str] = (SYSTEM_B, SECRET_B),
    ) -> None:
        self.push_url = push_url
        data = {}
        for _ in range(packages):
            _, edoc = edoc_for(AGENCY_A, [to_code])
            data[number_of(edoc)] = edoc
        self.batch = Batch(data, to_code=to_code)
        self.recipient = Recipient(pull_url, *recipient)
        numbers = list(data)
        self._senders = [
            threading.Thread(
                target=self.batch.push_all,
                args=(push_url, numbers[i::senders], senders / rate, REFUSED_PAUSE_S),
                daemon=True,
            )
            for i in range(senders)
        ]
        self._puller = threading.Thread(target=self.recipient.run, daemon=True)
        self._recovered_at: float | None = None
        self._backlog: set[str] = set()

    def start(self) -> Load:
        self._puller.start()
        for t in self._senders:
            t.start()
        return self

    def wait_answered(self, n: int, timeout: float = 90.0) -> None:
        """Until ``n`` pushes (in all) have been answered."""
        deadline = time.monotonic() + timeout
        while len(self.batch.answered) < n:
            assert time.monotonic() < deadline, f"{len(self.batch.answered)} of {n} answered"
            time.sleep(0.01)

    def sending(self) -> bool:
        return any(t.is_alive() for t in self._senders)

    def recovered(self) -> None:
        """The fault is over: what was accepted until now is the backlog to drain."""
        self._recovered_at = time.monotonic()
        with self.batch.lock:
            self._backlog = set(self.batch.answered)

    def finish(self, backend: str, fault: str, *, timeout: float) -> Figures:
        """Retry what was refused, wait for every delivery, count (see the module docstring)."""
        assert self._recovered_at is not None, "recovered() was not called"
        for t in self._senders:
            t.join(180)
        batch = self.batch
        assert not batch.errors, f"pushes failed other than 503/refused: {batch.errors[:3]}"
        first_try = dict(batch.answered)
        with VxpClient(self.push_url + "/", SYSTEM_A, SECRET_A) as a:
            for number in batch.unanswered:
                batch.answered[number] = _until_accepted(
                    lambda n=number: a.send_edoc(
                        batch.packages[n], from_code=AGENCY_A, to_codes=[batch.to_code]
                    )
                )
        deadline = time.monotonic() + timeout
        while set(self.recipient.first_at) < set(batch.packages):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        time.sleep(SETTLE_S)
        self.recipient.stop.set()
        self._puller.join(60)
        assert not self.recipient.errors, self.recipient.errors[:3]
        ids_of: dict[str, set[str]] = defaultdict(set)
        for doc_id, number in self.recipient.seen.items():
            ids_of[number].add(doc_id)
        first_at = self.recipient.first_at
        last = max((first_at[n] for n in self._backlog if n in first_at), default=0.0)
        figures = Figures(
            backend=backend,
            fault=fault,
            answered=len(first_try),
            retried=len(batch.unanswered),
            delivered=len(ids_of),
            lost=len(set(batch.answered) - set(ids_of)),
            twice=sum(1 for ids in ids_of.values() if len(ids) > 1),
            drain_s=max(0.0, last - self._recovered_at),
        )
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        print(f"\nchaos: {figures}\n{figures.row(f'pytest -s {test!r}')}")
        return figures


def check(figures: Figures, packages: int) -> None:
    """Nothing accepted lost, nothing delivered twice, every package delivered."""
    assert figures.lost == 0, figures
    assert figures.twice == 0, figures
    assert figures.delivered == packages, figures
    assert figures.answered + figures.retried == packages, figures


def _until_accepted(push: Callable[[], str], timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return push()
        except PeerUnavailable:
            assert time.monotonic() < deadline, "the hub never accepted the retried push"
            time.sleep(0.5)


@contextlib.contextmanager
def chaos_site(
    request: pytest.FixtureRequest,
    backend: str,
    data_dir: Path,
    *,
    database_url: str | None = None,
    broker_url: str = RABBIT_URL,
    env: dict[str, str] | None = None,
    max_attempts: int = 8,
) -> Iterator[HubSite]:
    """A migrated site with systems A and B, on SQLite + the embedded broker (``sqlite``) or on
    PostgreSQL (a fresh database of the machine's server unless ``database_url``) + RabbitMQ
    (the machine's node unless ``broker_url``) under a queue prefix of its own; ``max_attempts``:
    the ``retry.max_attempts`` of the settings file ``env`` names, if any."""
    prefix = f"chaos{secrets.token_hex(4)}"
    if backend == "sqlite":
        site_env = _site_env(data_dir, None, "embedded")
    else:
        url = database_url or request.getfixturevalue("postgres_server").create()
        site_env = _site_env(data_dir, url, broker_url, prefix)
    site_env.update(env or {})
    site = HubSite(backend, data_dir, site_env)
    try:
        site.cli("db", "upgrade")
        site.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        site.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        yield site
    finally:
        unclean = site.stop_all()
        if backend != "sqlite":
            delete_rabbit_topology(prefix, url=broker_url.split(",")[0], max_attempts=max_attempts)
    assert not unclean, "\n".join(f"{p.command}:\n{p.log()}" for p in unclean)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``, needs root) mounted on ``path``; unmounted at
    the end (lazily if a dead process still holds a file there)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the disk-full fault needs a tmpfs mount (root): {done.stderr}")
    try:
        yield path
    finally:
        done = subprocess.run(["umount", str(path)], check=False, capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path) -> Path:
    """Write zeros into ``path/filler`` until the filesystem refuses (ENOSPC)."""
    filler = path / "filler"
    chunk = b"\0" * (1 << 16)
    with filler.open("wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(chunk)
    return filler


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
