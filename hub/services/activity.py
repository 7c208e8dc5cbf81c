"""The console's figures over time and per system / agency: what :class:`Monitor` adds to the
overview so IT staff can answer "is it flowing?" and "why has the commune not received it?".

Theory of operation. A *rate* is a count per time bucket over a window ending now:

========  ==============================  =====================================================
span      buckets                         counted from
========  ==============================  =====================================================
hour      60 × 1 minute                   ``received``: documents accepted (``received_at``)
day       24 × 1 hour                     ``delivered``: a delivery moved INTO ``fetched`` (the
week      28 × 6 hours                    recipient system took it) or ``forwarded`` (the next
                                          hub accepted it)
                                          ``refused``: pushes and inbound items refused at
                                          intake (audit rows ``push`` / ``inbound`` not ``ok``)
                                          ``failed``: a delivery moved INTO ``dead`` or
                                          ``undeliverable``
========  ==============================  =====================================================

Buckets are aligned on multiples of their width (a minute, an hour, six hours since the epoch),
so the last bucket is the one now falls in and two readings a few seconds apart agree. A
delivery fetched, failed by its recipient and fetched again counts twice in ``delivered``: the
rate is of hand-overs, not of distinct deliveries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hub.delivery import State
from hub.ports import AgencyRow, Buckets, DeliveryRow, DocumentRow, UnitOfWork

#: span name → (bucket width in seconds, number of buckets).
SPANS: Mapping[str, tuple[int, int]] = {
    "hour": (60, 60),
    "day": (3600, 24),
    "week": (6 * 3600, 28),
}
#: The series of a rate chart, in the order they are drawn.
SERIES = ("received", "delivered", "refused", "failed")
DELIVERED_STATES = (State.FETCHED.value, State.FORWARDED.value)
FAILED_STATES = (State.DEAD.value, State.UNDELIVERABLE.value)
#: Audit actions whose refusals are refused packages (intake and inbound from peers).
REFUSAL_ACTIONS = ("push", "inbound")
#: A system that has not listed its inbox for this long while items wait is "not polling".
STALE = dt.timedelta(minutes=10)
#: States of a delivery its recipient system has taken.
TAKEN_STATES = (State.FETCHED.value, State.DONE.value)


def window(span: str, now: dt.datetime) -> Buckets:
    """The buckets of ``span`` ending with the one ``now`` falls in; ``ValueError`` for an
    unknown span."""
    if span not in SPANS:
        raise ValueError(f"unknown span {span!r}; one of {', '.join(SPANS)}")
    width, count = SPANS[span]
    epoch = int(now.timestamp())
    end = (epoch // width + 1) * width
    return Buckets(dt.datetime.fromtimestamp(end - width * count, dt.UTC), width, count)


@dataclass(frozen=True, slots=True)
class Rates:
    """Counts per bucket of each series (:data:`SERIES`) over one window."""

    span: str
    window: Buckets
    series: Mapping[str, Sequence[int]]

    def total(self, name: str) -> int:
        return sum(self.series[name])


def read_rates(uow: UnitOfWork, span: str, now: dt.datetime) -> Rates:
    w = window(span, now)
    a = uow.activity
    return Rates(
        span,
        w,
        {
            "received": a.received(w),
            "delivered": a.transitions(DELIVERED_STATES, w),
            "refused": a.refusals(REFUSAL_ACTIONS, w),
            "failed": a.transitions(FAILED_STATES, w),
        },
    )


@dataclass(frozen=True, slots=True)
class RecentDelivery:
    """A delivery on a system or agency page, with its document (``None`` if gone)."""

    delivery: DeliveryRow
    document: DocumentRow | None


@dataclass(frozen=True, slots=True)
class SystemActivity:
    """One connected system as the console's system page shows it."""

    system_id: str
    name: str
    enabled: bool
    agencies: tuple[str, ...]
    by_state: Mapping[str, int]  # deliveries it hosts
    sent: int  # documents it pushed
    oldest_waiting_at: dt.datetime | None  # oldest ``available`` delivery in its inbox
    last_pull_at: dt.datetime | None  # its last inbox listing
    last_fetch_at: dt.datetime | None  # its last fetch (or push: the systems page's figure)
    recent: Sequence[RecentDelivery]
    at: dt.datetime  # when these figures were read

    @property
    def waiting(self) -> int:
        return self.by_state.get(State.AVAILABLE.value, 0)

    @property
    def received(self) -> int:
        """Deliveries it has taken (fetched or acknowledged done)."""
        return sum(self.by_state.get(s, 0) for s in TAKEN_STATES)

    @property
    def diagnosis(self) -> str | None:
        """Why its inbox is not emptying, first cause first: ``disabled`` (the hub refuses
        it), ``not_polling`` (items wait and it has not listed its inbox for :data:`STALE`),
        ``not_fetching`` (it lists, but an item has waited longer than :data:`STALE`);
        ``None`` when nothing is amiss."""
        if not self.enabled:
            return "disabled"
        if self.waiting == 0:
            return None
        if self.last_pull_at is None or self.at - self.last_pull_at > STALE:
            return "not_polling"
        if self.oldest_waiting_at is not None and self.at - self.oldest_waiting_at > STALE:
            return "not_fetching"
        return None


@dataclass(frozen=True, slots=True)
class AgencyActivity:
    """One agency code as the console's agency page shows it."""

    code: str
    agency: AgencyRow | None  # None: not in the registry
    system_id: str | None  # the system hosting it here, if any
    recent: Sequence[RecentDelivery]


def with_documents(uow: UnitOfWork, rows: Sequence[DeliveryRow]) -> list[RecentDelivery]:
    docs: dict[str, DocumentRow | None] = {}
    for d in rows:
        if d.doc_id not in docs:
            docs[d.doc_id] = uow.documents.get(d.doc_id)
    return [RecentDelivery(d, docs[d.doc_id]) for d in rows]


# ---------------------------------------------------------------- certificates and storage


@dataclass(frozen=True, slots=True)
class CertificateFact:
    """A certificate the hub relies on and when it expires (no key material, no secret)."""

    role: str  # "anchor" (a trust anchor), "seal" (an agency seal key), "receipt" (evidence)
    name: str  # the bundle's path, or the agency code / key reference
    subject: str | None
    not_after: dt.datetime | None
    problem: str | None = None  # why it could not be read ("code: message")


@dataclass(frozen=True, slots=True)
class StorageFact:
    """Room left on the data directory's file system and the database's size."""

    data_dir: str
    disk_free: int | None
    disk_total: int | None
    database_kind: str  # "postgresql" | "sqlite"
    database_bytes: int | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ConsoleFacts:
    """What the overview shows about the hub's own installation."""

    certificates: Sequence[CertificateFact] = ()
    storage: StorageFact | None = None
