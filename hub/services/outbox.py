"""The outbox relay: publish the messages stored by committed transactions, then forget them.

Theory of operation (transactional outbox). A service that creates work writes the broker
message as an ``outbox`` row in the same transaction; once committed, the relay publishes it
through the :class:`hub.messaging.Broker` port — which returns only when the broker holds it
durably — and deletes the row. A crash between the publish and the delete publishes the row
again: consumers are idempotent (at-least-once, hub-common.md), so that is harmless, while
"stored but never published" is impossible.

Latency and completeness: services call :meth:`OutboxRelay.wake` right after a commit (from
any thread: it uses ``loop.call_soon_threadsafe``), and the relay also sweeps every
``sweep_interval_s`` so rows left by a crashed process or a missed wake are published anyway.
Store calls are synchronous and run in a worker thread (``asyncio.to_thread``).

Batching (PERFORMANCE.md, group commits): under load one pass finds many ``DISPATCH_QUEUE``
rows, one per accepted package. Their delivery ids are merged into messages of up to
``merge_ids`` ids (``{"delivery_ids": [...]}``, which the dispatch handler moves on in ONE
transaction), so the broker carries, and the dispatch worker commits, once per batch instead of
once per package. Nothing waits to fill a batch: a pass merges only what is already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

from hub.errors import HubError
from hub.messaging import DISPATCH_QUEUE, Broker
from hub.ports import OutboxRow, UnitOfWorkFactory
from hub.services.base import message_ids

log = logging.getLogger(__name__)


class OutboxRelay:
    """Publishes outbox rows through a broker (see the module docstring)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        broker: Broker,
        *,
        sweep_interval_s: float = 5.0,
        batch: int = 500,
        merge_ids: int = 100,
        reader: UnitOfWorkFactory | None = None,
    ) -> None:
        self._uow = uow
        # Reading the pending rows needs no write lock (SQLite: a DEFERRED transaction, so a
        # pass that finds nothing never queues behind the pushes); deleting them does.
        self._reader = reader or uow
        self._broker = broker
        self._interval = sweep_interval_s
        self._batch = batch
        self._merge_ids = merge_ids
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    def wake(self) -> None:
        """Ask for a pass now. Thread-safe; a no-op before :meth:`run` started (the first
        sweep covers it)."""
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closing: the next start sweeps
            loop.call_soon_threadsafe(event.set)

    def _pending(self) -> Sequence[OutboxRow]:
        with self._reader() as uow:
            return uow.outbox.pending(self._batch)

    def _forget(self, ids: Sequence[int]) -> None:
        with self._uow() as uow:
            uow.outbox.delete(ids)
            uow.commit()

    async def run_once(self) -> int:
        """Publish every stored row (in batches); return how many were published.

        Rows are grouped by queue and handed to the broker's pipelined ``publish_many`` when it
        has one (all three adapters do: PERFORMANCE.md, pipelined publishes), else published
        one by one. Rows are forgotten only after the broker confirmed them. A broker whose
        queues live in the store's own database (the embedded broker) offers
        ``publish_outbox``: it stores the messages and deletes their outbox rows in ONE
        transaction, so a pass costs one write transaction instead of two and a crash can no
        longer publish a row twice.
        """
        total = 0
        fused = getattr(self._broker, "publish_outbox", None)
        while True:
            rows = await asyncio.to_thread(self._pending)
            if not rows:
                return total
            if fused is not None:
                await fused(self._messages(rows), [r.id for r in rows])
                self.published += len(rows)
            else:
                await self._publish_then_forget(rows)
            total += len(rows)
            if len(rows) < self._batch:
                return total

    def _messages(self, rows: Sequence[OutboxRow]) -> list[tuple[str, list[tuple[str, bytes]]]]:
        """The rows as ``(queue, [(message_id, body), …])`` in row order, dispatch rows merged."""
        return [
            (queue, self._merged(group) if queue == DISPATCH_QUEUE else self._single(group))
            for queue, group in self._by_queue(rows).items()
        ]

    async def _publish_then_forget(self, rows: Sequence[OutboxRow]) -> None:
        """Publish ``rows``, then delete (a transaction of its own) those the broker confirmed,
        also when a later publish fails."""
        done: list[int] = []
        many = getattr(self._broker, "publish_many", None)
        try:
            for queue, group in self._by_queue(rows).items():
                if many is not None:
                    merged = queue == DISPATCH_QUEUE
                    await many(queue, self._merged(group) if merged else self._single(group))
                    done.extend(r.id for r in group)
                    continue
                for row in group:
                    await self._broker.publish(queue, row.body, message_id=f"outbox-{row.id}")
                    done.append(row.id)
        finally:
            if done:
                await asyncio.to_thread(self._forget, done)
                self.published += len(done)

    @staticmethod
    def _by_queue(rows: Sequence[OutboxRow]) -> dict[str, list[OutboxRow]]:
        by_queue: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_queue.setdefault(row.queue, []).append(row)
        return by_queue

    @staticmethod
    def _single(rows: Sequence[OutboxRow]) -> list[tuple[str, bytes]]:
        return [(f"outbox-{r.id}", r.body) for r in rows]

    def _merged(self, rows: Sequence[OutboxRow]) -> list[tuple[str, bytes]]:
        """Dispatch rows as messages of up to ``merge_ids`` delivery ids (module docstring).

        The message id names the first and last row merged (``outbox-<first>-<last>``), so a
        republish after a crash is recognisable in the logs; a body that does not read as
        delivery ids is passed on unchanged (the dispatch handler dead-letters it).
        """
        out: list[tuple[str, bytes]] = []
        ids: list[str] = []
        first: int | None = None
        last = 0

        def flush() -> None:
            nonlocal ids, first
            if ids:
                name = f"outbox-{first}" if first == last else f"outbox-{first}-{last}"
                out.append((name, json.dumps({"delivery_ids": ids}).encode()))
            ids, first = [], None

        for row in rows:
            try:
                row_ids = message_ids(row.body)
            except (ValueError, AttributeError, TypeError):
                out.append((f"outbox-{row.id}", row.body))
                continue
            if ids and len(ids) + len(row_ids) > self._merge_ids:
                flush()
            first = row.id if first is None else first
            last = row.id
            ids.extend(row_ids)
        flush()
        return out

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Relay until ``stop`` is set: on every wake, and every ``sweep_interval_s``."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                self._event.clear()
                try:
                    await self.run_once()
                except HubError as exc:  # broker or store down: keep the rows, try later
                    log.warning("outbox relay pass failed: %s", exc.code)
                except Exception:  # an untranslated failure must not stop the relay for good
                    log.exception("outbox relay pass failed unexpectedly")
                waiter = asyncio.ensure_future(self._event.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self._interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()
        finally:
            self._loop = None
            self._event = None
