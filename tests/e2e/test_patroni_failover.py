"""The database fails over the way a data centre's does: Patroni with etcd manages a synchronously
replicated PostgreSQL pair (:mod:`patroni_ha`), and the leader fails while four senders push and
the recipient pulls. Two faults:

* **the leader node lost** (Patroni and PostgreSQL SIGKILLed, a machine gone): Patroni promotes
  the synchronous standby once the dead leader's key expires in etcd (``ttl``); until then no
  node takes writes;
* **the leader's PostgreSQL crashed** (postmaster and backends SIGKILLed, Patroni alive): Patroni
  still holds the leader key, so it starts PostgreSQL again in place (crash recovery, then a new
  timeline) within a few seconds; the standby follows it;
* **a planned switch-over** (``patronictl switchover``, as for maintenance of the leader's
  machine): the standby is promoted, the old leader rejoins as its synchronous standby.

The hub (``serve`` + ``worker``, PostgreSQL + RabbitMQ under a queue prefix of its own) is given
both PostgreSQL nodes in ``database.url`` with ``target_session_attrs=read-write``; nobody tells
it which node leads. Pushes meeting the switch are answered 503 — and accepted when the senders
retry them. Because the standby was synchronous, every push answered before the fault is on it:
each is delivered exactly once. The figures (answered, retried, delivered, lost, twice, the
longest gap between two answered pushes, the time to drain, the recovery as Patroni reported it)
are printed for ``bench/RESULTS-datacentre.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chaos_support import Load, chaos_site, check
from patroni_ha import TTL_S, patroni_cluster

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

RATE = 12.0
PACKAGES = 300
#: The whole test, cluster start and teardown included.
BUDGET_S = 180.0


FAULTS = {
    "node": "Patroni leader node killed (Patroni + PostgreSQL SIGKILLed)",
    "postgres": "Patroni leader's PostgreSQL SIGKILLed (Patroni alive)",
    "switchover": "patronictl switchover (planned)",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_patroni_leader_fails_under_load(
    request: pytest.FixtureRequest, tmp_path: Path, fault: str
) -> None:
    started = time.monotonic()
    with (
        patroni_cluster() as cluster,
        chaos_site(request, "postgresql", tmp_path, database_url=cluster.url()) as site,
    ):
        leader, standby = cluster.wait_healthy()
        timeline = cluster.timeline()
        api, worker = site.start("serve"), site.start("worker")
        load = Load(api.url, api.url, packages=PACKAGES, rate=RATE).start()
        load.wait_answered(40)
        fault_at = time.monotonic()
        if fault == "node":
            cluster.kill_node(leader)
        elif fault == "postgres":
            cluster.kill_postgres(leader)
        else:
            cluster.switchover(leader, standby)
        new_leader = cluster.wait_leader(after_timeline=timeline, timeout=4 * TTL_S)
        recovery_s = time.monotonic() - fault_at
        if fault != "postgres":
            assert new_leader == standby, cluster.logs()
        assert load.sending(), "the load ended before a leader was back"
        load.recovered()
        figures = load.finish("postgresql", FAULTS[fault], timeout=120)
        check(figures, PACKAGES)
        refused = load.batch.refused_with
        # A planned switch-over may fall between two pushes; a failure cannot (≥ 3 s down).
        assert refused or fault == "switchover", "no push met the fault"
        assert set(refused) <= {503}, f"refusals other than 503: {refused}"
        if fault == "switchover":  # the old leader is the new one's synchronous standby
            assert cluster.wait_healthy() == (standby, leader)
        assert worker.popen.poll() is None, worker.log()
        assert api.popen.poll() is None, api.log()
        print(
            f"\npatroni ({fault}): leader {leader}, then {new_leader} on a new timeline after "
            f"{recovery_s:.1f} s (ttl {TTL_S} s); longest stall "
            f"{load.batch.longest_stall():.1f} s; drain {figures.drain_s:.1f} s; "
            f"refused 503 {len(refused)}"
        )
    assert time.monotonic() - started < BUDGET_S, "the fail-over test outgrew its time bound"
