"""The guard around a peer: every call to any of its ports passes its circuit breaker.

Theory of operation. :func:`guard` takes a :class:`hub.ports.Peer` of any kind and returns the
same peer with each capability (link, inbox, tracker, directory — and the directory's optional
:class:`hub.ports.PeerDirectoryDetails`) wrapped so that a call

1. asks the peer's :class:`hub.circuit.CircuitBreaker` for admission — while the breaker is
   open it fails fast with :class:`hub.errors.PeerUnavailable` (``peer.circuit_open``) and the
   network is not touched;
2. runs the real call;
3. reports the outcome to the breaker, which keeps the peer's health and hands each change to
   :class:`HealthRecorder` (the table every process reads).

The services never see the guard: the forward handler, the inbound poller and the registry sync
call ports as before. The composition root applies :func:`guard` to whatever peers it builds,
so one breaker covers every direction of traffic to a peer (a peer whose inbox listing fails
also stops receiving pushes for a cool-down, and the reverse).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from hub.circuit import BreakerPolicy, CircuitBreaker
from hub.edxml.model import MessageKind
from hub.ports import (
    AgencyRow,
    Clock,
    Peer,
    PeerDirectory,
    PeerDirectoryDetails,
    PeerHealth,
    PeerHealthStore,
    PeerInbox,
    PeerLink,
    PeerTracker,
    RemoteDeliveryState,
    RemoteItem,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class HealthRecorder:
    """``on_change`` of a breaker: persist health changes, and successes at most every
    ``success_interval_s`` (a write per successful push would double the forward's writes)."""

    def __init__(self, store: PeerHealthStore, *, success_interval_s: float = 30.0) -> None:
        self._store = store
        self._interval = dt.timedelta(seconds=success_interval_s)
        self._written: dict[str, PeerHealth] = {}

    def __call__(self, health: PeerHealth) -> None:
        last = self._written.get(health.name)
        if (
            last is not None
            and _only_success_moved(last, health)
            and (
                health.last_success_at is None
                or last.last_success_at is None
                or health.last_success_at - last.last_success_at < self._interval
            )
        ):
            return
        self._store.save_link(health)
        self._written[health.name] = health


def _only_success_moved(before: PeerHealth, after: PeerHealth) -> bool:
    same = dataclasses.replace(
        after, last_success_at=before.last_success_at, updated_at=before.updated_at
    )
    return same == before


class _Guarded:
    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker

    def _call(self, fn: Callable[[], T]) -> T:
        probe = self._breaker.before_call()
        try:
            result = fn()
        except BaseException as exc:
            self._breaker.record(exc, probe=probe)
            raise
        self._breaker.record(None, probe=probe)
        return result


class GuardedLink(_Guarded):
    """:class:`hub.ports.PeerLink` through a breaker."""

    def __init__(self, inner: PeerLink, breaker: CircuitBreaker) -> None:
        super().__init__(breaker)
        self.inner = inner

    def send(
        self, data: bytes, *, from_code: str, to_codes: Sequence[str], kind: MessageKind
    ) -> str:
        return self._call(
            lambda: self.inner.send(data, from_code=from_code, to_codes=to_codes, kind=kind)
        )


class GuardedInbox(_Guarded):
    """:class:`hub.ports.PeerInbox` through a breaker."""

    def __init__(self, inner: PeerInbox, breaker: CircuitBreaker) -> None:
        super().__init__(breaker)
        self.inner = inner

    def pending(self, kind: MessageKind, *, limit: int = 100) -> Sequence[RemoteItem]:
        return self._call(lambda: self.inner.pending(kind, limit=limit))

    def fetch(self, item: RemoteItem) -> bytes:
        return self._call(lambda: self.inner.fetch(item))

    def acknowledge(self, item: RemoteItem, *, accepted: bool, reason: str | None = None) -> None:
        self._call(lambda: self.inner.acknowledge(item, accepted=accepted, reason=reason))


class GuardedTracker(_Guarded):
    """:class:`hub.ports.PeerTracker` through a breaker."""

    def __init__(self, inner: PeerTracker, breaker: CircuitBreaker) -> None:
        super().__init__(breaker)
        self.inner = inner

    def delivery_states(self, remote_id: str) -> Sequence[RemoteDeliveryState]:
        return self._call(lambda: self.inner.delivery_states(remote_id))


class GuardedDirectory(_Guarded):
    """:class:`hub.ports.PeerDirectory` through a breaker."""

    def __init__(self, inner: PeerDirectory, breaker: CircuitBreaker) -> None:
        super().__init__(breaker)
        self.inner = inner

    def agencies(self) -> Sequence[AgencyRow]:
        return self._call(self.inner.agencies)

    def register(self, agency: AgencyRow) -> None:
        self._call(lambda: self.inner.register(agency))

    def delete(self, code: str) -> None:
        self._call(lambda: self.inner.delete(code))


class GuardedDirectoryDetails(GuardedDirectory):
    """A guarded directory that also offers :class:`hub.ports.PeerDirectoryDetails`."""

    def __init__(self, inner: PeerDirectory, breaker: CircuitBreaker) -> None:
        super().__init__(inner, breaker)
        assert isinstance(inner, PeerDirectoryDetails)
        self._details: PeerDirectoryDetails = inner

    def agencies_qd20(self) -> Sequence[AgencyRow]:
        return self._call(self._details.agencies_qd20)

    def agency_changes(self) -> Sequence[AgencyRow]:
        return self._call(self._details.agency_changes)


def guard(
    peer: Peer,
    policy: BreakerPolicy,
    *,
    clock: Clock,
    health: PeerHealthStore | None = None,
    breaker: CircuitBreaker | None = None,
) -> Peer:
    """``peer`` with every port behind one circuit breaker (see the module docstring).

    ``health``: where the breaker's view is persisted (``None``: kept in memory only).
    ``breaker``: supply one to inspect it (tests); by default one is made from ``policy``.
    """
    if breaker is None:
        on_change = HealthRecorder(health) if health is not None else None
        breaker = CircuitBreaker(peer.name, peer.kind, policy, clock, on_change=on_change)
    directory: PeerDirectory | None = None
    if peer.directory is not None:
        if isinstance(peer.directory, PeerDirectoryDetails):
            directory = GuardedDirectoryDetails(peer.directory, breaker)
        else:
            directory = GuardedDirectory(peer.directory, breaker)
    return dataclasses.replace(
        peer,
        link=GuardedLink(peer.link, breaker),
        inbox=GuardedInbox(peer.inbox, breaker) if peer.inbox is not None else None,
        tracker=GuardedTracker(peer.tracker, breaker) if peer.tracker is not None else None,
        directory=directory,
    )


def breaker_of(peer: Peer) -> CircuitBreaker | None:
    """The breaker a guarded peer's link reports to (``None`` for an unguarded peer)."""
    link = peer.link
    return link._breaker if isinstance(link, GuardedLink) else None
