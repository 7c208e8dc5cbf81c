"""The RabbitMQ adapter of :class:`hub.messaging.Broker`, through aio-pika.

Topology (declared by :meth:`RabbitBroker.start`, idempotent; ``N`` is the physical name of a
logical queue, ``<prefix>.<queue without "lienthong.">``, e.g. ``lienthong.dispatch``):

* ``N`` — the work queue: durable **quorum** queue (replicated, fsynced Raft log: a confirmed
  message survives a broker crash), ``x-dead-letter-exchange = <prefix>.dlx``. No
  ``x-delivery-limit``: queue arguments cannot change once a queue exists (a declaration with
  other values fails with ``PRECONDITION_FAILED``), so a limit derived from
  ``retry.max_attempts`` would stop every hub whose setting changed. The limit is enforced on
  the consumer side instead, from the ``x-delivery-count`` the quorum queue stamps on each
  redelivery: a message handed out ``max_attempts`` times without being settled is
  dead-lettered (reason ``ConsumerLost``) before a handler sees it again. An operator who wants
  a broker-side net as well sets it the way RabbitMQ recommends, as a policy
  (``rabbitmqctl set_policy … '{"delivery-limit": …}' --apply-to quorum_queues``), which can
  change at any time. An existing work queue is used as it is (:meth:`RabbitBroker.start`
  checks it passively), so queues declared by an earlier version with ``x-delivery-limit``
  keep working: their limit (the old ``max_attempts + 2``) only ever dead-letters, never drops.
* ``<prefix>.dlx`` — direct exchange; ``N.dead`` (quorum) is bound to it with key ``N``. The
  adapter dead-letters by *publishing* there (so the reason travels in the
  ``x-lienthong-reason`` header) and only then acknowledging the original.
* ``N.retry.<delay>`` — delayed retry without the delayed-message plugin: one quorum queue per
  delay step (250 ms, 500 ms, 1 s, 2 s … 1024 s, 2048 s), each with a queue-level
  ``x-message-ttl`` and ``x-dead-letter-exchange = ""`` / ``x-dead-letter-routing-key = N``,
  so an expired message falls back into the work queue. Why one queue per step: RabbitMQ
  expires messages only at the head of a queue, so one retry queue with per-message expiration
  would hold a 2 s retry behind a 10 min one. Why quorum with
  ``x-dead-letter-strategy = at-least-once`` (and the ``reject-publish`` overflow it requires):
  that strategy, new in RabbitMQ 3.10 (this machine runs 3.10.8), moves an expired message to
  the work queue with internal confirms, so no retry is lost if the broker stops half-way
  (classic queues and the default ``at-most-once`` strategy may drop it). A retry asking for
  ``d`` seconds waits in the largest step ``<= d`` (at least the smallest), i.e. between
  ``d/2`` and ``d`` — early by less than half, never late. Delays ``<= 0`` go straight to ``N``.

Messages are persistent, carry ``message_id`` and an ``x-lienthong-attempt`` header. The attempt
a handler sees is that header plus the quorum queue's ``x-delivery-count`` (redeliveries after a
lost consumer), the same count as the embedded broker keeps. Publishing uses a channel with
publisher confirms and ``mandatory`` (a message no queue took raises): :meth:`publish` returns
once RabbitMQ confirmed; :meth:`publish_many` pipelines many publishes and awaits the confirms
together.

Consumers: one robust channel per :meth:`consume`, ``basic.qos(prefetch)``, manual ack. After
the handler, :func:`hub.messaging.decide` says ack / retry / dead-letter; retry and dead-letter
first publish the copy (confirmed), then ack the original — a crash in between duplicates,
never loses (handlers are idempotent).

Reconnection: :func:`aio_pika.connect_robust` reopens the connection, channels, and consumers
after a broker restart or a forced close. Given several URLs (every node of a cluster,
``amqp://a,amqp://b,…``), each connection attempt after the first goes to the next node in
turn (:class:`_ClusterConnection`), so a connection whose node died moves to a live one while
the quorum queues, replicated on the other nodes, keep every message; passwords are masked in
everything this adapter and aio-pika print (:func:`redacted`); a publish made meanwhile waits
for the connection up to ``publish_timeout_s`` and then raises
:class:`hub.errors.BrokerUnavailable`. Every aio-pika / aiormq exception is translated to that
error here, at the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustConnection,
    DeliveryMode,
)
from aio_pika.robust_connection import RobustConnection
from yarl import URL

from adapters.broker import ATTEMPT_HEADER, REASON_HEADER, ConsumerLost
from hub.errors import BrokerUnavailable
from hub.messaging import QUEUES, BrokerMessage, Handler, Outcome, QueueStats, RetryPolicy, decide

log = logging.getLogger(__name__)

#: Delay steps of the retry queues, in milliseconds (powers of two: 250 ms … 2048 s).
RETRY_STEPS_MS: tuple[int, ...] = tuple(250 * 2**i for i in range(14))

_DELIVERY_COUNT = "x-delivery-count"  # set by quorum queues on redelivery
_RECONNECT_POLL_S = 0.1
#: Failures that mean "the channel or connection is being reopened", not "RabbitMQ said no".
_RECONNECTING = (
    aiormq.exceptions.ChannelInvalidStateError,
    aiormq.exceptions.ChannelClosed,
    aiormq.exceptions.AMQPConnectionError,
    ConnectionError,
    RuntimeError,
)
_AMQP_ERRORS = (aiormq.exceptions.AMQPError, ConnectionError, OSError, asyncio.TimeoutError)


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn aio-pika / aiormq failures into :class:`BrokerUnavailable`, once, at the edge."""
    try:
        yield
    except BrokerUnavailable:
        raise
    except (*_AMQP_ERRORS, RuntimeError) as exc:
        raise BrokerUnavailable(
            f"RabbitMQ unavailable while {action}: {type(exc).__name__}: {exc}",
            message_vi=f"RabbitMQ không sẵn sàng khi {action}",
            details={"action": action, "backend_error": type(exc).__name__},
        ) from exc


