"""Two whole hub nodes (API + worker each, data directories of their own) sharing PostgreSQL,
RabbitMQ and the database blob store (``blobs.store: database``): a package pushed through one
node is pulled through the other; behind HAProxy (Debian's, on loopback, health-checking
``/healthz``), one node SIGKILLed under load and the other carries on — 0 lost, 0 twice."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
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
    HubSite,
    drain,
    drain_all,
    edoc_for,
    free_port,
    number_of,
    spliced,
)
from e2e_support import make_site as _make_site

from adapters.vxp_client import VxpClient

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

KILL_BATCH = 150


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubSite]:
    data_dir: Path = tmp_path_factory.mktemp("hub-two-nodes")
    with _make_site(request, "postgresql", data_dir) as s:
        s.env["LIENTHONG_BLOB_STORE"] = "database"
        s.cli("db", "upgrade")
        s.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        s.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        yield s


def test_pushed_through_one_node_pulled_through_the_other_and_one_node_dies(
    site: HubSite,
) -> None:
    node1, node2 = site.data_dir / "node1", site.data_dir / "node2"
    api1 = site.start("serve", data_dir=node1)
    worker1 = site.start("worker", data_dir=node1)
    api2 = site.start("serve", data_dir=node2)
    site.start("worker", data_dir=node2)

    sent = []
    with VxpClient(api1.url + "/", SYSTEM_A, SECRET_A) as a:
        for _ in range(5):
            _, data = edoc_for(AGENCY_A, [AGENCY_B])
            assert a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
            sent.append(data)
    with VxpClient(api2.url + "/", SYSTEM_B, SECRET_B) as b:
        taken = drain(b, expect=len(sent))
    for data, (_, got) in zip(sent, _in_order(sent, taken), strict=True):
        spliced(data, got)  # the bytes pushed on node 1, with one TraceHeader added
    # Nothing of node 1's data directory was needed: no blob files were written there.
    assert not (node1 / "blobs").exists() or not any((node1 / "blobs").rglob("*/*/*"))

    # Node 1 dies whole; node 2 carries the traffic on its own.
    api1.kill()
    worker1.kill()
    more = []
    with VxpClient(api2.url + "/", SYSTEM_A, SECRET_A) as a:
        for _ in range(5):
            _, data = edoc_for(AGENCY_A, [AGENCY_B])
            assert a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
            more.append(data)
    with VxpClient(api2.url + "/", SYSTEM_B, SECRET_B) as b:
        taken = drain(b, expect=len(more), timeout=60)
    assert len(taken) == len(more)


def _in_order(sent: list[bytes], taken: list[tuple[object, bytes]]) -> list[tuple[object, bytes]]:
    """``taken`` matched to ``sent`` by the unique code number inside each package."""
    by_number = {number_of(got): (item, got) for item, got in taken}
    return [by_number[number_of(data)] for data in sent]


HAPROXY_CONFIG = """
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
frontend hub
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
    server node1 127.0.0.1:{node1} check
    server node2 127.0.0.1:{node2} check
"""


@contextlib.contextmanager
def haproxy(node1: int, node2: int, workdir: Path) -> Iterator[str]:
    exe = shutil.which("haproxy")
    assert exe is not None, "haproxy is missing (scripts/services installs Debian's package)"
    port = free_port()
    config = workdir / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, node1=node1, node2=node2))
    log = (workdir / "haproxy.log").open("wb")
    proc = subprocess.Popen([exe, "-f", str(config), "-db"], stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "HAProxy did not come up"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_behind_haproxy_one_node_killed_under_load(site: HubSite) -> None:
    node1, node2 = site.data_dir / "lb-node1", site.data_dir / "lb-node2"
    api1 = site.start("serve", data_dir=node1)
    worker1 = site.start("worker", data_dir=node1)
    api2 = site.start("serve", data_dir=node2)
    site.start("worker", data_dir=node2)
    assert api1.port is not None
    assert api2.port is not None
    with haproxy(api1.port, api2.port, site.data_dir) as url:
        packages = {}
        for _ in range(KILL_BATCH):
            _, data = edoc_for(AGENCY_A, [AGENCY_B])
            packages[number_of(data)] = data
        batch = Batch(packages)
        numbers = list(packages)
        threads = [
            threading.Thread(target=batch.push_all, args=(url, numbers[i::4])) for i in range(4)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(batch.answered) < KILL_BATCH // 3:
            assert time.monotonic() < deadline, f"only {len(batch.answered)} answered in 60 s"
            time.sleep(0.002)
        api1.kill()
        worker1.kill()
        killed_at = len(batch.answered)
        for t in threads:
            t.join(120)
        assert not batch.errors, batch.errors
        assert len(batch.answered) > killed_at  # node 2 took the rest without a restart
        with VxpClient(url + "/", SYSTEM_A, SECRET_A) as a:
            for number in batch.unanswered:
                batch.answered[number] = a.send_edoc(
                    packages[number], from_code=AGENCY_A, to_codes=[AGENCY_B]
                )
        with VxpClient(url + "/", SYSTEM_B, SECRET_B) as b:
            received = drain_all(b, KILL_BATCH, timeout=90)
    got = Counter(number for _, number in received)
    assert [n for n, c in got.items() if c > 1] == [], "a package delivered twice"
    assert set(got) == set(packages), f"missing: {sorted(set(packages) - set(got))[:10]}"
    print(
        f"\ntwo nodes behind HAProxy, node 1 killed: answered {killed_at} before the kill, "
        f"{len(batch.unanswered)} retried, longest push stall {batch.longest_stall():.2f} s"
    )
