"""The database fails over the way a data centre's does: Patroni with etcd manages a synchronously
replicated PostgreSQL pair (:mod:`patroni_ha`), and the node holding the leader is lost at once
(Patroni and PostgreSQL SIGKILLed) while four senders push and the recipient pulls.

The hub (``serve`` + ``worker``, PostgreSQL + RabbitMQ under a queue prefix of its own) is given
both PostgreSQL nodes in ``database.url`` with ``target_session_attrs=read-write``; nobody tells
it which node leads. Patroni promotes the synchronous standby once the dead leader's key expires
in etcd (``ttl``); until then no node takes writes, so pushes are answered 503 — and accepted
when the senders retry them. Because the standby was synchronous, every push answered before the
loss is on it: each is delivered exactly once. The figures (answered, retried, delivered, lost,
twice, the longest gap between two answered pushes, the time to drain, the promotion as Patroni
reported it) are printed for ``bench/RESULTS-datacentre.md``.
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


def test_patroni_leader_lost_under_load(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    started = time.monotonic()
    with (
        patroni_cluster() as cluster,
        chaos_site(request, "postgresql", tmp_path, database_url=cluster.url()) as site,
    ):
        leader, standby = cluster.wait_healthy()
        api, worker = site.start("serve"), site.start("worker")
        load = Load(api.url, api.url, packages=PACKAGES, rate=RATE).start()
        load.wait_answered(40)
        lost_at = time.monotonic()
        cluster.kill_node(leader)
        assert cluster.wait_leader(other_than=leader, timeout=4 * TTL_S) == standby
        promoted_s = time.monotonic() - lost_at
        assert load.sending(), "the load ended before the standby was promoted"
        load.recovered()
        figures = load.finish("postgresql", "Patroni leader node killed", timeout=120)
        check(figures, PACKAGES)
        refused = load.batch.refused_with
        assert refused, "no push met the switch-over"
        assert set(refused) == {503}, f"refusals other than 503: {refused}"
        assert worker.popen.poll() is None, worker.log()
        assert api.popen.poll() is None, api.log()
        print(
            f"\npatroni: leader {leader} lost, {standby} promoted after {promoted_s:.1f} s "
            f"(ttl {TTL_S} s); longest stall {load.batch.longest_stall():.1f} s; "
            f"drain {figures.drain_s:.1f} s; refused 503 {len(refused)}"
        )
    assert time.monotonic() - started < BUDGET_S, "the fail-over test outgrew its time bound"
