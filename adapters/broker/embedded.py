"""The embedded broker: a durable work queue in the hub's own database (SQLite or PostgreSQL).

For installations without RabbitMQ (DESIGN.md §3: one process, one SQLite file). Same contract
as :mod:`adapters.broker.rabbitmq`: at-least-once, delayed retry, dead letters, redrive, and
ack / retry / dead-letter decided by :func:`hub.messaging.decide` alone.

Theory of operation. One row of ``broker_messages`` per message (schema: migration
``0002_embedded_broker``; the :data:`broker_messages` table below mirrors it).

* **Publish** inserts the row in its own transaction; the call returns after the commit, so the
  message is as durable as the database's commits (see "Durability" below). The outbox relay
  publishes through :meth:`EmbeddedBroker.publish_outbox`, whose transaction also deletes the
  outbox rows the messages came from (the outbox is in the same database).
* **Claim** is ONE statement: ``UPDATE … SET locked_until = now + lease, attempt = attempt + 1
  WHERE id IN (SELECT id … WHERE queue = :q AND NOT dead AND available_at <= now AND (lock free
  or expired) LIMIT :n [FOR UPDATE SKIP LOCKED]) RETURNING …``. On PostgreSQL ``SKIP LOCKED``
  lets several consumers (threads or processes) claim disjoint rows without waiting on each
  other; on SQLite the statement runs under the database write lock (``BEGIN IMMEDIATE`` from
  :mod:`adapters.store.engine`), which serialises claimers just as well.
* **Lease.** A claimed row is hidden until ``locked_until``. The consumer renews the lease of
  the messages it still holds every ``lease_s / 3``; a process that dies mid-message stops
  renewing and the message is handed out again after at most ``lease_s`` (at-least-once: the
  handler may then run twice — handlers are idempotent by contract). :meth:`close` does not
  wait for the lease: it commits the settlements already decided and releases the rest.
* **Attempts** count hand-overs: the claim increments ``attempt``, so a redelivery after a lost
  consumer counts as an attempt, exactly as the RabbitMQ adapter counts ``x-delivery-count``.
  A message handed out more than ``max_attempts`` times without being settled (it kills its
  consumer every time) is dead-lettered without running the handler again.
* **Settle** (after the handler): ack deletes the row; retry clears the lock and moves
  ``available_at`` into the future; dead-letter sets ``dead`` and ``dead_reason``. Settlements
  of one consumer are grouped into one transaction per flush (PERFORMANCE.md: 100 rows per
  transaction cost about a quarter of 100 single-row transactions). Until its settlement is
  committed a message keeps its lease, so a crash between handler and commit redelivers it.
* **Wake-up.** Consumers sleep on an in-process :class:`asyncio.Event` set by :meth:`publish`,
  :meth:`redrive`, a retry falling due and by freed capacity (only when capacity was what
  stopped the last claim: a claim that found the queue empty is not repeated until something is
  published), and poll every ``poll_s`` otherwise (messages published by another process).
  Every database call runs in a worker thread (:func:`asyncio.to_thread`) so the event loop
  never blocks on I/O.

Durability. A publish commits with the store's own ``synchronous`` level (FULL by default), so
a message the broker confirmed survives a power loss. A claim, a settlement, a lease renewal or
release commits with ``synchronous=NORMAL`` on SQLite (no effect on PostgreSQL): the WAL is one
log and a power loss can only drop a suffix of commits, so such a commit is on disk as soon as
any later synced commit is (the dispatch that follows a claim, the next push), and one that is
lost is as if it never ran — the message is handed out again (at-least-once, as after a
crash). It spares the write lock one disk flush per claim and per settlement batch.

Clocks: ``available_at`` and ``locked_until`` are computed from this host's clock; processes
sharing a database must share a clock (they run on one machine in the embedded setup).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.broker import ATTEMPT_HEADER, REASON_HEADER, ConsumerLost
from adapters.store.engine import is_postgresql, translate_errors
from adapters.store.tables import NAMING_CONVENTION, UtcDateTime, outbox
from hub.errors import BrokerUnavailable, InternalError, StoreUnavailable
from hub.messaging import QUEUES, BrokerMessage, Handler, Outcome, QueueStats, RetryPolicy, decide

log = logging.getLogger(__name__)

#: The embedded broker's own metadata: ``broker_messages`` is not part of the store's core
#: tables (``adapters.store.tables.metadata``); schema comparisons must include both.
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

broker_messages = sa.Table(
    "broker_messages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("queue", sa.String(128), nullable=False),
    sa.Column("message_id", sa.String(128), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    # Hand-overs so far: 0 while never delivered; the claim increments it.
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("available_at", UtcDateTime, nullable=False),
    sa.Column("locked_until", UtcDateTime),
    sa.Column("dead", sa.Boolean, nullable=False),
    sa.Column("dead_reason", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # The claim scans (queue, dead, available_at); stats count by the same prefix.
    sa.Index(None, "queue", "dead", "available_at"),
    # Ids are never reused (migration 0003): settlements address messages by id.
    sqlite_autoincrement=True,
)

_T = broker_messages
_R = TypeVar("_R")


def _claim_statement(skip_locked: bool) -> sa.Update:
    """The claim (module docstring), built once: constructing it per call cost ≈ 0.4 ms of CPU,
    a third of a claim. ``skip_locked``: PostgreSQL's ``FOR UPDATE SKIP LOCKED``."""
    now = sa.bindparam("b_now", type_=UtcDateTime)
    ids = (
        sa.select(_T.c.id)
        .where(
            _T.c.queue == sa.bindparam("b_queue"),
            _T.c.dead.is_(False),
            _T.c.available_at <= now,
            sa.or_(_T.c.locked_until.is_(None), _T.c.locked_until <= now),
        )
        .order_by(_T.c.id)
        .limit(sa.bindparam("b_limit", type_=sa.Integer))
    )
    if skip_locked:
        ids = ids.with_for_update(skip_locked=True)
    return (
        _T.update()
        .where(_T.c.id.in_(ids.scalar_subquery()))
        .values(locked_until=sa.bindparam("b_until"), attempt=_T.c.attempt + 1)
        .returning(_T.c.id, _T.c.message_id, _T.c.body, _T.c.attempt)
    )


