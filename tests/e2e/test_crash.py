"""The crash test: SIGKILL the hub in the middle of a batch, restart it, count the deliveries.

Four sender threads push 200 distinct packages from system A to system B while the main thread
SIGKILLs ``lienthong run`` once a third of them have been answered. The hub is restarted on the
same data dir / database and port. Then:

* every push that got a ``DocId`` is delivered to B exactly once (B drains its inbox with
  getReceivedEdocList + getEdoc + updateStatus done until nothing is left);
* every push that got no answer (connection refused or reset) is retried with the same bytes;
  a retry of a package the hub had committed before dying answers the same ``DocId`` and adds
  no delivery (the hub is idempotent on the bytes);
* no receiver ``docId`` is handed out twice, no package is delivered twice, none is missing.

What the kill exercises: a SQLite WAL (or PostgreSQL transaction) cut at an arbitrary point,
outbox rows committed but never published (the relay's sweep after restart must find them),
broker messages claimed but never acknowledged (redelivered; the dispatch handler must be
idempotent), HTTP answers lost after the commit. A dispatch message the dead process had
claimed from the embedded broker reappears only when its lease expires (60 s): on SQLite the
test then takes about a minute longer.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

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

from adapters.vxp_client import VxpClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PACKAGES = 200
THREADS = 4
KILL_AFTER = PACKAGES // 3


def test_sigkill_mid_batch_loses_and_duplicates_nothing(site: HubSite) -> None:
    """``lienthong run`` (API, relay and workers in one process) killed and restarted."""
    hub = site.start("run")
    # The embedded broker hides a message claimed by the dead process until its lease
    # (60 s, ``EmbeddedBroker.lease_s``) runs out: recovery may take that long.
    crash_and_count(site, hub, "run", drain_timeout=150)


def test_sigkill_of_serve_while_a_worker_runs(site: HubSite) -> None:
    """Production shape: the API process (and its outbox relay) dies mid-batch while a
    separate ``lienthong worker`` keeps running. What the API committed but never published
    is found by a relay sweep (the worker's, or the restarted API's); the dispatch messages
    are held by the live worker, so nothing waits for a lease."""
    assert not site.stop_all(), "the previous test's hub did not stop cleanly"
    worker = site.start("worker")
    api = site.start("serve")
    crash_and_count(site, api, "serve", drain_timeout=60)
    assert worker.popen.poll() is None, worker.log()


def crash_and_count(site: HubSite, hub: HubProcess, command: str, *, drain_timeout: float) -> None:
    """Push the batch to ``hub``, SIGKILL it mid-batch, restart ``command`` on the same port,
    retry what got no answer, then count what B receives (see the module docstring)."""
    packages = {}
    for _ in range(PACKAGES):
        _, data = edoc_for(AGENCY_A, [AGENCY_B])
        packages[number_of(data)] = data
    batch = Batch(packages)
    assert hub.port is not None
    numbers = list(packages)
    threads = [
        threading.Thread(target=batch.push_all, args=(hub.url, numbers[i::THREADS]))
        for i in range(THREADS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(batch.answered) < KILL_AFTER:
        assert time.monotonic() < deadline, f"only {len(batch.answered)} answered in 60 s"
        assert all(t.is_alive() for t in threads), "the batch ended before the kill"
        time.sleep(0.002)
    hub.kill()
    killed_at = len(batch.answered)
    for t in threads:
        t.join(120)
    assert not batch.errors, batch.errors
    assert killed_at < PACKAGES, "the kill came after the batch"
    assert batch.unanswered, "no push was cut off by the kill: it was not mid-batch"
    answered_before = dict(batch.answered)

    site.start(command, port=hub.port)
    with VxpClient(hub.url + "/", SYSTEM_A, SECRET_A) as a:
        # Retry what got no answer: same bytes, so a package committed before the kill
        # answers its first DocId and is not stored (nor delivered) twice.
        for number in batch.unanswered:
            batch.answered[number] = a.send_edoc(
                packages[number], from_code=AGENCY_A, to_codes=[AGENCY_B]
            )
        assert set(batch.answered) == set(packages)
        for number in numbers[:: PACKAGES // 20]:  # pushes that were answered, again
            again = a.send_edoc(packages[number], from_code=AGENCY_A, to_codes=[AGENCY_B])
            assert again == batch.answered[number]
        assert len(set(batch.answered.values())) == PACKAGES, "two packages, one DocId"

        with VxpClient(hub.url + "/", SYSTEM_B, SECRET_B) as b:
            received = drain_all(b, PACKAGES, timeout=drain_timeout)
        ids = Counter(doc_id for doc_id, _ in received)
        assert [i for i, n in ids.items() if n > 1] == [], "a receiver docId handed out twice"
        got = Counter(number for _, number in received)
        assert [n for n, c in got.items() if c > 1] == [], "a package delivered twice"
        assert set(got) == set(packages), f"missing: {sorted(set(packages) - set(got))[:10]}"
        assert set(answered_before) <= set(got)

        # The sender's view agrees: one recipient row per package, taken and acknowledged.
        for number in numbers[:: PACKAGES // 25]:
            rows = a.get_sent_edoc_list(batch.answered[number])
            assert [(r["toCode"], r["sendStatus"]) for r in rows] == [(AGENCY_B, "done")]
