"""The work handlers: dispatch (make a delivery available, or hand it to the forwarders) and
forward (push it to the national axis or a peer hub), plus redrive for IT staff.

Theory of operation. Messages carry delivery ids only (PERFORMANCE.md: bodies stay in the blob
store). Delivery is at-least-once, so every handler first reads the delivery and does nothing
when it is already past the step the message asks for — a redelivered message is acknowledged
without effect. State changes go through :func:`hub.delivery.advance` in the transaction that
records the work; a message for the next step is an outbox row in that same transaction.

Retry and dead letters: the forward handler records each failed push (``retry_wait``,
attempts + 1, the reason) and raises :class:`hub.messaging.Retry`; the broker redelivers after
the delay. How long it keeps trying depends on whose fault the failure is:

* the peer is unreachable, down, answering garbage or refusing our credential
  (:class:`hub.errors.PeerUnavailable`, :class:`hub.errors.PeerAuthRefused`): exponential
  backoff with jitter (:meth:`RetryPolicy.peer_backoff`) until the delivery has been forwarding
  for :attr:`RetryPolicy.peer_give_up_s` (a day by default) — decided on *age*, counted from
  the first attempt of this forwarding (the dispatch, or the redrive that queued it again), not
  on the attempt count, so a peer down overnight does not cost a document;
* the peer's breaker is open (``peer.circuit_open``, :mod:`hub.circuit`): the delivery waits
  until the breaker lets a probe through, without counting an attempt — the network was not
  touched;
* the peer answered and refused this package (any other :class:`hub.errors.PeerError`):
  ``max_attempts`` attempts, as for any failing work.

A day of retries is more attempts than a broker message may take (each broker dead-letters a
message handed out ``max_attempts`` times, to catch consumers that die on it). So a push that
failed for the peer's sake is not retried by redelivering its message: the handler publishes a
*fresh* forward message, delayed, and acknowledges the old one (at-least-once holds: a crash
between the two leaves two messages, and the second finds the delivery past its step). Without
a broker (tests calling :meth:`ForwardHandler.forward`) it raises :class:`Retry` instead.

Once given up the delivery becomes ``dead`` and :class:`hub.messaging.GiveUp` dead-letters the
message (:func:`hub.messaging.decide`). :func:`redrive` puts dead or undeliverable deliveries
back to ``queued`` and queues them for dispatch again; :func:`discard` gives dead, undeliverable
or retry_wait deliveries up for good (``discarded``, with the operator's reason).

Handlers are ``async`` callables for :meth:`hub.messaging.Broker.consume`; the store and the
peer link are synchronous and run in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hub.circuit import CIRCUIT_OPEN
from hub.delivery import Event, State, advance, advance_many
from hub.errors import Conflict, InvalidRequest, PeerAuthRefused, PeerError, PeerUnavailable
from hub.messaging import FORWARD_QUEUE, Broker, BrokerMessage, GiveUp, Retry, RetryPolicy
from hub.ports import (
    NATIONAL_LINK,
    BlobStore,
    Clock,
    DeliveryRow,
    PeerLink,
    UnitOfWork,
    UnitOfWorkFactory,
)
from hub.routing import Router
from hub.services.base import audit, enqueue_dispatch, message_ids, today_vn
from hub.services.contracts import Route
from hub.services.pull import traced

log = logging.getLogger(__name__)


def _ids(message: BrokerMessage) -> list[str]:
    try:
        return message_ids(message.body)
    except (ValueError, AttributeError, TypeError) as exc:
        # A body we cannot read will never become readable: dead-letter it at once.
        raise InvalidRequest(
            f"unreadable work message {message.message_id}", code="broker.bad_message"
        ) from exc


@contextlib.contextmanager
def _raced_is_retry() -> Iterator[None]:
    """Another worker moved the delivery first (compare-and-set lost): run the message again
    shortly — it will find the delivery past this step and do nothing — instead of letting a
    :class:`Conflict` (a sender error) dead-letter it."""
    try:
        yield
    except Conflict as exc:
        if exc.code != "delivery.raced":
            raise
        raise Retry("delivery changed concurrently", delay_s=0.5) from exc


class DispatchHandler:
    """``DISPATCH_QUEUE``: queued → available (LOCAL) | forwarding (+ FORWARD message) | none."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, *, wake_outbox: Callable[[], None]
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._wake = wake_outbox

    async def __call__(self, message: BrokerMessage) -> None:
        ids = _ids(message)
        with _raced_is_retry():
            forwards = await asyncio.to_thread(self.dispatch, ids)
        if forwards:
            self._wake()

    def dispatch(self, delivery_ids: Sequence[str]) -> int:
        """Move each queued delivery on, in one transaction; return how many now forward.

        The batch costs three statements whatever its size (bench/RESULTS-hub.md): one read of its
        deliveries, one compare-and-set per shape of change (:func:`hub.delivery.advance_many`)
        and one insert of their events — plus an outbox row per forward.
        """
        now = self._clock.now()
        moves: list[tuple[DeliveryRow, Event, str | None]] = []
        forwards: list[str] = []
        with self._uow() as uow:
            rows = uow.deliveries.get_many(delivery_ids)
            for delivery_id in dict.fromkeys(delivery_ids):  # a repeated id: done the first time
                row = rows.get(delivery_id)
                if row is None or row.state != State.QUEUED:
                    continue  # unknown, or already dispatched: at-least-once redelivery
                route = Route(row.route)
                if route is Route.LOCAL:
                    moves.append((row, Event.DISPATCH_LOCAL, None))
                elif route is Route.NONE:
                    moves.append((row, Event.NO_ROUTE, row.last_error))
                else:
                    moves.append((row, Event.DISPATCH_REMOTE, None))
                    forwards.append(row.id)
            advance_many(uow.deliveries, moves, at=now)
            for delivery_id in forwards:
                body = json.dumps({"delivery_id": delivery_id}).encode()
                uow.outbox.add(FORWARD_QUEUE, body, now)
            uow.commit()
        return len(forwards)