_CLAIM = {False: _claim_statement(False), True: _claim_statement(True)}
_FORGET = outbox.delete().where(outbox.c.id.in_(sa.bindparam("b_ids", expanding=True)))
_ACK = _T.delete().where(_T.c.id.in_(sa.bindparam("b_ids", expanding=True)))
_RETRY = (
    _T.update()
    .where(_T.c.id == sa.bindparam("b_id"))
    .values(available_at=sa.bindparam("b_at"), locked_until=None)
)
_DEAD = (
    _T.update()
    .where(_T.c.id == sa.bindparam("b_id"))
    .values(dead=True, dead_reason=sa.bindparam("b_reason"), locked_until=None)
)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    message: BrokerMessage


@dataclass(frozen=True, slots=True)
class _Settlement:
    id: int
    outcome: Outcome
    delay_s: float = 0.0
    reason: str = ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rows(
    queue: str, messages: Sequence[tuple[str, bytes]], delay_s: float
) -> list[dict[str, object]]:
    """The ``broker_messages`` rows of a publish."""
    now = _now()
    available = now + dt.timedelta(seconds=max(0.0, delay_s))
    return [
        {
            "queue": queue,
            "message_id": message_id,
            "body": bytes(body),
            "attempt": 0,
            "available_at": available,
            "locked_until": None,
            "dead": False,
            "dead_reason": None,
            "created_at": now,
        }
        for message_id, body in messages
    ]


