"""The audit log's hash chain (hub.audit_chain): sealed in id order by one sealer at a time,
and ``verify`` names the first broken row when a row is edited, deleted or reordered — and,
through the signed anchors kept outside the database, when the whole tail is rewritten with
fresh hashes. The same on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.memory import ManualClock, MemoryAuditChain, MemoryStore
from adapters.store import tables as t
from adapters.store.audit_chain import SqlAuditChain
from adapters.store.uow import SqlStore
from hub.audit_chain import AuditChainStore, SealPolicy, anchor_key, link
from hub.ports import AuditRow, UnitOfWorkFactory
from hub.services.audit_seal import AuditSealer
from tests.db_fixtures import migrated_engine_on

T0 = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)
KEY = anchor_key(b"a secret key that is not in the database")


@dataclass
class World:
    uow: UnitOfWorkFactory
    chain: AuditChainStore
    engine: sa.Engine | None
    memory: MemoryAuditChain | None

    def append(self, n: int, start: int = 0) -> None:
        with self.uow() as uow:
            for i in range(start, start + n):
                uow.audit.append(
                    AuditRow(
                        T0 + dt.timedelta(seconds=i),
                        "system:qlvb.nghiloc",
                        "push",
                        f"doc-{i}",
                        "ok",
                        {"digest": f"{i:064x}", "tên": "Ủy ban nhân dân"},
                    )
                )
            uow.commit()

    def tamper(self, seq: int, **changes: object) -> None:
        """Change a sealed row behind the hub's back (a DBA with write access)."""
        if self.memory is not None:
            rid = next(r for r, (s, _, _) in self.memory.links.items() if s == seq)
            store_rows = self.memory._store.tables.audit
            i = next(k for k, r in enumerate(store_rows) if r.id == rid)
            store_rows[i] = dataclasses.replace(store_rows[i], **changes)  # type: ignore[arg-type]
            return
        assert self.engine is not None
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.audit).where(t.audit.c.chain_seq == seq).values(**changes))

    def delete(self, seq: int) -> None:
        if self.memory is not None:
            rid = next(r for r, (s, _, _) in self.memory.links.items() if s == seq)
            self.memory._store.tables.audit[:] = [
                r for r in self.memory._store.tables.audit if r.id != rid
            ]
            del self.memory.links[rid]
            return
        assert self.engine is not None
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t.audit).where(t.audit.c.chain_seq == seq))


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "memory":
        store = MemoryStore()
        chain = MemoryAuditChain(store)
        yield World(store.unit_of_work, chain, None, chain)
        return
    with migrated_engine_on(request, request.param) as engine:
        yield World(SqlStore(engine).unit_of_work, SqlAuditChain(engine), engine, None)


def _sealer(world: World, tmp_path: Path, every: int = 5) -> AuditSealer:
    return AuditSealer(
        world.chain,
        ManualClock(T0),
        KEY,
        tmp_path / "audit-anchors.jsonl",
        SealPolicy(checkpoint_every=every, checkpoint_s=3600),
        batch=7,
    )


def test_sealed_rows_verify_and_new_rows_are_reported_until_sealed(
    world: World, tmp_path: Path
) -> None:
    sealer = _sealer(world, tmp_path)
    world.append(20)
    while sealer.seal_once():
        pass
    world.append(3, start=20)
    report = sealer.verify()
    assert report.ok, report
    assert (report.sealed, report.unsealed) == (20, 3)
    assert report.checkpoints_checked >= 6  # in the database and the anchors file
    assert sealer.seal_once() == 3
    assert sealer.verify().ok


def test_an_edited_row_is_named(world: World, tmp_path: Path) -> None:
    sealer = _sealer(world, tmp_path)
    world.append(12)
    while sealer.seal_once():
        pass
    world.tamper(7, outcome="refused")
    report = sealer.verify()
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (7, "edited")


def test_a_deleted_row_is_named(world: World, tmp_path: Path) -> None:
    sealer = _sealer(world, tmp_path)
    world.append(12)
    while sealer.seal_once():
        pass
    world.delete(4)
    report = sealer.verify()
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (4, "gap")


