"""The broker port: what the hub needs from a message broker, and where ack/retry/dead-letter
is decided.

Theory of operation. State lives in the database; the broker carries *work*: small messages
holding ids (never package bodies — PERFORMANCE.md). Delivery is at-least-once, so every
handler is idempotent (the key of a delivery is (package, recipient)). A handler:

* returns normally → the message is acknowledged;
* raises :class:`Retry` → it is redelivered after ``Retry.delay_s``;
* raises a :class:`hub.errors.SenderError` (permanent by nature) or :class:`GiveUp` (the
  handler decided and recorded the end) → dead-lettered at once;
* raises anything else (peer down, database busy, a bug) → retried with exponential backoff
  until :attr:`RetryPolicy.max_attempts`, then dead-lettered.

:func:`decide` is the one place that turns an outcome into ack / retry / dead-letter; both
adapters (RabbitMQ through aio-pika, and the embedded broker in the database) call it, so they
behave the same. Dead letters are kept and can be redriven by IT staff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hub.errors import HubError, SenderError

#: Queue names the hub declares.
DISPATCH_QUEUE = "lienthong.dispatch"  # route / make available each new delivery
FORWARD_QUEUE = "lienthong.forward"  # push a delivery to the national axis or a peer hub
QUEUES = (DISPATCH_QUEUE, FORWARD_QUEUE)


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    """One message as a handler sees it. ``attempt`` counts from 1."""

    queue: str
    body: bytes
    message_id: str
    attempt: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[BrokerMessage], Awaitable[None]]


class Retry(HubError):
    """Raised by a handler to ask for redelivery after ``delay_s`` seconds."""

    code = "broker.retry"

    def __init__(self, message_en: str = "retry requested", *, delay_s: float = 5.0) -> None:
        super().__init__(message_en)
        self.delay_s = delay_s


class GiveUp(HubError):
    """Raised by a handler that has recorded the work as given up (a delivery now ``dead``):
    the message is dead-lettered at once, whatever its attempt count."""

    code = "broker.give_up"


class Outcome(StrEnum):
    ACK = "ack"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    delay_s: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed work is retried before it is dead-lettered."""

    max_attempts: int = 8
    """Attempts (the first included) before a failing message is dead-lettered."""
    base_delay_s: float = 2.0
    """Delay before the second attempt; doubles each time."""
    max_delay_s: float = 600.0
    """Upper bound of one delay."""
    peer_give_up_s: float = 86400.0
    """Pushes to an unreachable peer are retried until the delivery's forwarding is this old
    (seconds since its first attempt), however many attempts that takes; then it is dead."""
    jitter: float = 0.2
    """Peer backoff varies by up to this fraction either way, so deliveries queued together
    do not all knock at a recovering peer in the same second."""

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_delay_s, self.base_delay_s * (2 ** max(0, min(attempt, 62) - 1))))

    def peer_backoff(self, attempt: int, draw: float) -> float:
        """:meth:`backoff` with jitter; ``draw`` is uniform in [0, 1) (injected: testable)."""
        factor = 1.0 + self.jitter * (2.0 * draw - 1.0)
        return max(0.0, self.backoff(attempt) * factor)


def decide(error: BaseException | None, attempt: int, policy: RetryPolicy) -> Decision:
    """Ack, retry (with its delay) or dead-letter, from the handler's outcome."""
    if error is None:
        return Decision(Outcome.ACK)
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, Retry):
        if attempt >= policy.max_attempts:
            return Decision(Outcome.DEAD_LETTER, reason=reason)
        return Decision(Outcome.RETRY, delay_s=error.delay_s, reason=reason)
    if isinstance(error, SenderError | GiveUp):
        return Decision(Outcome.DEAD_LETTER, reason=reason)
    if attempt >= policy.max_attempts:
        return Decision(Outcome.DEAD_LETTER, reason=reason)
    return Decision(Outcome.RETRY, delay_s=policy.backoff(attempt), reason=reason)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Depths of one queue, for ``lienthong queues``, the dashboard and ``/metrics``."""

    queue: str
    ready: int
    delayed: int
    dead: int


class Broker(Protocol):
    """A durable work queue with delayed retry and dead letters."""

    async def start(self) -> None:
        """Connect and declare the topology (idempotent)."""
        ...

    async def close(self) -> None: ...

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, delay_s: float = 0.0
    ) -> None:
        """Return once the broker holds the message durably (publisher confirm / commit)."""
        ...

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 32) -> None:
        """Start delivering ``queue``'s messages to ``handler`` until :meth:`close`."""
        ...

    async def stats(self, queue: str) -> QueueStats: ...

    async def dead_letters(self, queue: str, limit: int = 100) -> list[BrokerMessage]: ...

    async def redrive(self, queue: str, limit: int = 100) -> int:
        """Move up to ``limit`` dead letters of ``queue`` back to it; return how many moved."""
        ...
