"""Named leases (``hub.ports.Leases``): the same contract on the in-memory fake, SQLite and
PostgreSQL; and :class:`hub.scheduling.Leader`, which scheduled work asks before each round."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

from adapters.memory import ManualClock, MemoryLeases
from adapters.store.leases import SqlLeases
from hub.ports import Leases
from hub.scheduling import Leader
from tests.db_fixtures import migrated_engine_on

T0 = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def leases(request: pytest.FixtureRequest) -> Iterator[Leases]:
    if request.param == "memory":
        yield MemoryLeases()
        return
    with migrated_engine_on(request, request.param) as engine:
        yield SqlLeases(engine)


def test_one_holder_at_a_time_until_the_lease_expires(leases: Leases) -> None:
    assert leases.acquire("poller", "a", 30, T0)
    assert not leases.acquire("poller", "b", 30, T0 + dt.timedelta(seconds=10))
    assert leases.acquire("poller", "a", 30, T0 + dt.timedelta(seconds=20))  # renewal
    # a's renewal runs to 50 s: b still waits at 45 s, takes over after.
    assert not leases.acquire("poller", "b", 30, T0 + dt.timedelta(seconds=45))
    assert leases.acquire("poller", "b", 30, T0 + dt.timedelta(seconds=51))
    assert not leases.acquire("poller", "a", 30, T0 + dt.timedelta(seconds=52))
    assert leases.acquire("sync", "a", 30, T0 + dt.timedelta(seconds=52))  # names are apart


def test_a_released_lease_is_taken_at_once(leases: Leases) -> None:
    assert leases.acquire("poller", "a", 30, T0)
    leases.release("poller", "b")  # not b's: nothing happens
    assert not leases.acquire("poller", "b", 30, T0)
    leases.release("poller", "a")
    assert leases.acquire("poller", "b", 30, T0)


def test_racing_processes_never_both_win(leases: Leases) -> None:
    wins: list[str] = []
    barrier = threading.Barrier(6)

    def contender(name: str) -> None:
        barrier.wait()
        if leases.acquire("poller", name, 30, T0):
            wins.append(name)

    threads = [threading.Thread(target=contender, args=(f"p{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1, wins


def test_the_leader_hands_over_when_its_holder_stops_renewing(leases: Leases) -> None:
    clock = ManualClock(T0)
    first = Leader(leases, clock, "poller", ttl_s=30)
    second = Leader(leases, clock, "poller", ttl_s=30)
    assert first.may_work()
    assert not second.may_work()
    clock.advance(31)  # the first holder died: no renewal
    assert second.may_work()
    assert not first.may_work()  # came back: the work stays where it is
    second.step_down()
    assert first.may_work()