class _Later(Retry):
    """A push failed for the peer's sake: try again after ``delay_s`` with a fresh message."""


class ForwardHandler:
    """``FORWARD_QUEUE``: push one delivery through its :class:`PeerLink`.

    ``links`` maps :data:`hub.ports.NATIONAL_LINK` and each peer hub's name to its link. The
    pushed bytes carry this hub's TraceHeader at the time of acceptance, so every retry pushes
    the same bytes (the peer deduplicates on them).
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        blobs: BlobStore,
        links: Mapping[str, PeerLink],
        clock: Clock,
        *,
        organ_id: str,
        retry: RetryPolicy,
        broker: Broker | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._uow = uow
        self._blobs = blobs
        self._links = links
        self._clock = clock
        self._organ_id = organ_id
        self._retry = retry
        self._broker = broker  # publishes the delayed fresh message of a peer retry
        self._draw = draw  # the jitter's uniform [0, 1) source

    async def __call__(self, message: BrokerMessage) -> None:
        for delivery_id in _ids(message):
            try:
                with _raced_is_retry():
                    await asyncio.to_thread(self.forward, delivery_id, message.attempt)
            except _Later as later:
                if self._broker is None:
                    raise
                body = json.dumps({"delivery_id": delivery_id}).encode()
                await self._broker.publish(
                    FORWARD_QUEUE,
                    body,
                    message_id=f"retry-{delivery_id}-{uuid.uuid4().hex[:12]}",
                    delay_s=later.delay_s,
                )

    def forward(self, delivery_id: str, attempt: int = 1) -> str | None:
        """One push attempt; returns the remote id, ``None`` when there was nothing to do.

        Raises :class:`Retry` after a recorded failure, :class:`GiveUp` once dead.
        """
        now = self._clock.now()
        with self._uow() as uow:
            row = uow.deliveries.get(delivery_id)
            if row is None:
                return None
            if row.state == State.RETRY_WAIT:
                row = advance(uow.deliveries, row, Event.RETRY, at=now)
                uow.commit()
            elif row.state != State.FORWARDING:
                return None  # forwarded, dead, revoked…: a redelivered message
            doc = uow.documents.get(row.doc_id)
        assert doc is not None  # foreign key
        link_name = row.peer_name if row.route == Route.PEER else NATIONAL_LINK
        link = self._links.get(link_name or NATIONAL_LINK)
        error: PeerError
        if link is None:
            error = PeerError(
                f"no link configured for {link_name!r}",
                message_vi=f"chưa cấu hình kết nối tới {link_name!r}",
                code="peer.not_configured",
            )
        else:
            data = traced(self._blobs.get(doc.digest), self._organ_id, doc)
            try:
                remote_id = link.send(
                    data,
                    from_code=doc.sender_code,
                    to_codes=[row.resolved_code or row.recipient_code],
                    kind=doc.kind,
                )
            except PeerError as exc:
                error = exc
            else:
                with self._uow() as uow:
                    current = uow.deliveries.get(delivery_id)
                    if current is not None and current.state == State.FORWARDING:
                        advance(
                            uow.deliveries,
                            current,
                            Event.FORWARD_OK,
                            at=self._clock.now(),
                            reason=f"{link_name}: {remote_id}",
                            remote_id=remote_id,  # the tracker asks the peer about it
                        )
                        uow.commit()
                return remote_id
        self._failed(delivery_id, attempt, error)
        return None

    def _failed(self, delivery_id: str, attempt: int, error: PeerError) -> None:
        now = self._clock.now()
        reason = f"{error.code}: {error.message_vi}"
        with self._uow() as uow:
            row = uow.deliveries.get(delivery_id)
            if row is None or row.state != State.FORWARDING:
                return None
            changes: dict[str, Any] = {}
            if error.code == "peer.not_configured":
                delay = None
            elif isinstance(error, PeerUnavailable | PeerAuthRefused):
                delay = self._peer_delay(uow, row, error, now)
                if error.code == CIRCUIT_OPEN:
                    changes["attempts"] = row.attempts  # the network was not touched
            else:
                attempts = max(attempt, row.attempts + 1)
                delay = (
                    self._retry.backoff(attempts) if attempts < self._retry.max_attempts else None
                )
            if delay is None:
                advance(uow.deliveries, row, Event.GIVE_UP, at=now, reason=reason)
                uow.commit()
                raise GiveUp(f"push of {delivery_id} given up: {error.code}") from error
            advance(
                uow.deliveries,
                row,
                Event.FORWARD_FAILED,
                at=now,
                reason=reason,
                next_attempt_at=now + dt.timedelta(seconds=delay),
                **changes,
            )
            uow.commit()
        later = isinstance(error, PeerUnavailable | PeerAuthRefused)
        kind = _Later if later else Retry
        raise kind(f"push of {delivery_id} failed: {error.code}", delay_s=delay)

    def _peer_delay(
        self, uow: UnitOfWork, row: DeliveryRow, error: PeerError, now: dt.datetime
    ) -> float | None:
        """Seconds until the next push to a failing peer, ``None`` once it is time to give up.

        The last wait is cut short so the final attempt happens at the give-up age itself.
        """
        left = self._retry.peer_give_up_s - (now - forwarding_since(uow, row)).total_seconds()
        if left <= 0:
            return None
        delay = self._retry.peer_backoff(row.attempts + 1, self._draw())
        retry_at = error.details.get("retry_at") if error.code == CIRCUIT_OPEN else None
        if isinstance(retry_at, str):
            # Come back when the breaker lets a probe through, spread over a tenth of the wait.
            wait = (dt.datetime.fromisoformat(retry_at) - now).total_seconds()
            delay = max(0.0, wait) * (1.0 + 0.1 * self._draw()) + self._retry.base_delay_s
        return max(self._retry.base_delay_s, min(delay, left))


def forwarding_since(uow: UnitOfWork, row: DeliveryRow) -> dt.datetime:
    """When the current forwarding of ``row`` began: its last ``queued → forwarding`` event
    (the first dispatch, or the one after a redrive); ``created_at`` when none is recorded."""
    for event in reversed(uow.deliveries.events(row.id)):
        if event.from_state == State.QUEUED and event.to_state == State.FORWARDING:
            return event.at
    return row.created_at


def redrive(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    delivery_ids: Sequence[str],
    *,
    actor: str = "cli",
    wake_outbox: Callable[[], None] | None = None,
    router_for: Callable[[UnitOfWork], Router] | None = None,
) -> list[str]:
    """Put dead or undeliverable deliveries back to ``queued`` and queue their dispatch.

    With ``router_for`` (e.g. ``lambda uow: base.router(deps, config, uow)``) each route is
    computed again — the registry or the connected systems may have been fixed since. Returns
    the ids moved; others (unknown, or in another state) are left alone.
    """
    now = clock.now()
    moved: list[str] = []
    with uow_factory() as uow:
        for delivery_id in delivery_ids:
            row = uow.deliveries.get(delivery_id)
            if row is None or row.state not in (State.DEAD, State.UNDELIVERABLE):
                continue
            changes: dict[str, Any] = {"attempts": 0}
            if router_for is not None:
                decision = router_for(uow).route(row.recipient_code, today_vn(now))
                changes.update(
                    route=decision.route.value,
                    resolved_code=decision.resolved,
                    system_id=decision.system_id,
                    peer_name=decision.peer_name,
                    last_error=decision.reason,
                )
            reason = f"redrive by {actor}"
            advance(uow.deliveries, row, Event.REDRIVE, at=now, reason=reason, **changes)
            moved.append(delivery_id)
        enqueue_dispatch(uow, moved, now)
        if moved:
            audit(uow, now, actor, "delivery.redrive", None, deliveries=moved)
        uow.commit()
    if moved and wake_outbox is not None:
        wake_outbox()
    return moved


#: States IT staff may discard from (hub.delivery: ``discard`` leaves only these).
DISCARDABLE = (State.DEAD, State.UNDELIVERABLE, State.RETRY_WAIT)
#: The longest discard reason kept (it is shown to the sender and stored in the audit row).
MAX_REASON = 1000


def discard(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    delivery_ids: Sequence[str],
    *,
    reason: str,
    actor: str,
) -> list[str]:
    """Give up dead, undeliverable or retry_wait deliveries for good (state ``discarded``).

    ``reason`` is required: it becomes the delivery's ``last_error`` (the sender's sent list
    shows it), the event's reason and the audit row's. A pending retry of a ``retry_wait``
    copy later finds it past its step and does nothing. Returns the ids moved; others
    (unknown, or in another state) are left alone. Raises :class:`InvalidRequest` for an empty
    or over-long reason, before touching anything.
    """
    reason = discard_reason(reason)
    now = clock.now()
    moved: list[str] = []
    with uow_factory() as uow:
        for delivery_id in dict.fromkeys(delivery_ids):
            row = uow.deliveries.get(delivery_id)
            if row is None or row.state not in DISCARDABLE:
                continue
            advance(
                uow.deliveries,
                row,
                Event.DISCARD,
                at=now,
                reason=f"discard by {actor}: {reason}",
                last_error=reason,
            )
            moved.append(delivery_id)
        if moved:
            audit(uow, now, actor, "delivery.discard", None, deliveries=moved, reason=reason)
        uow.commit()
    return moved


def discard_reason(reason: str) -> str:
    """``reason`` with its whitespace collapsed; :class:`InvalidRequest` (field ``reason``) when
    it is empty or longer than :data:`MAX_REASON` (callers check it before asking anything)."""
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidRequest(
            "a reason is required to discard a delivery",
            message_vi="cần nêu lý do hủy bản chuyển",
            code="discard.reason_required",
            details={"field": "reason"},
        )
    if len(reason) > MAX_REASON:
        raise InvalidRequest(
            f"the discard reason is longer than {MAX_REASON} characters",
            message_vi=f"lý do hủy dài quá {MAX_REASON} ký tự",
            code="discard.reason_too_long",
            details={"field": "reason", "length": len(reason)},
        )
    return reason