def test_reordered_rows_are_named(world: World, tmp_path: Path) -> None:
    sealer = _sealer(world, tmp_path)
    world.append(12)
    while sealer.seal_once():
        pass
    rows = {s.seq: s for s in world.chain.chain()}
    # Swap rows 5 and 6 whole (content and links): the order in the chain no longer holds.
    a, b = rows[5], rows[6]
    for seq, other in ((5, b), (6, a)):
        world.tamper(seq, subject=other.row.subject, at=other.row.at)
    report = sealer.verify()
    assert report.broken is not None
    assert report.broken.seq == 5


def test_a_rewritten_tail_with_fresh_hashes_is_caught_by_the_anchors(
    world: World, tmp_path: Path
) -> None:
    sealer = _sealer(world, tmp_path)
    world.append(12)
    while sealer.seal_once():
        pass
    # Rewrite rows 8..12 and recompute every link after them: the chain is consistent again…
    chain = list(world.chain.chain())
    head = chain[6]
    changed = [dataclasses.replace(s.row, outcome="forged") for s in chain[7:]]
    for new in link(changed, head.seq, head.hash):
        if world.memory is not None:  # the fake keeps links apart from rows
            world.tamper(new.seq, outcome="forged")
            world.memory.links[new.row.id or 0] = (new.seq, new.prev_hash, new.hash)
        else:
            world.tamper(new.seq, outcome="forged", prev_hash=new.prev_hash, hash=new.hash)
    # …and the checkpoints in the database are dropped too (7 rows then 5: signed at 7 and 12),
    if world.engine is not None:
        with world.engine.begin() as conn:
            conn.execute(sa.delete(t.audit_checkpoints))
    else:
        assert world.memory is not None
        world.memory.saved_checkpoints.clear()
    # …but the checkpoint signed at row 12, in the anchors file, names the old hash.
    report = sealer.verify()
    assert report.broken is not None
    assert report.broken.reason == "rewritten"
    assert report.broken.seq == 12


def test_racing_sealers_never_fork_the_chain(world: World, tmp_path: Path) -> None:
    world.append(60)
    sealers = [_sealer(world, tmp_path) for _ in range(4)]
    barrier = threading.Barrier(4)

    def seal(s: AuditSealer) -> None:
        barrier.wait()
        for _ in range(30):
            s.seal_once()

    threads = [threading.Thread(target=seal, args=(s,)) for s in sealers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    report = sealers[0].verify()
    assert report.ok, report
    assert (report.sealed, report.unsealed) == (60, 0)


def test_the_worker_seals_on_its_schedule(tmp_path: Path) -> None:
    """``lienthong run`` / ``worker`` (Hub.start_workers) run the sealer under its lease."""
    import asyncio

    from hub.entrypoints.bootstrap import build_hub
    from hub.settings import load_settings

    hub = build_hub(load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path)}))
    try:
        World(hub.uow, SqlAuditChain(hub.engine), hub.engine, None).append(4)

        async def scenario() -> None:
            await hub.start_workers()
            try:
                for _ in range(100):
                    if SqlAuditChain(hub.engine).head()[0] == 4:
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError("the worker did not seal the audit rows")
            finally:
                await hub.stop()

        asyncio.run(scenario())
        assert hub.sealer is not None
        assert hub.sealer.verify().ok
    finally:
        hub.close()


def test_a_sealer_behind_a_moved_head_writes_nothing(world: World, tmp_path: Path) -> None:
    """Its rows were sealed by another process and the head moved: its links take new chain
    numbers (no unique key meets them), yet the batch must lose whole on the rows it finds
    sealed — the links' row count, not only the key, guards the chain."""
    from hub.errors import Conflict

    world.append(6)
    stale = world.chain.unsealed(100)  # read by a sealer that then stalls …
    sealer = _sealer(world, tmp_path)
    assert sealer.seal_once() == 6  # … while another seals the same rows
    world.append(2, start=6)
    fresh = list(world.chain.unsealed(100))
    late = link([*fresh, *stale], *world.chain.head())  # seqs 7…14: all new numbers
    with pytest.raises(Conflict) as caught:
        world.chain.seal(late, None)
    assert caught.value.code == "audit.raced"
    assert world.chain.head()[0] == 6  # nothing of the late batch went in, not even fresh rows
    assert len(world.chain.unsealed(100)) == 2
    assert sealer.seal_once() == 2
    assert sealer.verify().ok
