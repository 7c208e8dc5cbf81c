"""``lienthong serve --workers N``: N API processes share one port (PostgreSQL + RabbitMQ).

Each child builds its own hub; the kernel spreads connections across them. Checked from the
outside: every push over a fresh connection is accepted, the per-process request counters of
``/metrics`` show two processes that split the pushes between them, SIGTERM stops the group
cleanly, and a child that dies takes the group down (non-zero exit) instead of leaving it
half-sized.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import AGENCY_A, AGENCY_B, SECRET_A, SYSTEM_A, HubProcess, HubSite, edoc_for
from e2e_support import make_site as _make_site

from adapters.vxp_client import VxpClient

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PUSHES = 24


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
    return proc, pids


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


def test_a_child_that_dies_stops_the_group(site: HubSite) -> None:
    group, pids = _start_group(site, 2)
    group.wait_healthy()
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 40
    while group.popen.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group.popen.returncode == 1, group.log()
    assert not _alive(pids[1])