def node_urls(url: str | Sequence[str]) -> tuple[str, ...]:
    """The node URLs of ``broker.url``: one ``amqp://`` URL or a comma-separated list."""
    parts = url.split(",") if isinstance(url, str) else list(url)
    nodes = tuple(p.strip() for p in parts if p.strip())
    if not nodes:
        raise ValueError("no broker URL")
    return nodes


def redacted(url: str | Sequence[str]) -> str:
    """``url`` (one or a list) with every password replaced by ``******``, for log lines."""
    shown = []
    for node in node_urls(url):
        parsed = URL(node)
        shown.append(str(parsed.with_password("******")) if parsed.password else node)
    return ",".join(shown)


class _ClusterConnection(RobustConnection):
    """A robust connection that tries the nodes of a cluster in turn.

    aio-pika reconnects to ``self.url``; here ``url`` is the current node, and every
    reconnection attempt (aio-pika clears ``transport`` before each) moves to the next node.
    ``NODES`` is set on a subclass made per broker (:meth:`RabbitBroker._connection_class`).
    """

    NODES: tuple[URL, ...] = ()
    _turn = -2  # the first two clears (construction, first attempt) land on node 0

    @property
    def url(self) -> URL:
        return self.NODES[max(0, self._turn) % len(self.NODES)]

    @url.setter
    def url(self, value: URL) -> None:  # the first node, or update_secret's new password
        if self.NODES and value.with_password(None) != self.url.with_password(None):
            self.NODES = (value, *self.NODES[1:])

    @property
    def transport(self) -> Any:
        return self.__dict__.get("_cluster_transport")

    @transport.setter
    def transport(self, value: Any) -> None:
        if value is None:
            self._turn += 1
        self.__dict__["_cluster_transport"] = value


def retry_step_ms(delay_s: float) -> int:
    """The retry queue step used for a delay of ``delay_s`` seconds (largest step <= delay)."""
    wanted = int(delay_s * 1000)
    fitting = [step for step in RETRY_STEPS_MS if step <= wanted]
    return fitting[-1] if fitting else RETRY_STEPS_MS[0]


