"""The IT staff's read model and actions: overview, problem lists, document search, timeline,
the message log and its CSV export, connected systems, the audit log, and redrive.

Theory of operation. Everything here is a read through one short unit of work (never a write
except :meth:`Monitor.redrive` and :meth:`Monitor.discard`, which delegate to
:func:`hub.services.dispatch.redrive` / :func:`~hub.services.dispatch.discard` so the state
machine, the dispatch outbox row and the audit record commit together). The dashboard
(``adapters/http/console/``), ``/metrics`` and the ``lienthong deliveries`` / ``audit``
commands all read through this class, so they agree on every figure.

Hazards:

* :meth:`Monitor.overview` runs one ``GROUP BY`` over ``deliveries``; on a large table that is
  a scan. Callers that poll (``/metrics`` scrapes, a dashboard left open) go through
  :class:`CachedOverview`, which answers from a copy younger than ``ttl_s``.
* Secrets never leave this module: :class:`SystemView` carries no secret column at all.
* Queue depths come from the broker, which is async; they are not read here (see
  :func:`read_queue_depths`, awaited by the async callers).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.delivery import State, describe
from hub.errors import NotFound
from hub.messaging import QUEUES, Broker, QueueStats
from hub.ports import (
    AuditRow,
    Clock,
    DeliveryEvent,
    DeliveryGroup,
    DeliveryRow,
    DocumentRow,
    LogFilter,
    UnitOfWork,
    UnitOfWorkFactory,
)
from hub.routing import Router
from hub.services.activity import (
    AgencyActivity,
    Rates,
    SystemActivity,
    read_rates,
    with_documents,
)
from hub.services.dispatch import DISCARDABLE
from hub.services.dispatch import discard as discard_deliveries
from hub.services.dispatch import redrive as redrive_deliveries
from hub.services.message_log import PAGE_SIZE, LogPage, export_csv, read_page
from hub.services.trace import Trace, build_trace

#: States an IT person has to look at: each has a list page and (dead, undeliverable) a redrive.
PROBLEM_STATES = (State.UNDELIVERABLE, State.DEAD, State.RETRY_WAIT)
#: States that can be redriven (hub.delivery: ``redrive`` leaves only these).
REDRIVABLE = frozenset({State.DEAD.value, State.UNDELIVERABLE.value})
#: States that can be discarded (hub.delivery: ``discard`` leaves only these).
DISCARDABLE_STATES = frozenset(s.value for s in DISCARDABLE)
#: Dead letters: the states IT staff redrive or discard (``lienthong deadletters``).
DEAD_LETTERS = (State.DEAD, State.UNDELIVERABLE)
#: The most rows one read of a state takes when every one is wanted (a filter or "all").
_ALL = 1_000_000
#: States in which a delivery waits for someone (dispatch, the recipient, the next retry).
WAITING = (State.QUEUED, State.AVAILABLE, State.RETRY_WAIT, State.FORWARDING)


@dataclass(frozen=True, slots=True)
class SystemWait:
    """The oldest delivery waiting in one system's inbox (``available``)."""

    system_id: str
    waiting: int
    oldest_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PeerTrouble:
    """A destination (national axis or peer hub) with failing pushes."""

    peer: str  # "national" or the peer hub's name
    retry_wait: int
    dead: int
    oldest_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RouteWait:
    """Deliveries waiting on one route (dispatch, an inbox, a retry, a push in flight)."""

    route: str
    waiting: int
    oldest_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    """The dashboard's first page and the gauges of ``/metrics``."""

    at: dt.datetime
    by_state_route: Mapping[tuple[str, str], int]
    documents_last_hour: int
    documents_last_day: int
    oldest_waiting: Sequence[SystemWait]
    failing_peers: Sequence[PeerTrouble]
    waiting_by_route: Sequence[RouteWait] = ()
    last_pulls: Mapping[str, dt.datetime] = field(default_factory=dict)  # system → last listing

    def by_state(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (state, _route), n in self.by_state_route.items():
            out[state] = out.get(state, 0) + n
        return out


@dataclass(frozen=True, slots=True)
class Backlog:
    """Deliveries waiting (or dead) in one state on one route to one destination."""

    state: str
    route: str
    destination: str | None  # the hosting system (local) or the peer hub (peer routes)
    count: int
    oldest_at: dt.datetime | None  # when the oldest of them was created


@dataclass(frozen=True, slots=True)
class ProblemItem:
    """One delivery in a problem state, with what the list page shows about its document."""

    delivery: DeliveryRow
    subject: str | None
    sender_code: str | None
    sender_system: str | None = None

    @property
    def redrivable(self) -> bool:
        return self.delivery.state in REDRIVABLE

    @property
    def discardable(self) -> bool:
        return self.delivery.state in DISCARDABLE_STATES


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One delivery of a document with its events, oldest first."""

    delivery: DeliveryRow
    state_desc: str
    events: Sequence[DeliveryEvent]


@dataclass(frozen=True, slots=True)
class DocumentView:
    """A document's timeline: its header facts, verdicts, problems and every delivery."""

    document: DocumentRow
    deliveries: Sequence[DeliveryView]
    related: Sequence[DocumentRow]  # what it is about, then revokes/updates/statuses about it


@dataclass(frozen=True, slots=True)
class SystemView:
    """A connected system as IT staff see it (no secret, encrypted or not)."""

    id: str
    name: str
    enabled: bool
    agencies: tuple[str, ...]
    max_age_s: int
    created_at: dt.datetime
    last_seen: dt.datetime | None
    last_pull: dt.datetime | None = None  # its last inbox listing (``systems.last_pull_at``)


class Monitor:
    """The read model and the IT actions (see the module docstring)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        wake_outbox: Callable[[], None] | None = None,
        routing: Callable[[], Callable[[UnitOfWork], Router]] | None = None,
    ) -> None:
        """``routing`` returns a router factory for a redrive to compute routes again; it is
        called BEFORE the redrive's transaction (fetching the registry may open a unit of work
        of its own, which inside SQLite's write lock would wait out the busy timeout)."""
        self._uow = uow
        self._clock = clock
        self._wake = wake_outbox
        self._routing = routing

    # ------------------------------------------------------------------------ overview

    def overview(self) -> Overview:
        now = self._clock.now()
        with self._uow() as uow:
            groups = uow.deliveries.summary()
            last_hour = uow.documents.count_since(now - dt.timedelta(hours=1))
            last_day = uow.documents.count_since(now - dt.timedelta(days=1))
            pulls = dict(uow.activity.last_pulls())
        return Overview(
            at=now,
            by_state_route=_by_state_route(groups),
            documents_last_hour=last_hour,
            documents_last_day=last_day,
            oldest_waiting=_oldest_waiting(groups),
            failing_peers=_failing_peers(groups),
            waiting_by_route=_waiting_by_route(groups),
            last_pulls=pulls,
        )

    def rates(self, span: str) -> Rates:
        """Received / delivered / refused / failed per bucket over ``span`` (``hour``, ``day``,
        ``week``; :mod:`hub.services.activity`). ``ValueError`` for another span."""
        now = self._clock.now()
        with self._uow() as uow:
            return read_rates(uow, span, now)

    def system_activity(self, system_id: str, *, limit: int = 50) -> SystemActivity:
        """One system's inbox, counts, last pull and newest deliveries; :class:`NotFound`
        when there is no such system."""
        with self._uow() as uow:
            row = uow.systems.get(system_id)
            if row is None:
                raise NotFound(
                    f"no system {system_id}",
                    message_vi=f"không có hệ thống {system_id}",
                    code="system.unknown",
                )
            oldest, fetched = uow.activity.system_times(system_id)
            recent = uow.activity.recent_deliveries(system_id=system_id, limit=limit)
            return SystemActivity(
                row.id,
                row.name,
                row.enabled,
                uow.systems.agencies(system_id),
                uow.activity.system_states(system_id),
                uow.activity.sent_count(system_id),
                oldest,
                uow.activity.last_pulls().get(system_id),
                fetched,
                with_documents(uow, recent),
                self._clock.now(),
            )

    def agency_activity(self, code: str, *, limit: int = 50) -> AgencyActivity:
        """The newest deliveries addressed to ``code`` (as addressed or resolved), its registry
        record and hosting system (either may be absent: the page says so)."""
        with self._uow() as uow:
            recent = uow.activity.recent_deliveries(recipient_code=code, limit=limit)
            return AgencyActivity(
                code,
                uow.agencies.get(code),
                uow.systems.hosting().get(code),
                with_documents(uow, recent),
            )

    def backlog(self) -> tuple[dt.datetime, list[Backlog]]:
        """(now, what waits per state, route and destination — dispatch, the recipient, the
        next retry — and the dead letters), ordered by route, destination, state."""
        now = self._clock.now()
        shown = {s.value for s in (*WAITING, *DEAD_LETTERS)}
        with self._uow() as uow:
            groups = uow.deliveries.summary()
        merged: dict[tuple[str, str, str | None], Backlog] = {}
        for g in groups:
            if g.state not in shown:
                continue
            key = (g.state, g.route, g.system_id or g.peer_name)
            prev = merged.get(key)
            oldest = g.oldest_created_at
            if prev is not None:
                count = prev.count + g.count
                if prev.oldest_at is not None:
                    oldest = min(prev.oldest_at, oldest) if oldest else prev.oldest_at
            else:
                count = g.count
            merged[key] = Backlog(g.state, g.route, key[2], count, oldest)
        rows = sorted(merged.values(), key=lambda b: (b.route, b.destination or "", b.state))
        return now, rows

    # -------------------------------------------------------------------------- lists

    def deliveries(self, state: str, *, limit: int = 100) -> list[ProblemItem]:
        """Deliveries in ``state``, longest unchanged first, with their document's subject."""
        State(state)  # an unknown state is a caller's mistake: ValueError
        with self._uow() as uow:
            return _problem_items(uow, uow.deliveries.in_state(state, limit=limit))

    def dead_letters(
        self, *, system: str | None = None, peer: str | None = None, limit: int | None = 100
    ) -> list[ProblemItem]:
        """Dead and undeliverable deliveries, longest unchanged first; ``system``: only those
        pushed by that sending system; ``peer``: only those bound for that peer hub (``national``:
        the axis, ``none``: no route); ``limit=None``: all of them.

        Hazard: the filters are applied here, over every dead letter read (the tables have no
        index for them); fine for the tens of thousands a bad day leaves, not for millions.
        """
        filtered = system is not None or peer is not None
        take = _ALL if filtered or limit is None else limit
        with self._uow() as uow:
            rows = [d for s in DEAD_LETTERS for d in uow.deliveries.in_state(s, limit=take)]
            rows.sort(key=lambda d: (d.updated_at, d.id))
            if peer is not None:
                rows = [d for d in rows if (d.peer_name or d.route) == peer]
            if system is None and limit is not None:
                rows = rows[:limit]  # no document needed to filter: read only those shown
            items = _problem_items(uow, rows)
        if system is not None:
            items = [i for i in items if i.sender_system == system]
        return items if limit is None else items[:limit]

    def search(self, term: str, *, limit: int = 50) -> list[DocumentRow]:
        """Documents by DocId, edXML DocumentId, sender code or sender system (exact)."""
        term = term.strip()
        if not term:
            return []
        with self._uow() as uow:
            found = list(uow.documents.search(term, limit=limit))
            if not found:
                # A receiver's delivery id (its VXP docId) leads to the document too.
                d = uow.deliveries.get(term)
                doc = uow.documents.get(d.doc_id) if d is not None else None
                found = [doc] if doc is not None else []
        return found

    def document(self, doc_id: str) -> DocumentView:
        """The timeline of one document; :class:`NotFound` when there is none."""
        with self._uow() as uow:
            doc = uow.documents.get(doc_id)
            if doc is None:
                raise NotFound(
                    f"no document {doc_id}",
                    message_vi=f"không có văn bản {doc_id}",
                    code="document.unknown",
                )
            views = [
                DeliveryView(d, describe(d.state), tuple(uow.deliveries.events(d.id)))
                for d in uow.deliveries.for_document(doc_id)
            ]
            related: list[DocumentRow] = []
            if doc.related_doc_id:
                about = uow.documents.get(doc.related_doc_id)
                if about is not None:
                    related.append(about)
            related += uow.documents.related_to(doc_id)
        return DocumentView(doc, views, related)

    def log(
        self, where: LogFilter, *, cursor: str | None = None, limit: int = PAGE_SIZE
    ) -> LogPage:
        """One page of the message log (:mod:`hub.services.message_log`)."""
        return read_page(self._uow, where, cursor=cursor, limit=limit)

    def log_csv(self, where: LogFilter) -> Iterator[bytes]:
        """The message log under ``where`` as streamed CSV (BOM, header, rows)."""
        return export_csv(self._uow, where)

    def trace(self, term: str) -> list[Trace]:
        """The timeline of every document ``term`` names — the hub's DocId, an edXML
        DocumentId (one per sending system that used it) or a receiver's delivery id —
        oldest first; :class:`NotFound` when it names none."""
        term = term.strip()
        with self._uow() as uow:
            docs = [d for d in uow.documents.search(term) if term in (d.id, d.document_id)]
            if not docs:
                delivery = uow.deliveries.get(term) if term else None
                doc = uow.documents.get(delivery.doc_id) if delivery is not None else None
                docs = [doc] if doc is not None else []
            if not docs:
                raise NotFound(
                    f"no document or delivery {term!r}",
                    message_vi=f"không có văn bản hay bản chuyển {term!r}",
                    code="document.unknown",
                )
            traces = []
            for doc in sorted(docs, key=lambda d: (d.received_at, d.id)):
                about = uow.documents.get(doc.related_doc_id) if doc.related_doc_id else None
                traces.append(
                    build_trace(
                        doc,
                        origin=uow.inbound.for_document(doc.id),
                        deliveries=[
                            (d, uow.deliveries.events(d.id))
                            for d in uow.deliveries.for_document(doc.id)
                        ],
                        about=about,
                        related=uow.documents.related_to(doc.id),
                    )
                )
        return traces

    def systems(self) -> list[SystemView]:
        with self._uow() as uow:
            seen = uow.systems.last_activity()
            pulls = uow.activity.last_pulls()
            return [
                SystemView(
                    s.id,
                    s.name,
                    s.enabled,
                    uow.systems.agencies(s.id),
                    s.max_age_s,
                    s.created_at,
                    seen.get(s.id),
                    pulls.get(s.id),
                )
                for s in uow.systems.list()
            ]

    def audit(
        self, *, actor: str | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditRow]:
        """The audit log, newest first; ``actor`` / ``action`` filter by prefix."""
        with self._uow() as uow:
            return list(uow.audit.recent(actor=actor or None, action=action or None, limit=limit))

    # ------------------------------------------------------------------------- actions

    def redrive(self, delivery_ids: Sequence[str], *, actor: str) -> list[str]:
        """Put dead / undeliverable deliveries back to ``queued`` (routes computed again when a
        router is configured), queue their dispatch, audit it; return the ids moved."""
        router_for = self._routing() if self._routing is not None else None
        return redrive_deliveries(
            self._uow,
            self._clock,
            list(delivery_ids),
            actor=actor,
            wake_outbox=self._wake,
            router_for=router_for,
        )

    def discard(self, delivery_ids: Sequence[str], *, reason: str, actor: str) -> list[str]:
        """Give dead / undeliverable / retry_wait deliveries up for good (``discarded``) with a
        required, non-empty ``reason`` (kept with the delivery, shown to the sender, audited);
        return the ids moved. :class:`hub.errors.InvalidRequest` for an empty reason."""
        return discard_deliveries(
            self._uow, self._clock, list(delivery_ids), reason=reason, actor=actor
        )

    def record(
        self, actor: str, action: str, subject: str | None, outcome: str = "ok", **details: Any
    ) -> None:
        """Append an IT action (login, refused form…) to the audit log in its own transaction."""
        with self._uow() as uow:
            uow.audit.append(AuditRow(self._clock.now(), actor, action, subject, outcome, details))
            uow.commit()


class CachedOverview:
    """:meth:`Monitor.overview` answered from a copy younger than ``ttl_s`` (thread-safe)."""

    def __init__(self, monitor: Monitor, ttl_s: float = 5.0) -> None:
        self._monitor = monitor
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._value: Overview | None = None
        self._taken = 0.0

    def get(self) -> Overview:
        with self._lock:
            if self._value is None or time.monotonic() - self._taken > self._ttl:
                self._value = self._monitor.overview()
                self._taken = time.monotonic()
            return self._value


class CachedRates:
    """:meth:`Monitor.rates` per span, answered from a copy younger than ``ttl_s`` (several
    operators watching the overview share one read; thread-safe)."""

    def __init__(self, monitor: Monitor, ttl_s: float = 5.0) -> None:
        self._monitor = monitor
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, Rates]] = {}

    def get(self, span: str) -> Rates:
        with self._lock:
            held = self._values.get(span)
            if held is None or time.monotonic() - held[0] > self._ttl:
                held = (time.monotonic(), self._monitor.rates(span))
                self._values[span] = held
            return held[1]


