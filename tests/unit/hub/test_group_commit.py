"""Group commit (``hub.services.group_commit``): concurrent pushes share one transaction, and one
failing package fails alone. Every store backend (memory, SQLite, PostgreSQL).

Grouping is forced, not hoped for: the first writer's unit of work is held open until every
other caller waits for the next batch (:meth:`GroupCommit.waiting`), so that batch holds them
all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from hub.errors import Conflict, Forbidden, HubError, StoreUnavailable
from hub.ports import AuditRow, UnitOfWork, UnitOfWorkFactory
from hub.services.base import message_ids
from hub.services.contracts import PushResult
from hub.services.group_commit import GroupCommit
from hub.services.hub import HubServices
from tests.factories import make_edoc
from tests.unit.hub.conftest import UBND

SENDER = "000.00.00.H41"


class Held:
    """A unit-of-work factory whose first unit waits for :meth:`release` before it opens."""

    def __init__(self, factory: UnitOfWorkFactory) -> None:
        self.factory = factory
        self.entered = threading.Event()
        self._release = threading.Event()
        self._first = True

    def __call__(self) -> UnitOfWork:
        if self._first:
            self._first = False
            self.entered.set()
            assert self._release.wait(20)
        return self.factory()

    def release(self) -> None:
        self._release.set()


def _wait_for(writer: GroupCommit, n: int) -> None:
    deadline = time.monotonic() + 20
    while writer.waiting() < n:
        assert time.monotonic() < deadline, f"only {writer.waiting()} of {n} callers waiting"
        time.sleep(0.005)


def _note(text: str, fail: HubError | None = None) -> Callable[[UnitOfWork, bool], str]:
    def work(uow: UnitOfWork, alone: bool) -> str:
        uow.audit.append(AuditRow(_now(), "test", "note", text, "ok", {}))
        if fail is not None:
            raise fail
        return text

    return work


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def test_one_failing_item_fails_alone_and_the_batch_commits(
    uow_factory: UnitOfWorkFactory,
) -> None:
    held = Held(uow_factory)
    writer = GroupCommit(held, max_batch=64, lanes=1)
    refused = Forbidden("not this one")
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(writer.run, _note("first"))
        assert held.entered.wait(20)
        rest = [
            pool.submit(writer.run, _note(f"item{n}", refused if n == 3 else None))
            for n in range(6)
        ]
        _wait_for(writer, 6)
        held.release()
        assert first.result(20) == "first"
        for n, fut in enumerate(rest):
            if n == 3:
                with pytest.raises(Forbidden):
                    fut.result(20)
            else:
                assert fut.result(20) == f"item{n}"
    # The six waited together: one batch, which re-ran without item3 (item3 then ran alone).
    assert (writer.batches, writer.items) == (1, 5)
    with uow_factory() as uow:
        notes = sorted(r.subject or "" for r in uow.audit.recent(action="note"))
    assert notes == ["first", "item0", "item1", "item2", "item4", "item5"]


class CommitFails:
    """A unit-of-work factory whose ``at``-th commit (counting from 1) fails as a lost
    database would."""

    def __init__(self, factory: UnitOfWorkFactory, at: int) -> None:
        self.factory = factory
        self.at = at
        self.commits = 0

    def __call__(self) -> UnitOfWork:
        uow = self.factory()
        real = uow.commit

        def commit() -> None:
            self.commits += 1
            if self.commits == self.at:
                raise StoreUnavailable("commit lost")
            real()

        uow.commit = commit  # type: ignore[method-assign]
        return uow


def test_a_failed_group_commit_writes_every_item_alone(uow_factory: UnitOfWorkFactory) -> None:
    held = Held(CommitFails(uow_factory, at=2))  # 1: the held first item; 2: the group
    writer = GroupCommit(held, max_batch=64, lanes=1)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(writer.run, _note("first"))
        assert held.entered.wait(20)
        rest = [pool.submit(writer.run, _note(f"item{n}")) for n in range(4)]
        _wait_for(writer, 4)
        held.release()
        assert first.result(20) == "first"
        assert [f.result(20) for f in rest] == [f"item{n}" for n in range(4)]
    assert writer.batches == 0  # the group did not commit; each item did, alone
    with uow_factory() as uow:
        notes = sorted(r.subject or "" for r in uow.audit.recent(action="note"))
    assert notes == ["first", "item0", "item1", "item2", "item3"]


def test_max_batch_one_writes_each_alone(uow_factory: UnitOfWorkFactory) -> None:
    writer = GroupCommit(uow_factory, max_batch=1)
    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(lambda n: writer.run(_note(f"n{n}")), range(8))) == sorted(
            f"n{n}" for n in range(8)
        )
    assert writer.batches == 0
    with uow_factory() as uow:
        assert len(uow.audit.recent(action="note")) == 8


def _outcome(fut: Future[PushResult]) -> str:
    try:
        result = fut.result(30)
    except Conflict as exc:
        return exc.code
    return "duplicate" if result.duplicate else "accepted"


def test_concurrent_pushes_in_one_batch_behave_as_alone(
    hub: HubServices, uow_factory: UnitOfWorkFactory
) -> None:
    held = Held(uow_factory)
    writer = GroupCommit(held, max_batch=64, lanes=1, finish=hub.intake.writer.finish)
    hub.intake.writer = writer
    to = ["000.00.00.G22", "000.00.02.H41"]  # the national axis, and a system of this hub
    first = make_edoc(sender=SENDER, to=to, document_id="GC-1", subject="đầu tiên")
    others = [
        make_edoc(sender=SENDER, to=to, document_id="GC-2", subject="hai"),
        make_edoc(sender=SENDER, to=to, document_id="GC-2", subject="hai, bản khác"),  # reused
        first,  # the same bytes again: answered as stored
        *(make_edoc(sender=SENDER, to=to, document_id=f"GC-{n}") for n in range(3, 7)),
    ]
    with ThreadPoolExecutor(len(others) + 1) as pool:
        head = pool.submit(hub.push, UBND, first)
        assert held.entered.wait(20)
        futs = [pool.submit(hub.push, UBND, data) for data in others]
        _wait_for(writer, len(others))
        held.release()
        stored = head.result(30)
        outcomes = [_outcome(f) for f in futs]
    assert outcomes[0:2] in (
        ["accepted", "document.id_reused"],
        ["document.id_reused", "accepted"],
    )
    assert outcomes[2:] == ["duplicate", *["accepted"] * 4]
    assert futs[2].result().doc_id == stored.doc_id
    assert writer.batches >= 1
    assert writer.items >= 5
    with uow_factory() as uow:
        docs = {f"GC-{n}": uow.documents.by_document_id(SENDER, f"GC-{n}") for n in range(1, 7)}
        assert all(len(rows) == 1 for rows in docs.values())
        for rows in docs.values():
            deliveries = uow.deliveries.for_document(rows[0].id)
            assert sorted(d.recipient_code for d in deliveries) == to
        pushes = uow.audit.recent(action="push", limit=1000)
    assert sum(r.outcome == "ok" for r in pushes) == 6
    assert sum(r.outcome == "document.id_reused" for r in pushes) == 1
    with uow_factory() as uow:
        # the copies for this hub's system are in its inbox already; every copy that leaves
        # the hub is queued with its dispatch message, in whichever transaction of the group
        copies = [d for rows in docs.values() for d in uow.deliveries.for_document(rows[0].id)]
        queued = {i for row in uow.outbox.pending() for i in message_ids(row.body)}
    by_route = {(d.route, d.state) for d in copies}
    assert by_route == {("national", "queued"), ("local", "available")}
    assert queued == {d.id for d in copies if d.route == "national"}
    assert len(queued) == 6
