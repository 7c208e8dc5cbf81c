"""``lienthong serve --workers N``: N API processes share one port (PostgreSQL + RabbitMQ).

Each child builds its own hub; the kernel spreads connections across them. Checked from the
outside: every push over a fresh connection is accepted, the per-process request counters of
``/metrics`` show two processes that split the pushes between them, SIGTERM stops the group
cleanly, and one API process SIGKILLed under load is replaced while the other keeps serving:
every answered push is delivered once, none twice, and the port never goes dark.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    SYSTEM_B,
    Batch,
    HubProcess,
    HubSite,
    drain_all,
    edoc_for,
    number_of,
)
from e2e_support import make_site as _make_site

from adapters.vxp_client import VxpClient

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# Odd: the two processes' counters can never be equal, so the set of counts seen has two members
# whenever both answered (an even split of 24 collapsed it to one, {12}).
PUSHES = 25
KILL_BATCH = 120


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubSite]:
    data_dir: Path = tmp_path_factory.mktemp("hub-api-processes")
    with _make_site(request, "postgresql", data_dir) as s:
        s.cli("db", "upgrade")
        s.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        yield s


def _start_group(site: HubSite, n: int) -> tuple[HubProcess, list[int]]:
    site.env["LIENTHONG_API_WORKERS"] = str(n)  # the setting; --workers N does the same
    try:
        proc = site.start("serve")
    finally:
        del site.env["LIENTHONG_API_WORKERS"]
    proc.wait_output("API processes on")
    pids = [int(p) for p in re.search(r"\(pids ([\d, ]+)\)", proc.log()).group(1).split(", ")]  # type: ignore[union-attr]
    assert len(pids) == n
    # Each process prints its line before it listens (a cold start takes seconds): the
    # pushes begin once the kernel has all n listening sockets to spread them over.
    port = proc.port
    assert port is not None
    deadline = time.monotonic() + 60
    while _listening(port) < n:
        assert time.monotonic() < deadline, f"{_listening(port)} of {n} listening:\n{proc.log()}"
        time.sleep(0.1)
    return proc, pids


def _listening(port: int) -> int:
    """How many sockets listen on ``port`` (IPv4; LISTEN is state 0A in /proc/net/tcp)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if (f := row.split())[1].endswith(f":{port:04X}") and f[3] == "0A")


def _requests_seen(url: str) -> int:
    """This process's count of API requests (probes excluded), over a fresh connection."""
    text = httpx.get(url + "/metrics", timeout=5, headers={"Connection": "close"}).text
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("lienthong_http_requests_total{")
        )
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_two_api_processes_share_the_port_and_split_the_pushes(site: HubSite) -> None:
    group, pids = _start_group(site, 2)
    for _ in range(PUSHES):
        with VxpClient(group.url + "/", SYSTEM_A, SECRET_A) as a:  # a fresh connection each
            _, data = edoc_for(AGENCY_A, [AGENCY_B])
            assert a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
    seen = {_requests_seen(group.url) for _ in range(40)}
    # Two processes, each with its own counter; together they took every push.
    assert len(seen) == 2, seen
    assert sum(seen) == PUSHES, seen
    assert group.stop(), group.log()
    assert group.popen.returncode == 0
    assert not any(_alive(p) for p in pids)


def test_one_api_process_killed_under_load_is_replaced_and_nothing_is_lost(
    site: HubSite,
) -> None:
    site.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
    worker = site.start("worker")
    group, pids = _start_group(site, 2)
    group.wait_healthy()
    packages = {}
    for _ in range(KILL_BATCH):
        _, data = edoc_for(AGENCY_A, [AGENCY_B])
        packages[number_of(data)] = data
    batch = Batch(packages)
    numbers = list(packages)
    threads = [
        threading.Thread(target=batch.push_all, args=(group.url, numbers[i::4])) for i in range(4)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(batch.answered) < KILL_BATCH // 3:
        assert time.monotonic() < deadline, f"only {len(batch.answered)} answered in 60 s"
        time.sleep(0.002)
    os.kill(pids[0], signal.SIGKILL)
    killed_at = len(batch.answered)
    for t in threads:
        t.join(120)
    assert not batch.errors, batch.errors
    assert killed_at < KILL_BATCH, "the kill came after the batch"
    # The other process kept serving while the dead one was replaced: pushes after the kill
    # were answered without waiting for a restart of the group.
    assert len(batch.answered) > killed_at
    group.wait_output("API process replaced")
    assert group.popen.poll() is None, group.log()
    with VxpClient(group.url + "/", SYSTEM_A, SECRET_A) as a:
        for number in batch.unanswered:  # a sender's retry: same bytes, same DocId if stored
            batch.answered[number] = a.send_edoc(
                packages[number], from_code=AGENCY_A, to_codes=[AGENCY_B]
            )
    assert set(batch.answered) == set(packages)
    with VxpClient(group.url + "/", SYSTEM_B, SECRET_B) as b:
        received = drain_all(b, KILL_BATCH, timeout=60)
    got = Counter(number for _, number in received)
    assert [n for n, c in got.items() if c > 1] == [], "a package delivered twice"
    assert set(got) == set(packages), f"missing: {sorted(set(packages) - set(got))[:10]}"
    assert group.stop(), group.log()
    assert group.popen.returncode == 0
    assert not any(_alive(p) for p in pids)
    assert worker.popen.poll() is None, worker.log()
