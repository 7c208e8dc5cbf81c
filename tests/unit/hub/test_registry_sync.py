"""Registry sync from a peer's directory, over every store (memory, SQLite, PostgreSQL): a good
list replaces the stored national records (removals included); an empty, truncated or garbled
list, or a failing peer, keeps the good registry and says why in the peer's health."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from adapters.memory import ManualClock, MemoryPeerDirectory, MemoryPeerHealthStore
from hub.errors import PeerUnavailable
from hub.ports import AgencyRow, UnitOfWorkFactory
from hub.services.registry_sync import NATIONAL_SOURCE, RegistrySync, SyncPolicy

PEER = "national"


def _rows(n: int, *, start: int = 1) -> list[AgencyRow]:
    return [
        AgencyRow(code=f"000.00.{i:02d}.G{10 + i % 80:02d}", name=f"Bộ số {i}", source=PEER)
        for i in range(start, start + n)
    ]


GOOD = _rows(20)


class Invalidated:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def health() -> MemoryPeerHealthStore:
    return MemoryPeerHealthStore()


@pytest.fixture
def invalidated() -> Invalidated:
    return Invalidated()


@pytest.fixture
def sync(
    uow_factory: UnitOfWorkFactory,
    clock: ManualClock,
    health: MemoryPeerHealthStore,
    invalidated: Invalidated,
) -> RegistrySync:
    return RegistrySync(
        uow_factory,
        clock,
        policy=SyncPolicy(min_ratio=0.5),
        health=health,
        on_change=invalidated,
    )


def _national(uow: UnitOfWorkFactory, *, include_deleted: bool = False) -> list[AgencyRow]:
    with uow() as work:
        rows = work.agencies.list(include_deleted=include_deleted)
    return [r for r in rows if r.source == NATIONAL_SOURCE]


def _stored_good(sync: RegistrySync, uow: UnitOfWorkFactory) -> list[AgencyRow]:
    result = sync.sync(PEER, MemoryPeerDirectory(GOOD))
    assert result.accepted
    assert result.received == 20
    stored = _national(uow)
    assert sorted(r.code for r in stored) == sorted(r.code for r in GOOD)
    return stored


def test_a_good_list_is_stored_and_audited(
    sync: RegistrySync,
    uow_factory: UnitOfWorkFactory,
    health: MemoryPeerHealthStore,
    invalidated: Invalidated,
) -> None:
    _stored_good(sync, uow_factory)
    assert invalidated.count == 1
    [row] = health.all()
    assert (row.sync_outcome, row.sync_count) == ("ok", 20)
    with uow_factory() as uow:
        [audit] = uow.audit.recent(action="agency.import")
    assert audit.actor == "worker:sync"
    assert audit.details["count"] == 20


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        pytest.param([], "empty agency list", id="empty"),
        pytest.param(GOOD[:9], "under 50% of the 20 stored", id="truncated"),
        pytest.param(
            [*GOOD[:19], AgencyRow(code="000.00.99.G22", name=" ")],
            "no code or no name",
            id="no-name",
        ),
        pytest.param(
            [*GOOD[:19], AgencyRow(code="<html>", name="Lỗi")], "not an agency code", id="bad-code"
        ),
        pytest.param([*GOOD, GOOD[3]], "listed twice", id="duplicate"),
    ],
)
def test_a_bad_answer_keeps_the_good_registry(
    sync: RegistrySync,
    uow_factory: UnitOfWorkFactory,
    health: MemoryPeerHealthStore,
    invalidated: Invalidated,
    answer: Sequence[AgencyRow],
    why: str,
) -> None:
    before = _stored_good(sync, uow_factory)
    result = sync.sync(PEER, MemoryPeerDirectory(answer))
    assert not result.accepted
    assert why in result.reason
    assert _national(uow_factory) == before  # untouched, not even re-stamped
    assert invalidated.count == 1
    [row] = health.all()
    assert row.sync_outcome == f"kept: {result.reason}"
    assert row.sync_count == 20  # the last accepted list


@pytest.mark.parametrize(
    ("error", "why"),
    [
        pytest.param(PeerUnavailable("getAgenciesList: timed out"), "peer.unavailable", id="down"),
        pytest.param(RuntimeError("adapter bug"), "unexpected RuntimeError", id="bug"),
    ],
)
def test_a_failing_peer_keeps_the_good_registry(
    sync: RegistrySync,
    uow_factory: UnitOfWorkFactory,
    health: MemoryPeerHealthStore,
    error: Exception,
    why: str,
) -> None:
    before = _stored_good(sync, uow_factory)
    directory = MemoryPeerDirectory()
    directory.fail_with(error)
    result = sync.sync(PEER, directory)
    assert not result.accepted
    assert why in result.reason
    assert _national(uow_factory) == before
    assert why in (health.all()[0].sync_outcome or "")


def test_the_first_list_is_judged_on_its_own(sync: RegistrySync) -> None:
    assert sync.sync(PEER, MemoryPeerDirectory(GOOD[:3])).accepted  # nothing stored to compare


def test_codes_the_peer_no_longer_lists_are_withdrawn(
    sync: RegistrySync, uow_factory: UnitOfWorkFactory, clock: ManualClock
) -> None:
    _stored_good(sync, uow_factory)
    clock.advance(3600)
    newer = [*GOOD[2:], *_rows(1, start=40)]
    assert sync.sync(PEER, MemoryPeerDirectory(newer)).accepted
    live = {r.code for r in _national(uow_factory)}
    assert live == {r.code for r in newer}
    gone = [r for r in _national(uow_factory, include_deleted=True) if r.deleted]
    assert sorted(r.code for r in gone) == sorted(r.code for r in GOOD[:2])
    assert all(r.modified_at == clock.now() for r in gone)


class DetailedDirectory(MemoryPeerDirectory):
    """A directory with the QĐ 20 list and incremental changes."""

    def __init__(
        self, rows: Sequence[AgencyRow], qd20: Sequence[AgencyRow], changes: Sequence[AgencyRow]
    ) -> None:
        super().__init__(rows)
        self.qd20 = list(qd20)
        self.changes = list(changes)

    def agencies_qd20(self) -> Sequence[AgencyRow]:
        return self.qd20

    def agency_changes(self) -> Sequence[AgencyRow]:
        return self.changes


def test_qd20_codes_and_changes_are_applied(
    sync: RegistrySync, uow_factory: UnitOfWorkFactory
) -> None:
    first, second = GOOD[0], GOOD[1]
    directory = DetailedDirectory(
        GOOD,
        qd20=[AgencyRow(code=first.code, name=first.name, code_qd20="G11.01")],
        changes=[
            AgencyRow(code=second.code, name=second.name, deleted=True),
            AgencyRow(code=GOOD[2].code, name="Bộ số 3 (tên mới)"),
        ],
    )
    assert sync.sync(PEER, directory).accepted
    stored = {r.code: r for r in _national(uow_factory)}
    assert stored[first.code].code_qd20 == "G11.01"
    assert second.code not in stored
    assert stored[GOOD[2].code].name == "Bộ số 3 (tên mới)"


def test_a_failing_detail_keeps_the_registry(
    sync: RegistrySync, uow_factory: UnitOfWorkFactory
) -> None:
    class BrokenChanges(DetailedDirectory):
        def agency_changes(self) -> Sequence[AgencyRow]:
            raise PeerUnavailable("getSynchronizeUnit: HTTP 502")

    before = _stored_good(sync, uow_factory)
    assert not sync.sync(PEER, BrokenChanges(GOOD[:18], [], [])).accepted
    assert _national(uow_factory) == before


def test_the_schedule_runs_each_interval_and_asks_the_lease(
    uow_factory: UnitOfWorkFactory, clock: ManualClock, health: MemoryPeerHealthStore
) -> None:
    directory = MemoryPeerDirectory(GOOD)
    sync = RegistrySync(uow_factory, clock, policy=SyncPolicy(interval_s=0.05), health=health)
    leases = iter([True, False, True, True, True, True, True, True])

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(sync.run({PEER: directory}, stop, lease=lambda: next(leases)))
        async with asyncio.timeout(10):
            while directory.calls < 3:
                await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(main())
    assert directory.calls >= 3
    assert health.all()[0].sync_outcome == "ok"


def test_no_schedule_when_the_interval_is_zero(
    uow_factory: UnitOfWorkFactory, clock: ManualClock
) -> None:
    directory = MemoryPeerDirectory(GOOD)
    sync = RegistrySync(uow_factory, clock, policy=SyncPolicy(interval_s=0))
    asyncio.run(asyncio.wait_for(sync.run({PEER: directory}, asyncio.Event()), 1))
    assert directory.calls == 0
