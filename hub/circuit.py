"""A circuit breaker per peer: stop calling a peer that keeps failing, probe it now and then.

Theory of operation. Every call to a peer (push, inbox listing, tracking, directory) goes
through the peer's :class:`CircuitBreaker` (see :func:`hub.peer_guard.guard`)::

    closed ──N consecutive failures──► open ──cool-down elapsed──► half_open
      ▲                                  ▲                            │
      └──────────── probe succeeds ──────┼──────── probe fails ───────┘

* **closed** — calls pass; each failure counts, a success resets the count. After
  :attr:`BreakerPolicy.failure_threshold` consecutive failures the breaker opens.
* **open** — calls fail fast with :class:`hub.errors.PeerUnavailable` (code
  ``peer.circuit_open``) without touching the network, until the cool-down has passed.
* **half_open** — one call at a time is let through as a probe: success closes the breaker,
  failure opens it again for another cool-down. Other callers keep failing fast meanwhile.

What counts: :class:`hub.errors.PeerUnavailable` (unreachable, timeout, 5xx, a reply outside
the protocol such as an HTML page) is a failure. :class:`hub.errors.PeerAuthRefused` opens the
breaker at once (retrying cannot fix a credential) for the longer
:attr:`BreakerPolicy.auth_cooldown_s` and raises an **alert**: one error line and one
``lienthong.security`` JSON event when it is first seen, shown in health until a call succeeds.
Any other :class:`hub.errors.PeerError` means the peer answered and refused *that* request: the
connection is healthy. Anything else (a bug) leaves the breaker as it was.

The breaker is pure: time comes from an injected :class:`hub.ports.Clock` (tests simulate hours
of outage in microseconds), and every change of the health it keeps is handed to ``on_change``
(the composition root persists it, :class:`hub.ports.PeerHealthStore`). Thread-safe: the
forward handler calls peers from worker threads.

Hazard: each process has its own breaker; the stored health is the last writer's view. Two
worker processes therefore each probe a peer that is down, at most once per cool-down each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from hub.errors import HubError, PeerAuthRefused, PeerError, PeerUnavailable
from hub.ports import Clock, PeerHealth
from hub.security import emit

log = logging.getLogger(__name__)

#: The error code of a call refused by an open breaker.
CIRCUIT_OPEN = "peer.circuit_open"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a peer's breaker opens and how long it stays open."""

    failure_threshold: int = 5
    """Consecutive failures that open the breaker."""
    cooldown_s: float = 60.0
    """How long an open breaker refuses calls before letting one probe through."""
    auth_cooldown_s: float = 900.0
    """Cool-down after a refused credential (an operator has to act; probe rarely)."""

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.cooldown_s < 0 or self.auth_cooldown_s < 0:
            raise ValueError("cool-downs must not be negative")


class Verdict(StrEnum):
    """How one call's outcome counts for the breaker."""

    SUCCESS = "success"
    FAILURE = "failure"
    AUTH_REFUSED = "auth_refused"
    NEUTRAL = "neutral"


def classify(error: BaseException | None) -> Verdict:
    """How an outcome counts (see the module docstring)."""
    if error is None:
        return Verdict.SUCCESS
    if isinstance(error, PeerAuthRefused):
        return Verdict.AUTH_REFUSED
    if isinstance(error, PeerUnavailable):
        return Verdict.FAILURE
    if isinstance(error, PeerError):
        return Verdict.SUCCESS  # the peer answered; it refused this request for its reasons
    return Verdict.NEUTRAL


def _describe(error: BaseException) -> str:
    if isinstance(error, HubError):
        return f"{error.code}: {error.message_en}"[:500]
    return type(error).__name__


