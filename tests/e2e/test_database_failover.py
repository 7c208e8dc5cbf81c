"""The database fails over under load: the primary of a synchronously replicated PostgreSQL pair
is killed while four senders push, the standby is promoted, and the hub (``serve`` + ``worker``,
``database.url`` naming both hosts) carries on: pushes during the switch are answered 503 and
accepted on retry, every answered push is delivered exactly once, and the stall is measured."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
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
    drain_all,
    edoc_for,
    number_of,
)
from pg_ha import ReplicatedPair

from adapters.vxp_client import VxpClient
from hub.errors import PeerUnavailable

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

PACKAGES = 240


@pytest.fixture
def pair() -> Iterator[ReplicatedPair]:
    p = ReplicatedPair.start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def site(pair: ReplicatedPair, tmp_path: Path) -> Iterator[HubSite]:
    prefix = f"e2e{secrets.token_hex(4)}"
    s = HubSite("postgresql", tmp_path, _site_env(tmp_path, pair.url(), RABBIT_URL, prefix))
    try:
        s.cli("db", "upgrade")
        s.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        s.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        yield s
    finally:
        unclean = s.stop_all()
        delete_rabbit_topology(prefix)
    assert not unclean, "\n".join(f"{p.command}:\n{p.log()}" for p in unclean)


def _retry_until_accepted(client: VxpClient, data: bytes, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
        except PeerUnavailable:
            assert time.monotonic() < deadline, "the hub never came back after the fail-over"
            time.sleep(0.5)


def test_primary_killed_under_load_loses_and_duplicates_nothing(
    site: HubSite, pair: ReplicatedPair
) -> None:
    worker = site.start("worker")
    api = site.start("serve")
    packages = {}
    for _ in range(PACKAGES):
        _, data = edoc_for(AGENCY_A, [AGENCY_B])
        packages[number_of(data)] = data
    batch = Batch(packages)
    numbers = list(packages)
    threads = [
        threading.Thread(target=batch.push_all, args=(api.url, numbers[i::4])) for i in range(4)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(batch.answered) < PACKAGES // 3:
        assert time.monotonic() < deadline, f"only {len(batch.answered)} answered in 60 s"
        time.sleep(0.002)
    promotion_s = pair.fail_over()
    for t in threads:
        t.join(180)
    assert not batch.errors, batch.errors
    answered_before_retry = dict(batch.answered)
    with VxpClient(api.url + "/", SYSTEM_A, SECRET_A) as a:
        for number in batch.unanswered:
            batch.answered[number] = _retry_until_accepted(a, packages[number])
    assert set(batch.answered) == set(packages)
    with VxpClient(api.url + "/", SYSTEM_B, SECRET_B) as b:
        received = drain_all(b, PACKAGES, timeout=120)
    got = Counter(number for _, number in received)
    assert [n for n, c in got.items() if c > 1] == [], "a package delivered twice"
    assert set(got) == set(packages), f"missing: {sorted(set(packages) - set(got))[:10]}"
    assert set(answered_before_retry) <= set(got)  # nothing answered was lost in the switch
    assert worker.popen.poll() is None, worker.log()
    print(
        f"\nfail-over: promotion {promotion_s:.2f} s, longest stall {batch.longest_stall():.2f} s,"
        f" answered before retry {len(answered_before_retry)}, retried {len(batch.unanswered)}"
    )