@dataclass(frozen=True, slots=True)
class QueueDepths:
    """Depths of every hub queue, or why they could not be read."""

    stats: Sequence[QueueStats] = field(default_factory=tuple)
    error: str | None = None


async def read_queue_depths(broker: Broker) -> QueueDepths:
    """Every hub queue's depths; a broker that does not answer is reported, not raised."""
    try:
        return QueueDepths(tuple([await broker.stats(q) for q in QUEUES]))
    except Exception as exc:  # an unreachable broker is a figure on the page, not a 500
        return QueueDepths((), f"{type(exc).__name__}: {str(exc)[:200]}")


# ------------------------------------------------------------------------------ helpers


def _problem_items(uow: UnitOfWork, rows: Sequence[DeliveryRow]) -> list[ProblemItem]:
    """``rows`` with their document's subject and sender (each document read once)."""
    docs: dict[str, DocumentRow | None] = {}
    for d in rows:
        if d.doc_id not in docs:
            docs[d.doc_id] = uow.documents.get(d.doc_id)
    items = []
    for d in rows:
        doc = docs[d.doc_id]
        items.append(
            ProblemItem(
                d,
                doc.subject if doc is not None else None,
                doc.sender_code if doc is not None else None,
                doc.sender_system if doc is not None else None,
            )
        )
    return items


