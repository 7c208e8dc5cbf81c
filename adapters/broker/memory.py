"""An in-memory :class:`hub.messaging.Broker` for tests, with helpers that name test intent.

Same contract as the real adapters: at-least-once delivery, ``prefetch`` handlers in flight per
consumer, ack / retry / dead-letter decided by :func:`hub.messaging.decide`, attempts counted
from 1 and increased by every hand-over to a handler (a retry, or a redelivery after a consumer
was lost). Nothing survives the process, but it does survive :meth:`close` then :meth:`start` on
the same instance — messages in flight at close are put back, as RabbitMQ does when a channel
closes with unacknowledged deliveries — so the restart and crash tests of the shared suite run
against it too.

Test helpers:

* :meth:`join` waits until a queue is idle (nothing ready, delayed or in flight);
* :attr:`published` lists every message accepted by :meth:`publish`, in order;
* :meth:`dead_letters` (the port's method) shows what was dead-lettered, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from adapters.broker import ATTEMPT_HEADER, REASON_HEADER, ConsumerLost
from hub.errors import InternalError
from hub.messaging import (
    QUEUES,
    BrokerMessage,
    Handler,
    Outcome,
    QueueStats,
    RetryPolicy,
    decide,
)

_IDLE_POLL_S = 0.005


@dataclass(frozen=True, slots=True)
class _Item:
    message_id: str
    body: bytes
    handed_out: int = 0
    """Hand-overs to a handler so far (while in flight: the attempt the handler sees)."""
    reason: str = ""


class MemoryBroker:
    """A broker in a dict. Not thread-safe: use it from one event loop."""

    def __init__(
        self, *, retry_policy: RetryPolicy | None = None, queues: tuple[str, ...] = QUEUES
    ) -> None:
        self.retry_policy = retry_policy or RetryPolicy()
        self.queues = tuple(queues)
        self._ready: dict[str, deque[_Item]] = {q: deque() for q in self.queues}
        self._delayed: dict[str, list[tuple[float, _Item]]] = {q: [] for q in self.queues}
        self._dead: dict[str, list[_Item]] = {q: [] for q in self.queues}
        self._in_flight: dict[str, dict[int, _Item]] = {q: {} for q in self.queues}
        self._changed: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        #: Every message accepted by :meth:`publish`, in order (a test helper).
        self.published: list[BrokerMessage] = []

    # -- the port ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._changed = {q: asyncio.Event() for q in self.queues}
        self._started = True

    async def close(self) -> None:
        self._started = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        # Unsettled deliveries go back to the head of their queue, like a closed AMQP channel.
        for queue, flying in self._in_flight.items():
            for item in flying.values():
                self._ready[queue].appendleft(item)
            flying.clear()

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, delay_s: float = 0.0
    ) -> None:
        self._check(queue)
        self.published.append(BrokerMessage(queue=queue, body=body, message_id=message_id))
        self._put(queue, _Item(message_id, bytes(body)), delay_s)

    async def publish_many(self, queue: str, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish ``(message_id, body)`` pairs (the same call as the real adapters offer)."""
        for message_id, body in messages:
            await self.publish(queue, body, message_id=message_id)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 32) -> None:
        self._check(queue)
        if not self._started:
            raise InternalError("the broker is not started")
        task = asyncio.create_task(self._consumer(queue, handler, max(1, prefetch)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stats(self, queue: str) -> QueueStats:
        self._check(queue)
        self._promote(queue)
        return QueueStats(
            queue=queue,
            ready=len(self._ready[queue]),
            delayed=len(self._delayed[queue]),
            dead=len(self._dead[queue]),
        )

    async def dead_letters(self, queue: str, limit: int = 100) -> list[BrokerMessage]:
        self._check(queue)
        return [self._message(queue, item) for item in self._dead[queue][:limit]]

    async def redrive(self, queue: str, limit: int = 100) -> int:
        self._check(queue)
        moved, self._dead[queue] = self._dead[queue][:limit], self._dead[queue][limit:]
        for item in moved:
            self._put(queue, _Item(item.message_id, item.body), 0.0)
        return len(moved)

    # -- test helpers -----------------------------------------------------------------------

    async def join(self, queue: str, *, timeout_s: float = 10.0) -> None:
        """Wait until ``queue`` has nothing ready, delayed or in flight.

        Raises :class:`TimeoutError` after ``timeout_s`` so a stuck test fails instead of
        hanging.
        """
        self._check(queue)
        async with asyncio.timeout(timeout_s):
            while self._ready[queue] or self._delayed[queue] or self._in_flight[queue]:
                await asyncio.sleep(_IDLE_POLL_S)

    # -- internals --------------------------------------------------------------------------

    def _check(self, queue: str) -> None:
        if queue not in self.queues:
            raise ValueError(f"queue {queue!r} is not declared (known: {self.queues})")

    def _put(self, queue: str, item: _Item, delay_s: float) -> None:
        if delay_s > 0:
            self._delayed[queue].append((time.monotonic() + delay_s, item))
        else:
            self._ready[queue].append(item)
        if queue in self._changed:
            self._changed[queue].set()

    def _promote(self, queue: str) -> float | None:
        """Move due delayed items to ready; return seconds until the next one is due."""
        now = time.monotonic()
        waiting: list[tuple[float, _Item]] = []
        for due, item in self._delayed[queue]:
            if due <= now:
                self._ready[queue].append(item)
            else:
                waiting.append((due, item))
        self._delayed[queue] = waiting
        return min((due for due, _ in waiting), default=now + 3600) - now

    @staticmethod
    def _message(queue: str, item: _Item) -> BrokerMessage:
        attempt = max(1, item.handed_out)
        headers = {ATTEMPT_HEADER: str(attempt)}
        if item.reason:
            headers[REASON_HEADER] = item.reason
        return BrokerMessage(
            queue=queue,
            body=item.body,
            message_id=item.message_id,
            attempt=attempt,
            headers=headers,
        )

    async def _consumer(self, queue: str, handler: Handler, prefetch: int) -> None:
        changed = self._changed[queue]
        mine: set[asyncio.Task[None]] = set()
        # Counted down by the handler task itself before it signals ``changed``: a done-callback
        # would run one loop turn too late and leave the consumer asleep with room to spare.
        busy = [0]
        try:
            while True:
                next_due = self._promote(queue)
                while self._ready[queue] and busy[0] < prefetch:
                    item = self._ready[queue].popleft()
                    item = replace(item, handed_out=item.handed_out + 1)
                    busy[0] += 1
                    # In flight from this instant: join() must never see it in neither place.
                    self._in_flight[queue][id(item)] = item
                    task = asyncio.create_task(self._handle(queue, handler, item, busy))
                    mine.add(task)
                    task.add_done_callback(mine.discard)
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(next_due or 0.05, 0.05)):
                        await changed.wait()
        finally:
            for task in mine:
                task.cancel()

    async def _handle(self, queue: str, handler: Handler, item: _Item, busy: list[int]) -> None:
        key = id(item)  # registered in flight by the consumer; put back as is if it is lost
        message = self._message(queue, item)
        error: BaseException | None = None
        if message.attempt > self.retry_policy.max_attempts:
            # Handed out max_attempts times and never settled: a consumer died on it each time.
            error = ConsumerLost(f"handed out {message.attempt - 1} times without being settled")
        else:
            try:
                await handler(message)
            except asyncio.CancelledError:
                raise  # close(): the message stays in flight and is put back
            except Exception as exc:
                error = exc
        self._in_flight[queue].pop(key, None)
        busy[0] -= 1
        decision = decide(error, message.attempt, self.retry_policy)
        if decision.outcome is Outcome.RETRY:
            self._put(queue, replace(item, reason=""), decision.delay_s)
        elif decision.outcome is Outcome.DEAD_LETTER:
            self._dead[queue].append(replace(item, reason=decision.reason))
        self._changed[queue].set()