class CircuitBreaker:
    """The breaker of one peer (see the module docstring)."""

    def __init__(
        self,
        peer: str,
        kind: str,
        policy: BreakerPolicy,
        clock: Clock,
        *,
        on_change: Callable[[PeerHealth], None] | None = None,
    ) -> None:
        self.peer = peer
        self.policy = policy
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._probing = False
        self._health = PeerHealth(name=peer, kind=kind, state=BreakerState.CLOSED.value)

    @property
    def health(self) -> PeerHealth:
        """A snapshot of this peer's connection health."""
        with self._lock:
            return self._health

    @property
    def state(self) -> BreakerState:
        return BreakerState(self.health.state)

    def _reopens_at(self) -> dt.datetime | None:
        h = self._health
        if h.state != BreakerState.OPEN or h.opened_at is None:
            return None
        cooldown = self.policy.auth_cooldown_s if h.alert else self.policy.cooldown_s
        return h.opened_at + dt.timedelta(seconds=cooldown)

    def before_call(self) -> bool:
        """Admit a call, or raise :class:`PeerUnavailable` (``peer.circuit_open``) fast.

        Returns ``True`` when the call is the half-open probe. An admitted call must be followed
        by :meth:`record` with its outcome (and ``probe`` as returned here).
        """
        changed: PeerHealth | None = None
        probe = False
        with self._lock:
            h = self._health
            if h.state == BreakerState.OPEN:
                reopens = self._reopens_at()
                if reopens is not None and self._clock.now() < reopens:
                    raise self._refusal(reopens)
                changed = self._set(state=BreakerState.HALF_OPEN.value)
            if self._health.state == BreakerState.HALF_OPEN:
                if self._probing:
                    raise self._refusal(None)
                self._probing = probe = True
        if changed is not None:
            self._notify(changed)
        return probe

    def _refusal(self, reopens: dt.datetime | None) -> PeerUnavailable:
        when = f" until {reopens.isoformat(timespec='seconds')}" if reopens else ""
        return PeerUnavailable(
            f"peer {self.peer!r}: circuit open{when} (last error: {self._health.last_error})",
            message_vi=f"kết nối tới {self.peer!r} đang tạm ngắt do lỗi liên tiếp{when}",
            code=CIRCUIT_OPEN,
            details={"peer": self.peer, "retry_at": reopens.isoformat() if reopens else None},
        )

    def record(self, error: BaseException | None, *, probe: bool = False) -> None:
        """Count the outcome of an admitted call (``None`` = success); ``probe`` as returned by
        :meth:`before_call` (a call admitted earlier, still in flight, is not the probe)."""
        verdict = classify(error)
        now = self._clock.now()
        alert_raised = False
        with self._lock:
            was_probe = probe
            if probe:
                self._probing = False
            h = self._health
            if verdict is Verdict.SUCCESS:
                if h.state == BreakerState.CLOSED and h.consecutive_failures == 0 and not h.alert:
                    changed = self._set(last_success_at=now)
                else:
                    changed = self._set(
                        state=BreakerState.CLOSED.value,
                        consecutive_failures=0,
                        last_success_at=now,
                        alert=None,
                        opened_at=None,
                    )
            elif verdict is Verdict.NEUTRAL:
                if not was_probe:
                    return
                # A probe that ended in a bug proves nothing: open again, probe later.
                changed = self._set(state=BreakerState.OPEN.value, opened_at=now)
            else:
                assert error is not None
                failures = h.consecutive_failures + 1
                opens = (
                    verdict is Verdict.AUTH_REFUSED
                    or was_probe
                    or h.state != BreakerState.CLOSED
                    or failures >= self.policy.failure_threshold
                )
                alert = h.alert
                if verdict is Verdict.AUTH_REFUSED and not alert:
                    alert = _describe(error)
                    alert_raised = True
                changed = self._set(
                    consecutive_failures=failures,
                    last_error=_describe(error),
                    last_error_at=now,
                    alert=alert,
                    **({"state": BreakerState.OPEN.value, "opened_at": now} if opens else {}),
                )
        if alert_raised:
            self._alert(changed)
        self._notify(changed)

    def _set(self, **changes: object) -> PeerHealth:
        self._health = dataclasses.replace(
            self._health,
            updated_at=self._clock.now(),
            **changes,  # type: ignore[arg-type]
        )
        return self._health

    def _alert(self, health: PeerHealth) -> None:
        # Once per refusal episode: a success clears the alert, the next refusal raises it again.
        log.error("peer %s refused this hub's credential: %s", self.peer, health.alert)
        emit(
            "peer_credential_refused",
            "monitoring",
            level=logging.ERROR,
            peer=self.peer,
            kind=health.kind,
            reason=health.alert,
        )

    def _notify(self, health: PeerHealth) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(health)
        except Exception:  # health is a view; it never breaks the call it describes
            log.warning("peer %s: health not recorded", self.peer, exc_info=True)