def _by_state_route(groups: Sequence[DeliveryGroup]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for g in groups:
        out[(g.state, g.route)] = out.get((g.state, g.route), 0) + g.count
    return out


def _oldest_waiting(groups: Sequence[DeliveryGroup]) -> list[SystemWait]:
    waits: dict[str, SystemWait] = {}
    for g in groups:
        if g.state != State.AVAILABLE or g.system_id is None or g.oldest_created_at is None:
            continue
        prev = waits.get(g.system_id)
        if prev is None:
            waits[g.system_id] = SystemWait(g.system_id, g.count, g.oldest_created_at)
        else:
            waits[g.system_id] = SystemWait(
                g.system_id, prev.waiting + g.count, min(prev.oldest_at, g.oldest_created_at)
            )
    return sorted(waits.values(), key=lambda w: w.oldest_at)


def _waiting_by_route(groups: Sequence[DeliveryGroup]) -> list[RouteWait]:
    waiting = {s.value for s in WAITING}
    routes: dict[str, RouteWait] = {}
    for g in groups:
        if g.state not in waiting:
            continue
        prev = routes.get(g.route) or RouteWait(g.route, 0, None)
        oldest = g.oldest_created_at
        if prev.oldest_at is not None and oldest is not None:
            oldest = min(prev.oldest_at, oldest)
        routes[g.route] = RouteWait(g.route, prev.waiting + g.count, oldest or prev.oldest_at)
    return sorted(routes.values(), key=lambda r: r.route)


def _failing_peers(groups: Sequence[DeliveryGroup]) -> list[PeerTrouble]:
    peers: dict[str, PeerTrouble] = {}
    for g in groups:
        if g.state not in (State.RETRY_WAIT, State.DEAD):
            continue
        name = g.peer_name or g.route
        prev = peers.get(name) or PeerTrouble(name, 0, 0, None)
        oldest = g.oldest_updated_at
        if prev.oldest_at is not None and oldest is not None:
            oldest = min(prev.oldest_at, oldest)
        peers[name] = dataclasses.replace(
            prev,
            retry_wait=prev.retry_wait + (g.count if g.state == State.RETRY_WAIT else 0),
            dead=prev.dead + (g.count if g.state == State.DEAD else 0),
            oldest_at=oldest or prev.oldest_at,
        )
    return sorted(peers.values(), key=lambda p: p.peer)
