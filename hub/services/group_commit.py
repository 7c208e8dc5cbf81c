"""Group commit: concurrent writers joined into one transaction, each answered when it commits.

Why (PERFORMANCE.md): a commit costs one WAL flush and one connection checkout however much it
carries — 6–10 ms of wall and ≈ 0.4 ms of CPU per push on PostgreSQL under load, SQLite's
write lock taken once per push on the embedded store. Pushes that arrive while a commit is in
flight are written together by the next one.

Theory of operation (leader/follower, no thread of its own). A caller hands :meth:`run` a
*work* function that writes into a unit of work and returns its answer, and blocks. If no batch
is being written (more exactly: while fewer than ``lanes`` are), the caller becomes a
**leader** and writes its own item at once. Callers that arrive while every lane is busy wait;
a leader done with its batch takes the waiting calls (up to ``max_batch``) as the next batch
and hands it to the first of them, whose thread runs them one after the other in ONE unit of
work, commits, and wakes each caller with its answer. There is no timer: a batch is whatever
gathered while the lanes were busy, so an idle hub writes a lone push at once.

Durability is unchanged: a caller returns only after the commit that holds its writes.

Failures stay per item. When a work item raises (a refusal decided in the transaction, a unique
key hit, a database error), the batch's transaction is rolled back, the *other* items are
written again as a batch, and the failing item is re-run **alone** in a unit of work of its own
— exactly the transaction it would have had without grouping, so its outcome (answer or error)
is what it was before. A commit that fails re-runs every item alone. Work functions must
therefore be repeatable: everything they change is in the unit of work.

Work functions get ``alone=True`` when they run in a unit of work of their own and may then
roll it back and continue (the intake's "stored by a concurrent push" path); in a batch
(``alone=False``) they must raise instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from hub.errors import StoreUnavailable
from hub.ports import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")

#: ``work(uow, alone)`` writes into ``uow`` (never commits) and returns the caller's answer.
Work = Callable[[UnitOfWork, bool], T]


class _Item(Generic[T]):
    __slots__ = ("batch", "done", "error", "value", "woken", "work")

    def __init__(self, work: Work[T]) -> None:
        self.work = work
        self.batch: list[_Item[Any]] | None = None
        """Set when this item's caller is to write a batch (the item first in it)."""
        self.woken = threading.Event()
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def finish(self, value: T | None = None, error: BaseException | None = None) -> None:
        self.value, self.error, self.done = value, error, True


class GroupCommit:
    """Joins concurrent :meth:`run` calls into shared transactions (see the module docstring).

    ``lanes`` batches may be written at once (each by its own leader, on its own connection):
    one lane serialises every statement of every push behind one connection's round trips,
    which on a busy machine costs more wall time than the shared commit saves. ``max_batch=1``
    turns grouping off: every call runs alone, as without this class.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        max_batch: int = 64,
        lanes: int = 8,
        *,
        finish: Callable[[UnitOfWork, Sequence[Any]], None] | None = None,
    ) -> None:
        if max_batch < 1 or lanes < 1:
            raise ValueError("max_batch and lanes must be at least 1")
        self._uow = uow
        self.finish = finish
        """Called once per transaction, before its commit, with the answers of its items (the
        rows every item adds go in as one statement)."""
        self.max_batch = max_batch
        self.lanes = lanes
        self._lock = threading.Lock()
        self._waiting: list[_Item[Any]] = []
        self._leaders = 0
        self.batches = 0
        """Transactions committed for batches (for measurement)."""
        self.items = 0
        """Work items committed in those batches."""

    def waiting(self) -> int:
        """How many calls wait for a batch now."""
        with self._lock:
            return len(self._waiting)

    def run(self, work: Work[T]) -> T:
        """Run ``work`` in a shared transaction; return its answer once that has committed."""
        if self.max_batch == 1:
            return self._alone(work)
        item: _Item[T] = _Item(work)
        with self._lock:
            if self._leaders < self.lanes:
                # A free lane means nobody waits (a finishing leader hands waiting calls on
                # before it frees its lane): write this one at once.
                self._leaders += 1
                item.batch = [item]
            else:
                self._waiting.append(item)
        if item.batch is None:
            item.woken.wait()
        if item.batch is not None and not item.done:  # leading (from the start or handed on)
            self._lead(item.batch)
        if item.error is not None:
            raise item.error
        return item.value  # type: ignore[return-value]

    def _lead(self, batch: list[_Item[Any]]) -> None:
        try:
            self._write(batch)
        finally:
            for item in batch:
                if not item.done:  # an escape from _write (never expected): fail it clearly
                    item.finish(error=RuntimeError("group commit aborted"))
            with self._lock:
                following = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                if following:
                    following[0].batch = following  # its caller leads it, in this lane
                else:
                    self._leaders -= 1
            for item in batch:
                item.woken.set()
            if following:
                following[0].woken.set()

    def _write(self, batch: list[_Item[Any]]) -> None:
        if len(batch) == 1:
            self._finish_alone(batch[0])
            return
        failed: _Item[Any] | None = None
        failure: Exception | None = None
        values: list[Any] = []
        try:
            with self._uow() as uow:
                for item in batch:
                    try:
                        values.append(item.work(uow, False))
                    except Exception as exc:
                        failed, failure = item, exc
                        break
                else:
                    if self.finish is not None:
                        self.finish(uow, values)
                    uow.commit()
        except Exception as exc:  # the commit (or the rollback) failed: nothing is known
            failed, failure = None, exc
        if failure is None:
            for item, value in zip(batch, values, strict=True):
                item.finish(value)
            self.batches += 1
            self.items += len(batch)
            return
        if failed is None or isinstance(failure, StoreUnavailable):
            # The database itself failed: every item alone (each answers 503 if it still does).
            for item in batch:
                self._finish_alone(item)
            return
        self._write([item for item in batch if item is not failed])
        self._finish_alone(failed)

    def _finish_alone(self, item: _Item[Any]) -> None:
        try:
            item.finish(self._alone(item.work))
        except Exception as exc:
            item.finish(error=exc)

    def _alone(self, work: Work[T]) -> T:
        with self._uow() as uow:
            value = work(uow, True)
            if self.finish is not None:
                self.finish(uow, [value])
            uow.commit()
        return value
