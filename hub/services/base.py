"""What every hub service shares: its configuration value, its dependencies, and small helpers.

Contract: :class:`HubConfig` is the frozen subset of :class:`hub.settings.Settings` the services
use (they never read settings themselves); :class:`Deps` bundles the ports. Both are built once
by the composition root. Helpers here write audit rows and outbox messages *inside* the caller's
unit of work, so they commit with the work they describe.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.agency.codes import lookup_key
from hub.agency.registry import Registry
from hub.edxml.model import VN_TZ
from hub.errors import HubError
from hub.messaging import DISPATCH_QUEUE, RetryPolicy
from hub.policy import PolicyBook
from hub.ports import (
    AuditRow,
    BlobStore,
    Clock,
    NullVerifier,
    SignatureVerifier,
    SystemClock,
    UnitOfWork,
    UnitOfWorkFactory,
)
from hub.routing import PeerHub, Router, Scope
from hub.settings import Settings


@dataclass(frozen=True, slots=True)
class HubConfig:
    """The settings the services act on."""

    organ_id: str
    """This hub's agency code (its TraceHeader)."""
    scope: Scope = field(default_factory=Scope)
    peers: tuple[PeerHub, ...] = ()
    policy: PolicyBook = field(default_factory=PolicyBook)
    max_package_bytes: int = 50 * 1024 * 1024
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    default_max_age_s: int = 300
    inbox_page: int = 200
    """At most this many items per inbox listing, oldest first (the client polls again)."""
    intake_batch: int = 64
    """At most this many concurrent pushes in one writing transaction (group commit)."""
    intake_lanes: int = 8
    """How many such transactions may be written at once (each on its own connection)."""
    systems_cache_ttl_s: float = 1.0
    """How long the push path reuses a system's enabled flag, its hosted agencies and the
    hosting map (0 reads the store on every push). Changes made through this process's
    services clear the cache at once; another process's (``lienthong systems …``) are seen
    within this interval — the façade reuses credentials just as long."""

    @classmethod
    def from_settings(cls, settings: Settings) -> HubConfig:
        return cls(
            organ_id=settings.organ_id,
            scope=settings.scope,
            peers=tuple(p.as_peer() for p in settings.peers),
            policy=settings.policy,
            max_package_bytes=settings.max_package_bytes,
            retry=settings.retry,
            default_max_age_s=settings.max_age_s,
            inbox_page=settings.inbox_page,
            intake_batch=settings.intake_batch,
            intake_lanes=settings.intake_lanes,
        )


def registry_provider(settings: Settings) -> Callable[[], Registry]:
    """Load the configured registry once (``registry.source``, else the shipped sample) and
    return a provider for :attr:`Deps.registry`. A file that does not load fails here, at
    start-up, with the loader's :class:`hub.errors.InternalError`."""
    from hub.agency.loading import load_registry, load_sample_registry

    source = settings.registry_source
    loaded = load_registry(source) if source is not None else load_sample_registry()
    return lambda: loaded


def _no_wake() -> None:
    return None


@dataclass(frozen=True, slots=True)
class SystemAccess:
    """What the push path needs to know about a sending system."""

    system_id: str
    hosted: frozenset[str]
    """The :func:`hub.agency.codes.lookup_key` of every agency it hosts."""


class SystemsCache:
    """Short-lived copies of the systems table for the push path (PERFORMANCE.md: no store
    read for what rarely changes).

    Thread-safe by construction: entries are immutable values swapped in by one assignment.
    Only *enabled* systems are kept: an unknown or disabled system is read again on every push,
    so enabling one takes effect at once, and disabling one within ``ttl`` (or at once when done
    through this process's services, which call :meth:`clear`).
    """

    def __init__(self) -> None:
        self._systems: dict[str, tuple[float, SystemAccess]] = {}
        self._hosting: tuple[float, Mapping[str, str]] | None = None

    def system(self, uow: UnitOfWork, system_id: str, ttl: float) -> SystemAccess | None:
        """The enabled system ``system_id``, or ``None`` when unknown or disabled."""
        now = time.monotonic()
        hit = self._systems.get(system_id)
        if ttl > 0 and hit is not None and hit[0] > now:
            return hit[1]
        row = uow.systems.get(system_id)
        if row is None or not row.enabled:
            self._systems.pop(system_id, None)
            return None
        access = SystemAccess(
            system_id, frozenset(lookup_key(c) for c in uow.systems.agencies(system_id))
        )
        if ttl > 0:
            self._systems[system_id] = (now + ttl, access)
        return access

    def hosting(self, uow: UnitOfWork, ttl: float) -> Mapping[str, str]:
        """Every hosted agency code → its system (``SystemRepository.hosting``)."""
        now = time.monotonic()
        hit = self._hosting
        if ttl > 0 and hit is not None and hit[0] > now:
            return hit[1]
        hosting = dict(uow.systems.hosting())
        if ttl > 0:
            self._hosting = (now + ttl, hosting)
        return hosting

    def clear(self) -> None:
        """Forget everything (a system or its agencies changed)."""
        self._systems = {}
        self._hosting = None