class EmbeddedBroker:
    """A :class:`hub.messaging.Broker` over ``engine`` (schema at migration 0002 or later).

    ``lease_s`` bounds how long a message held by a dead consumer stays hidden; ``poll_s`` bounds
    how late a message published by another process (or a retry falling due) is noticed. Bind
    one instance to one event loop (the one that calls :meth:`start`).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        retry_policy: RetryPolicy | None = None,
        queues: Sequence[str] = QUEUES,
        lease_s: float = 60.0,
        poll_s: float = 0.5,
    ) -> None:
        self.engine = engine
        # Claims, settlements and leases commit without waiting for the disk on SQLite (module
        # docstring, "Durability"); publishes and redrives keep the store's setting.
        self._bookkeeping = engine.execution_options(sqlite_synchronous="NORMAL")
        self.retry_policy = retry_policy or RetryPolicy()
        self.queues = tuple(queues)
        self.lease_s = lease_s
        self.poll_s = poll_s
        self._wakers: dict[str, set[asyncio.Event]] = {q: set() for q in self.queues}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the port ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the table is there (the schema itself belongs to the migrations)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._run, "checking the broker table", self._check_table)

    async def close(self) -> None:
        """Stop consumers; the messages they were handling are released at once (their
        hand-over still counts as an attempt). A process that dies instead of closing leaves
        them locked until the lease runs out."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, delay_s: float = 0.0
    ) -> None:
        await self._insert(queue, [(message_id, body)], delay_s)

    async def publish_many(self, queue: str, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish ``(message_id, body)`` pairs in one transaction (returns after the commit)."""
        await self._insert(queue, messages, 0.0)

    async def publish_outbox(
        self,
        batches: Sequence[tuple[str, Sequence[tuple[str, bytes]]]],
        outbox_ids: Sequence[int],
    ) -> None:
        """Publish ``(queue, [(message_id, body), …])`` batches and delete the outbox rows
        ``outbox_ids`` they were read from, in ONE transaction (the relay's fast path,
        :mod:`hub.services.outbox`).

        Only for a broker on the store's own database — the outbox table is there. Returns
        after the commit, which is synced as a publish is: the messages exist exactly when
        their outbox rows are gone, so a crash can neither lose nor duplicate them.
        """
        for queue, _ in batches:
            self._check(queue)
        rows = [row for queue, messages in batches for row in _rows(queue, messages, 0.0)]

        def move(conn: Connection) -> None:
            if rows:
                conn.execute(_T.insert(), rows)
            if outbox_ids:
                conn.execute(_FORGET, {"b_ids": list(outbox_ids)})

        await asyncio.to_thread(self._run, "publishing the outbox", move)
        for queue, messages in batches:
            if messages:
                self._wake(queue)

    async def _insert(
        self, queue: str, messages: Sequence[tuple[str, bytes]], delay_s: float
    ) -> None:
        self._check(queue)
        if not messages:
            return
        rows = _rows(queue, messages, delay_s)
        await asyncio.to_thread(self._run, "publishing", lambda c: c.execute(_T.insert(), rows))
        self._wake(queue)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 32) -> None:
        self._check(queue)
        if self._loop is None:
            raise InternalError("the broker is not started")
        task = asyncio.create_task(_Consumer(self, queue, handler, max(1, prefetch)).run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stats(self, queue: str) -> QueueStats:
        self._check(queue)

        def count(conn: Connection) -> QueueStats:
            now = _now()
            free = sa.or_(_T.c.locked_until.is_(None), _T.c.locked_until <= now)
            live = sa.and_(_T.c.queue == queue, _T.c.dead.is_(False))
            row = conn.execute(
                sa.select(
                    sa.func.count().filter(live, _T.c.available_at <= now, free),
                    sa.func.count().filter(live, _T.c.available_at > now),
                    sa.func.count().filter(_T.c.queue == queue, _T.c.dead.is_(True)),
                ).where(_T.c.queue == queue)
            ).one()
            return QueueStats(queue=queue, ready=row[0], delayed=row[1], dead=row[2])

        return await asyncio.to_thread(self._run, "counting messages", count)

    async def dead_letters(self, queue: str, limit: int = 100) -> list[BrokerMessage]:
        self._check(queue)
        query = (
            sa.select(_T.c.message_id, _T.c.body, _T.c.attempt, _T.c.dead_reason)
            .where(_T.c.queue == queue, _T.c.dead.is_(True))
            .order_by(_T.c.id)
            .limit(limit)
        )

        def read(conn: Connection) -> list[BrokerMessage]:
            return [
                BrokerMessage(
                    queue=queue,
                    body=row.body,
                    message_id=row.message_id,
                    attempt=max(1, row.attempt),
                    headers={
                        ATTEMPT_HEADER: str(max(1, row.attempt)),
                        REASON_HEADER: row.dead_reason or "",
                    },
                )
                for row in conn.execute(query)
            ]

        return await asyncio.to_thread(self._run, "reading dead letters", read)

    async def redrive(self, queue: str, limit: int = 100) -> int:
        self._check(queue)

        def move(conn: Connection) -> int:
            ids = (
                sa.select(_T.c.id)
                .where(_T.c.queue == queue, _T.c.dead.is_(True))
                .order_by(_T.c.id)
                .limit(limit)
            )
            if is_postgresql(conn):
                ids = ids.with_for_update(skip_locked=True)
            result = conn.execute(
                _T.update()
                .where(_T.c.id.in_(ids.scalar_subquery()))
                .values(
                    dead=False, dead_reason=None, attempt=0, available_at=_now(), locked_until=None
                )
            )
            return int(result.rowcount)

        moved = await asyncio.to_thread(self._run, "redriving dead letters", move)
        self._wake(queue)
        return moved

    # -- shared with the consumers ----------------------------------------------------------

    def _run(
        self, action: str, work: Callable[[Connection], _R], *, bookkeeping: bool = False
    ) -> _R:
        """Run ``work(conn)`` in one transaction (called in a worker thread); ``bookkeeping``:
        a claim, settlement or lease, whose commit need not be synced (module docstring).

        The database *is* the broker here, so its failures surface as
        :class:`~hub.errors.BrokerUnavailable`, as they would from RabbitMQ.
        """
        engine = self._bookkeeping if bookkeeping else self.engine
        try:
            with translate_errors(action), engine.begin() as conn:
                return work(conn)
        except StoreUnavailable as exc:
            raise BrokerUnavailable(
                f"embedded broker unavailable while {action}: {exc.message_en}",
                message_vi=f"hàng đợi trong cơ sở dữ liệu không sẵn sàng khi {action}",
                details=exc.details,
            ) from exc

    def _check(self, queue: str) -> None:
        if queue not in self.queues:
            raise ValueError(f"queue {queue!r} is not declared (known: {self.queues})")

    @staticmethod
    def _check_table(conn: Connection) -> None:
        if not sa.inspect(conn).has_table("broker_messages"):
            raise InternalError(
                "table broker_messages is missing: run the migrations (lienthong db upgrade)",
                message_vi="thiếu bảng broker_messages: hãy chạy migration (lienthong db upgrade)",
            )

    def _wake(self, queue: str) -> None:
        for event in self._wakers.get(queue, ()):
            event.set()

    def _claim(self, queue: str, limit: int) -> list[_Claimed]:
        def claim(conn: Connection) -> list[_Claimed]:
            now = _now()
            params = {
                "b_queue": queue,
                "b_now": now,
                "b_limit": limit,
                "b_until": now + dt.timedelta(seconds=self.lease_s),
            }
            rows = conn.execute(_CLAIM[is_postgresql(conn)], params).all()
            return [
                _Claimed(
                    id=row.id,
                    message=BrokerMessage(
                        queue=queue,
                        body=row.body,
                        message_id=row.message_id,
                        attempt=row.attempt,
                        headers={ATTEMPT_HEADER: str(row.attempt)},
                    ),
                )
                for row in sorted(rows, key=lambda r: r.id)
            ]

        return self._run("claiming messages", claim, bookkeeping=True)

    def _settle(self, settlements: Sequence[_Settlement]) -> None:
        now = _now()
        acks = [s.id for s in settlements if s.outcome is Outcome.ACK]
        retries = [
            {"b_id": s.id, "b_at": now + dt.timedelta(seconds=s.delay_s)}
            for s in settlements
            if s.outcome is Outcome.RETRY
        ]
        deaths = [
            {"b_id": s.id, "b_reason": s.reason[:2000]}
            for s in settlements
            if s.outcome is Outcome.DEAD_LETTER
        ]

        def settle(conn: Connection) -> None:
            if acks:
                conn.execute(_ACK, {"b_ids": acks})
            if retries:
                conn.execute(_RETRY, retries)
            if deaths:
                conn.execute(_DEAD, deaths)

        self._run("settling messages", settle, bookkeeping=True)

    def _release(self, ids: Iterable[int]) -> None:
        held = list(ids)
        if held:
            self._run(
                "releasing messages",
                lambda c: c.execute(_T.update().where(_T.c.id.in_(held)).values(locked_until=None)),
                bookkeeping=True,
            )

    def _renew(self, ids: Iterable[int]) -> None:
        held = list(ids)
        if not held:
            return
        until = _now() + dt.timedelta(seconds=self.lease_s)
        self._run(
            "renewing leases",
            lambda c: c.execute(_T.update().where(_T.c.id.in_(held)).values(locked_until=until)),
            bookkeeping=True,
        )


class _Consumer:
    """One ``consume()`` call: claims up to ``prefetch`` messages, runs handlers, settles."""

    def __init__(self, broker: EmbeddedBroker, queue: str, handler: Handler, prefetch: int):
        self.broker = broker
        self.queue = queue
        self.handler = handler
        self.prefetch = prefetch
        self.wake = asyncio.Event()
        self.held: set[int] = set()  # claimed and not yet settled in the database
        self.pending: list[_Settlement] = []
        self.flush_needed = asyncio.Event()
        self.handlers: set[asyncio.Task[None]] = set()
        self.capacity_bound = False  # the last claim was limited by prefetch (see _claimer)

    async def run(self) -> None:
        self.broker._wakers[self.queue].add(self.wake)
        helpers = [
            asyncio.create_task(self._flusher()),
            asyncio.create_task(self._renewer()),
        ]
        try:
            await self._claimer()
        finally:
            self.broker._wakers[self.queue].discard(self.wake)
            for task in [*helpers, *self.handlers]:
                task.cancel()
            for task in [*helpers, *self.handlers]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._hand_back()

    async def _hand_back(self) -> None:
        """On close: commit the settlements already decided, and release the messages whose
        handlers were interrupted so another consumer takes them now rather than after the
        lease. If the database is unreachable the leases simply run out (nothing is lost)."""
        batch, self.pending = self.pending, []
        settled = {s.id for s in batch}
        interrupted = [i for i in self.held if i not in settled]
        try:
            await asyncio.to_thread(self.broker._settle, batch)
            await asyncio.to_thread(self.broker._release, interrupted)
        except InternalError as exc:
            log.warning("could not hand back messages of %s on close: %s", self.queue, exc)
        self.held.clear()

    async def _claimer(self) -> None:
        while True:
            self.wake.clear()
            room = self.prefetch - len(self.held)
            claimed: list[_Claimed] = []
            if room > 0:
                try:
                    claimed = await asyncio.to_thread(self.broker._claim, self.queue, room)
                except InternalError as exc:
                    log.warning("broker claim failed on %s: %s", self.queue, exc)
            for item in claimed:
                self.held.add(item.id)
                task = asyncio.create_task(self._handle(item))
                self.handlers.add(task)
                task.add_done_callback(self.handlers.discard)
            # Capacity, not the queue, limited this claim: a flush that frees room must look
            # again. Otherwise the queue had no more ready rows, and only a publish (or the
            # poll) can change that — waking on every flush cost an empty claim, a write
            # transaction queued behind the pushes, per settlement batch.
            self.capacity_bound = room <= 0 or len(claimed) == room
            if room > 0 and len(claimed) == room:
                continue  # probably more waiting: claim again at once
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.broker.poll_s):
                    await self.wake.wait()

    async def _handle(self, item: _Claimed) -> None:
        policy = self.broker.retry_policy
        error: BaseException | None = None
        if item.message.attempt > policy.max_attempts:
            error = ConsumerLost(
                f"handed out {item.message.attempt - 1} times without being settled"
            )
        else:
            try:
                await self.handler(item.message)
            except asyncio.CancelledError:
                raise  # closing: the message is released (or its lease runs out)
            except Exception as exc:
                error = exc
        decision = decide(error, item.message.attempt, policy)
        self.pending.append(
            _Settlement(item.id, decision.outcome, decision.delay_s, decision.reason)
        )
        self.flush_needed.set()

    async def _flusher(self) -> None:
        while True:
            await self.flush_needed.wait()
            self.flush_needed.clear()
            batch, self.pending = self.pending, []
            try:
                await asyncio.to_thread(self.broker._settle, batch)
            except InternalError as exc:
                # Keep them held: the renewer keeps the leases, the next flush tries again.
                log.warning("broker settle failed on %s: %s", self.queue, exc)
                self.pending[:0] = batch
                await asyncio.sleep(self.broker.poll_s)
                self.flush_needed.set()
                continue
            for settlement in batch:
                self.held.discard(settlement.id)
                if settlement.outcome is Outcome.RETRY and self.broker._loop is not None:
                    # Look again when the retry falls due instead of waiting for the poll.
                    self.broker._loop.call_later(settlement.delay_s, self.wake.set)
            if self.capacity_bound:
                self.wake.set()

    async def _renewer(self) -> None:
        while True:
            await asyncio.sleep(self.broker.lease_s / 3)
            try:
                await asyncio.to_thread(self.broker._renew, list(self.held))
            except InternalError as exc:
                log.warning("broker lease renewal failed on %s: %s", self.queue, exc)
