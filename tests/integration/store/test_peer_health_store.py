"""The ``peer_health`` table (migration 0009_peer_health) behind ``hub.ports.PeerHealthStore``,
on SQLite and PostgreSQL, and the in-memory fake beside it: rows round-trip with UTC instants,
the breaker's columns and the sync's columns never overwrite each other, and a breaker wired to
the SQL store leaves what another process reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from adapters.memory import ManualClock, MemoryPeerHealthStore
from adapters.store.peer_health import SqlPeerHealthStore
from hub.circuit import BreakerPolicy
from hub.errors import PeerUnavailable
from hub.peer_guard import HealthRecorder
from hub.ports import PeerHealth, PeerHealthStore
from tests.db_fixtures import migrated_engine_on

AT = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)

Maker = Callable[[], PeerHealthStore]


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def make_store(request: pytest.FixtureRequest) -> Iterator[Maker]:
    if request.param == "memory":
        store = MemoryPeerHealthStore()
        yield lambda: store
        return
    with migrated_engine_on(request, request.param) as engine:
        # a new store object each time: what another process sees
        yield lambda: SqlPeerHealthStore(engine)


def test_link_and_sync_columns_are_written_apart(make_store: Maker) -> None:
    down = PeerHealth(
        name="national",
        kind="vxp",
        state="open",
        consecutive_failures=7,
        last_success_at=AT - dt.timedelta(hours=3),
        last_error_at=AT,
        last_error="peer.unavailable: sendEdoc: https://axis timed out",
        alert=None,
        opened_at=AT,
        updated_at=AT,
    )
    make_store().save_link(down)
    make_store().save_sync("national", at=AT, outcome="ok", count=812)
    make_store().save_sync("national", at=AT + dt.timedelta(hours=1), outcome="kept: empty")
    [row] = make_store().all()
    assert row.last_success_at == down.last_success_at
    assert row.last_success_at is not None
    assert row.last_success_at.tzinfo is not None
    assert (row.state, row.consecutive_failures, row.last_error) == (
        "open",
        7,
        down.last_error,
    )
    assert (row.sync_outcome, row.sync_count) == ("kept: empty", 812)
    assert row.sync_at == AT + dt.timedelta(hours=1)
    make_store().save_link(PeerHealth(name="national", kind="vxp", last_success_at=AT))
    [row] = make_store().all()
    assert (row.state, row.consecutive_failures, row.up) == ("closed", 0, True)
    assert (row.sync_outcome, row.sync_count) == ("kept: empty", 812)  # kept by save_link


def test_a_peer_first_seen_by_its_sync_is_up(make_store: Maker) -> None:
    make_store().save_sync("parent", at=AT, outcome="ok", count=3)
    [row] = make_store().all()
    assert (row.name, row.up, row.sync_count) == ("parent", True, 3)


def test_rows_come_back_by_name_and_long_texts_fit(make_store: Maker) -> None:
    for name in ("zeta", "alpha", "national"):
        make_store().save_link(PeerHealth(name=name, kind="vxp", last_error="x" * 2000))
    rows = make_store().all()
    assert [r.name for r in rows] == ["alpha", "national", "zeta"]
    assert all(r.last_error is not None and len(r.last_error) <= 2000 for r in rows)


def test_a_breaker_leaves_its_view_for_other_processes(make_store: Maker) -> None:
    from hub.circuit import CircuitBreaker

    clock = ManualClock(AT)
    breaker = CircuitBreaker(
        "national",
        "vxp",
        BreakerPolicy(failure_threshold=2),
        clock,
        on_change=HealthRecorder(make_store()),
    )
    for _ in range(2):
        breaker.before_call()
        breaker.record(PeerUnavailable("sendEdoc: connection refused"))
    [row] = make_store().all()
    assert (row.state, row.consecutive_failures, row.opened_at) == ("open", 2, AT)