@dataclass(frozen=True, slots=True)
class Deps:
    """The ports a service works through."""

    uow: UnitOfWorkFactory
    blobs: BlobStore
    registry: Callable[[], Registry]
    """The current agency registry (the composition root may reload it)."""
    clock: Clock = field(default_factory=SystemClock)
    verifier: SignatureVerifier = field(default_factory=NullVerifier)
    wake_outbox: Callable[[], None] = _no_wake
    """Called after a commit that stored outbox rows (the relay's thread-safe ``wake``)."""
    systems: SystemsCache = field(default_factory=SystemsCache)
    """The push path's short-lived copy of the systems table (see :class:`SystemsCache`)."""
    reader: UnitOfWorkFactory | None = None
    """Units of work for reads alone (``None``: :attr:`uow`). On SQLite the composition root
    gives a ``DEFERRED`` transaction here, so a read never queues for the write lock behind the
    pushes (``adapters.store.write_gate``); writing through one is a mistake SQLite refuses."""

    stepper: UnitOfWorkFactory | None = None
    """Units of work that read, then write at most one statement that is atomic by itself (a
    delivery's compare-and-set step with its event and audit row), or ``None``: :attr:`uow`.
    On PostgreSQL the composition root gives units outside a transaction here: no ``BEGIN``
    and ``COMMIT`` round trips. The store refuses a second write through one (its first is
    already committed), so a caller that may need two steps takes :attr:`uow`."""

    def read(self) -> UnitOfWork:
        """A unit of work for reads alone (see :attr:`reader`)."""
        return (self.reader or self.uow)()

    def step(self) -> UnitOfWork:
        """A unit of work for one atomic write after reads (see :attr:`stepper`)."""
        return (self.stepper or self.uow)()


def new_id() -> str:
    return str(uuid.uuid4())


def today_vn(now: dt.datetime) -> dt.date:
    """The day in Vietnam (the registry's validity dates are Vietnamese calendar days)."""
    return now.astimezone(VN_TZ).date()


def router(
    deps: Deps,
    config: HubConfig,
    uow: UnitOfWork,
    registry: Registry | None = None,
    *,
    cached: bool = False,
) -> Router:
    """The routing rules over the current registry and the systems connected now.

    ``cached``: take the hosting map from :attr:`Deps.systems` (at most
    ``config.systems_cache_ttl_s`` old; the push path). Otherwise it is read in ``uow`` (a
    redrive after IT connected a system must see that system).

    Hazard: ``deps.registry()`` may refresh from the store in a unit of work of its own. Called
    inside ``uow``, that is a second transaction while this one holds SQLite's write lock
    (``BEGIN IMMEDIATE``): it waits out the busy timeout and the refresh fails. Callers holding
    a write transaction pass ``registry``, fetched before the transaction began.
    """
    current = registry if registry is not None else deps.registry()
    ttl = config.systems_cache_ttl_s if cached else 0.0
    hosting = deps.systems.hosting(uow, ttl)
    return Router(current, hosting, config.scope, config.peers)


def audit(
    uow: UnitOfWork,
    at: dt.datetime,
    actor: str,
    action: str,
    subject: str | None,
    outcome: str = "ok",
    **details: Any,
) -> None:
    uow.audit.append(AuditRow(at, actor, action, subject, outcome, details))


def audit_row(
    at: dt.datetime, actor: str, action: str, subject: str | None, **details: Any
) -> AuditRow:
    """The audit row of work that succeeded, for a repository that writes it with the work
    itself (:func:`hub.delivery.advance` with ``audit=``)."""
    return AuditRow(at, actor, action, subject, "ok", details)


def audit_refusal(
    deps: Deps, actor: str, action: str, subject: str | None, error: HubError, **details: Any
) -> None:
    """Record a refusal in its own transaction (the refused work itself rolled back)."""
    with deps.uow() as uow:
        audit(
            uow,
            deps.clock.now(),
            actor,
            action,
            subject,
            error.code,
            message=error.message_en,
            **details,
        )
        uow.commit()


def enqueue_dispatch(uow: UnitOfWork, delivery_ids: Sequence[str], at: dt.datetime) -> None:
    """One outbox row asking the dispatch worker to move ``delivery_ids`` on."""
    if delivery_ids:
        body = json.dumps({"delivery_ids": list(delivery_ids)}).encode()
        uow.outbox.add(DISPATCH_QUEUE, body, at)


def message_ids(body: bytes) -> list[str]:
    """The delivery ids a work message carries (``delivery_id`` or ``delivery_ids``)."""
    data = json.loads(body)
    ids = data.get("delivery_ids") or []
    if data.get("delivery_id"):
        ids = [data["delivery_id"], *ids]
    return [str(i) for i in ids]