class RabbitBroker:
    """A :class:`hub.messaging.Broker` on RabbitMQ (3.10 or later: quorum queue TTL and
    at-least-once dead-lettering).

    ``prefix`` namespaces every queue and exchange (tests use a unique one per run). Bind one
    instance to one event loop.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "lienthong",
        retry_policy: RetryPolicy | None = None,
        queues: Sequence[str] = QUEUES,
        publish_timeout_s: float = 15.0,
        reconnect_interval_s: float = 1.0,
        connection_name: str | None = None,
    ) -> None:
        self.urls = node_urls(url)
        self.prefix = prefix
        self.retry_policy = retry_policy or RetryPolicy()
        self.queues = tuple(queues)
        self.publish_timeout_s = publish_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        #: Shown by ``rabbitmqctl list_connections client_properties`` and the management UI.
        self.connection_name = connection_name or f"lienthong {prefix}"
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._admin: AbstractChannel | None = None
        self._consumers: list[AbstractChannel] = []
        self._handling: set[asyncio.Task[None]] = set()

    # -- names ------------------------------------------------------------------------------

    def physical(self, queue: str) -> str:
        """The RabbitMQ name of ``queue``: ``lienthong.dispatch`` → ``<prefix>.dispatch``."""
        if queue not in self.queues:
            raise ValueError(f"queue {queue!r} is not declared (known: {self.queues})")
        return f"{self.prefix}.{queue.removeprefix('lienthong.')}"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.dlx"

    def _dead_name(self, queue: str) -> str:
        return f"{self.physical(queue)}.dead"

    def _retry_name(self, queue: str, step_ms: int) -> str:
        return f"{self.physical(queue)}.retry.{step_ms}ms"

    def _work_args(self) -> dict[str, Any]:
        # No x-delivery-limit: see the module docstring (it would pin retry.max_attempts).
        return {"x-queue-type": "quorum", "x-dead-letter-exchange": self.dead_letter_exchange}

    async def _declare_work_queue(self, name: str) -> None:
        """Declare the work queue ``name`` unless it exists; an existing one is taken as it is.

        The check is a passive declaration on a plain (not robust) channel, because a missing
        queue closes the channel that asked: a robust one would reopen and replay it.
        """
        transport = self._require().transport
        if transport is None:
            raise BrokerUnavailable("the RabbitMQ connection is not open")
        probe = await transport.connection.channel()
        try:
            await probe.queue_declare(name, passive=True)
            return
        except aiormq.exceptions.ChannelNotFoundEntity:
            pass
        finally:
            if not probe.is_closed:
                await probe.close()
        assert self._admin is not None
        await self._admin.declare_queue(name, durable=True, arguments=self._work_args())

    def _retry_args(self, queue: str, step_ms: int) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": step_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.physical(queue),
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def _connection_class(self, first: int) -> type[RobustConnection]:
        """A connection class trying the nodes in turn, starting with node ``first``."""
        nodes = tuple(URL(u) for u in self.urls[first:] + self.urls[:first])
        return type("ClusterConnection", (_ClusterConnection,), {"NODES": nodes})

    async def _connect(self) -> AbstractRobustConnection:
        """The first connection: each node in turn until one answers (a cluster may start with
        a node down); afterwards aio-pika's reconnection moves between nodes by itself."""
        failure: BaseException | None = None
        for first, node in enumerate(self.urls):
            try:
                return await aio_pika.connect_robust(
                    node,
                    connection_class=self._connection_class(first),
                    reconnect_interval=self.reconnect_interval_s,
                    client_properties={"connection_name": self.connection_name},
                )
            except (*_AMQP_ERRORS, RuntimeError) as exc:
                log.warning("RabbitMQ node %s unavailable: %s", redacted(node), type(exc).__name__)
                failure = exc
        assert failure is not None
        raise failure

    def __repr__(self) -> str:
        return f"RabbitBroker({redacted(self.urls)!r}, prefix={self.prefix!r})"

    # -- the port ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and declare the topology (idempotent: same names, same arguments)."""
        with _translated("connecting"):
            self._connection = await self._connect()
            self._publisher = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            self._admin = await self._connection.channel()
            dlx = await self._admin.declare_exchange(
                self.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
            )
            for queue in self.queues:
                name = self.physical(queue)
                await self._declare_work_queue(name)
                dead = await self._admin.declare_queue(
                    self._dead_name(queue), durable=True, arguments={"x-queue-type": "quorum"}
                )
                await dead.bind(dlx, routing_key=name)
                for step in RETRY_STEPS_MS:
                    await self._admin.declare_queue(
                        self._retry_name(queue, step),
                        durable=True,
                        arguments=self._retry_args(queue, step),
                    )

    async def close(self) -> None:
        """Close the connection; unacknowledged deliveries go back to their queues."""
        connection, self._connection = self._connection, None
        self._consumers.clear()
        if connection is not None:
            with contextlib.suppress(*_AMQP_ERRORS, RuntimeError):
                await connection.close()
        for task in list(self._handling):
            task.cancel()

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, delay_s: float = 0.0
    ) -> None:
        if delay_s > 0:
            target = self._retry_name(queue, retry_step_ms(delay_s))
        else:
            target = self.physical(queue)
        await self._publish("", target, body, message_id=message_id, attempt=1)

    async def publish_many(self, queue: str, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish ``(message_id, body)`` pairs pipelined; return once all are confirmed.

        If it raises, some of the batch may already be stored: publish the whole batch again
        (duplicates are harmless, the handlers are idempotent; a lost message is not).
        """
        name = self.physical(queue)
        await asyncio.gather(
            *(self._publish("", name, body, message_id=mid, attempt=1) for mid, body in messages)
        )

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 32) -> None:
        connection = self._require()
        name = self.physical(queue)
        with _translated("starting a consumer"):
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=max(1, prefetch))
            # Passive: start() made sure it exists, and whatever arguments it was created with
            # (an earlier version's x-delivery-limit) are accepted.
            amqp_queue = await channel.declare_queue(name, passive=True)

            async def on_message(incoming: AbstractIncomingMessage) -> None:
                await self._on_message(queue, handler, incoming)

            await amqp_queue.consume(on_message, no_ack=False)
        self._consumers.append(channel)

    async def stats(self, queue: str) -> QueueStats:
        ready = await self._depth(self.physical(queue))
        delayed = 0
        for step in RETRY_STEPS_MS:
            delayed += await self._depth(self._retry_name(queue, step))
        dead = await self._depth(self._dead_name(queue))
        return QueueStats(queue=queue, ready=ready, delayed=delayed, dead=dead)

    async def dead_letters(self, queue: str, limit: int = 100) -> list[BrokerMessage]:
        """Peek: take up to ``limit`` dead letters without acking, then close the channel so
        RabbitMQ puts them all back (their order in the dead queue may change)."""
        connection = self._require()
        found: list[BrokerMessage] = []
        with _translated("reading dead letters"):
            channel = await connection.channel()
            try:
                dead = await channel.get_queue(self._dead_name(queue), ensure=False)
                for _ in range(limit):
                    incoming = await dead.get(no_ack=False, fail=False)
                    if incoming is None:
                        break
                    found.append(self._message(queue, incoming))
            finally:
                await channel.close()
        return found

    async def redrive(self, queue: str, limit: int = 100) -> int:
        connection = self._require()
        moved = 0
        with _translated("redriving dead letters"):
            channel = await connection.channel()
            try:
                dead = await channel.get_queue(self._dead_name(queue), ensure=False)
                for _ in range(limit):
                    incoming = await dead.get(no_ack=False, fail=False)
                    if incoming is None:
                        break
                    await self._publish(
                        "",
                        self.physical(queue),
                        incoming.body,
                        message_id=incoming.message_id or "",
                        attempt=1,
                    )
                    await incoming.ack()
                    moved += 1
            finally:
                await channel.close()
        return moved

    async def delete_topology(self) -> None:
        """Delete every queue and exchange of this prefix (tests; decommissioning). Messages in
        them are lost."""
        connection = self._require()
        with _translated("deleting the topology"):
            # Our consumers first: a robust channel would declare a deleted queue again.
            for consumer in self._consumers:
                await consumer.close()
            self._consumers.clear()
            channel = await connection.channel()
            try:
                for queue in self.queues:
                    names = [self.physical(queue), self._dead_name(queue)]
                    names += [self._retry_name(queue, step) for step in RETRY_STEPS_MS]
                    for name in names:
                        await channel.queue_delete(name)
                await channel.exchange_delete(self.dead_letter_exchange)
            finally:
                await channel.close()

    # -- internals --------------------------------------------------------------------------

    def _require(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise BrokerUnavailable("the RabbitMQ broker is not started")
        return self._connection

    async def _publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        attempt: int,
        reason: str = "",
    ) -> None:
        self._require()
        if self._publisher is None:
            raise BrokerUnavailable("the RabbitMQ broker is not started")
        headers: dict[str, Any] = {ATTEMPT_HEADER: attempt}
        if reason:
            headers[REASON_HEADER] = reason[:2000]
        message = aio_pika.Message(
            body,
            message_id=message_id,
            headers=headers,
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        with _translated("publishing"):
            async with asyncio.timeout(self.publish_timeout_s):
                while True:
                    try:
                        target = (
                            self._publisher.default_exchange
                            if exchange == ""
                            else await self._publisher.get_exchange(exchange, ensure=False)
                        )
                        confirmation = await target.publish(message, routing_key, mandatory=True)
                        break
                    except _RECONNECTING as exc:
                        # The connection dropped and aio-pika is reopening it: publish again
                        # once it is back (until publish_timeout_s). An unconfirmed message
                        # may then be stored twice — at-least-once, the message id is the same.
                        log.info("publish to %s waits for the reconnection: %s", routing_key, exc)
                        await asyncio.sleep(_RECONNECT_POLL_S)
        if confirmation is not None and not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise BrokerUnavailable(
                f"RabbitMQ did not confirm the publish to {routing_key}: {confirmation!r}",
                message_vi=f"RabbitMQ không xác nhận việc gửi tới {routing_key}",
            )

    async def _depth(self, name: str) -> int:
        if self._admin is None:
            raise BrokerUnavailable("the RabbitMQ broker is not started")
        with _translated("reading queue depths"):
            # Straight on the aiormq channel: aio-pika's robust declare_queue(passive=True)
            # answers from its own cache (message_count stays at the first declaration's).
            channel = await self._admin.get_underlay_channel()
            result = await channel.queue_declare(name, passive=True)
        return int(result.message_count or 0)

    def _message(self, queue: str, incoming: AbstractIncomingMessage) -> BrokerMessage:
        raw = incoming.headers or {}
        base = _as_int(raw.get(ATTEMPT_HEADER), 1)
        attempt = base + _as_int(raw.get(_DELIVERY_COUNT), 0)
        headers = {
            str(k): (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            for k, v in raw.items()
            if isinstance(v, str | bytes | int)
        }
        headers[ATTEMPT_HEADER] = str(attempt)
        return BrokerMessage(
            queue=queue,
            body=incoming.body,
            message_id=incoming.message_id or "",
            attempt=attempt,
            headers=headers,
        )

    async def _on_message(
        self, queue: str, handler: Handler, incoming: AbstractIncomingMessage
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handling.add(task)
        try:
            await self._handle(queue, handler, incoming)
        finally:
            if task is not None:
                self._handling.discard(task)

    async def _handle(
        self, queue: str, handler: Handler, incoming: AbstractIncomingMessage
    ) -> None:
        message = self._message(queue, incoming)
        policy = self.retry_policy
        error: BaseException | None = None
        if message.attempt > policy.max_attempts:
            error = ConsumerLost(f"handed out {message.attempt - 1} times without being settled")
        else:
            try:
                await handler(message)
            except asyncio.CancelledError:
                raise  # closing: unacknowledged, RabbitMQ redelivers it
            except Exception as exc:
                error = exc
        decision = decide(error, message.attempt, policy)
        try:
            if decision.outcome is Outcome.RETRY:
                step = retry_step_ms(decision.delay_s)
                target = (
                    self._retry_name(queue, step) if decision.delay_s > 0 else self.physical(queue)
                )
                await self._publish(
                    "",
                    target,
                    message.body,
                    message_id=message.message_id,
                    attempt=message.attempt + 1,
                )
            elif decision.outcome is Outcome.DEAD_LETTER:
                await self._publish(
                    self.dead_letter_exchange,
                    self.physical(queue),
                    message.body,
                    message_id=message.message_id,
                    attempt=message.attempt,
                    reason=decision.reason,
                )
            with _translated("acknowledging"):
                await incoming.ack()
        except BrokerUnavailable as exc:
            # Left unacknowledged: RabbitMQ redelivers it once the channel is back.
            log.warning("could not settle %s on %s: %s", message.message_id, queue, exc)


def _as_int(value: object, default: int) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str | bytes):
        with contextlib.suppress(ValueError):
            return int(value)
    return default
