"""The delivery state machine: the one table of legal state changes of a recipient's copy.

Theory of operation. A *delivery* is one recipient's copy of an accepted package. Its ``state``
says where that copy is in its journey; :data:`TRANSITIONS` is the whole truth about which
:class:`Event` may move it from which state to which. Storage persists the state and never
decides it; services call :func:`advance` inside the unit of work that records the work, so the
new state, the ``delivery_events`` row and the work itself commit (or roll back) together.

::

    queued ──dispatch_local──► available ──fetch──► fetched ──done──► done
      │                          ▲   │                │ ▲  (processing / fetch: stays)
      │                          └───┴──fail──────────┘ │
      ├──dispatch_remote──► forwarding ──forward_ok──► forwarded
      │                       │   ▲
      │             forward_failed  retry
      │                       ▼   │
      │                     retry_wait ──give_up──► dead ──redrive──► queued
      │                 (forwarding ──give_up──► dead)
      ├──no_route──► undeliverable ──redrive──► queued
      └──revoke──► revoked  (also from available: a revoke arrived before the recipient fetched)

    dead / undeliverable / retry_wait ──discard──► discarded  (IT staff give up, with a reason)

Terminal states (:data:`TERMINAL`) accept no event except ``redrive`` and ``discard`` from
``dead`` and ``undeliverable`` (IT staff, after fixing the peer or the registry — or deciding
the copy will never go, which the sender then sees as a failure). Repeating an event that
leaves the state unchanged (a second ``fetch`` of a fetched copy, ``processing``) is listed in
the table as a self-loop; anything else raises :class:`hub.errors.IllegalTransition`. Services
that must be idempotent under at-least-once delivery check :func:`allowed` first and treat an
event that is no longer applicable as already done.

State names are wire and database values (VXP ``getSentEdocList`` shows them as ``sendStatus``,
except ``discarded``, which has no word in the SDK's vocabulary and is shown as ``fail``:
:mod:`hub.vxp.replies`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from types import MappingProxyType

from hub.errors import Conflict, IllegalTransition
from hub.ports import AuditRow, DeliveryEvent, DeliveryRepository, DeliveryRow


class State(StrEnum):
    QUEUED = "queued"  # stored, awaiting dispatch
    AVAILABLE = "available"  # in the recipient system's inbox
    FETCHED = "fetched"  # the recipient took it (VXP getEdoc); "processing" keeps it here
    DONE = "done"  # the recipient acknowledged "done"
    FORWARDING = "forwarding"  # being pushed to the national axis / a peer hub
    RETRY_WAIT = "retry_wait"  # the last push failed; another attempt is scheduled
    FORWARDED = "forwarded"  # the peer accepted it
    DEAD = "dead"  # given up; IT can redrive
    UNDELIVERABLE = "undeliverable"  # no route (unknown recipient); visible to the sender
    REVOKED = "revoked"  # the sender revoked it before the recipient fetched it
    DISCARDED = "discarded"  # IT staff gave it up for good, with a reason; the sender sees it


class Event(StrEnum):
    DISPATCH_LOCAL = "dispatch_local"
    DISPATCH_REMOTE = "dispatch_remote"
    NO_ROUTE = "no_route"
    FETCH = "fetch"
    PROCESSING = "processing"
    DONE = "done"
    FAIL = "fail"
    FORWARD_OK = "forward_ok"
    FORWARD_FAILED = "forward_failed"
    RETRY = "retry"
    GIVE_UP = "give_up"
    REDRIVE = "redrive"
    REVOKE = "revoke"
    DISCARD = "discard"


S, E = State, Event

#: (state, event) → new state. Everything not listed is illegal.
TRANSITIONS: MappingProxyType[tuple[State, Event], State] = MappingProxyType(
    {
        (S.QUEUED, E.DISPATCH_LOCAL): S.AVAILABLE,
        (S.QUEUED, E.DISPATCH_REMOTE): S.FORWARDING,
        (S.QUEUED, E.NO_ROUTE): S.UNDELIVERABLE,
        (S.QUEUED, E.REVOKE): S.REVOKED,
        (S.AVAILABLE, E.FETCH): S.FETCHED,
        (S.AVAILABLE, E.FAIL): S.AVAILABLE,
        (S.AVAILABLE, E.REVOKE): S.REVOKED,
        (S.FETCHED, E.FETCH): S.FETCHED,
        (S.FETCHED, E.PROCESSING): S.FETCHED,
        (S.FETCHED, E.DONE): S.DONE,
        (S.FETCHED, E.FAIL): S.AVAILABLE,
        (S.FORWARDING, E.FORWARD_OK): S.FORWARDED,
        (S.FORWARDING, E.FORWARD_FAILED): S.RETRY_WAIT,
        (S.FORWARDING, E.GIVE_UP): S.DEAD,
        (S.RETRY_WAIT, E.RETRY): S.FORWARDING,
        (S.RETRY_WAIT, E.GIVE_UP): S.DEAD,
        (S.DEAD, E.REDRIVE): S.QUEUED,
        (S.UNDELIVERABLE, E.REDRIVE): S.QUEUED,
        (S.DEAD, E.DISCARD): S.DISCARDED,
        (S.UNDELIVERABLE, E.DISCARD): S.DISCARDED,
        (S.RETRY_WAIT, E.DISCARD): S.DISCARDED,  # its pending retry then finds nothing to do
    }
)

#: States no ordinary event leaves (``redrive`` / ``discard`` from dead / undeliverable excepted).
TERMINAL = frozenset({S.DONE, S.FORWARDED, S.DEAD, S.UNDELIVERABLE, S.REVOKED, S.DISCARDED})
#: States in which a LOCAL copy sits in the recipient's inbox (VXP getReceivedEdocList).
INBOX = (S.AVAILABLE, S.FETCHED)
#: Events that count an attempt (a failed hand-out or push).
_COUNTS_ATTEMPT = frozenset({E.FAIL, E.FORWARD_FAILED})
#: Events whose reason becomes ``last_error``, the text the sender is shown.
_SETS_ERROR = frozenset({E.GIVE_UP, E.NO_ROUTE, E.DISCARD})

#: Human descriptions (vi) shown as ``sendStatusDesc`` / ``statusDesc``.
DESCRIPTIONS_VI: MappingProxyType[State, str] = MappingProxyType(
    {
        S.QUEUED: "Đã tiếp nhận, chờ chuyển",
        S.AVAILABLE: "Đã đến hộp thư đơn vị nhận",
        S.FETCHED: "Đơn vị nhận đã lấy văn bản",
        S.DONE: "Đơn vị nhận đã xử lý xong",
        S.FORWARDING: "Đang chuyển tiếp",
        S.RETRY_WAIT: "Chuyển tiếp lỗi, chờ thử lại",
        S.FORWARDED: "Đã chuyển tiếp thành công",
        S.DEAD: "Chuyển tiếp thất bại, chờ xử lý",
        S.UNDELIVERABLE: "Không chuyển được (không xác định nơi nhận)",
        S.REVOKED: "Đã thu hồi",
        S.DISCARDED: "Đã hủy, không chuyển",
    }
)


def transition(state: State | str, event: Event | str) -> State:
    """The state ``event`` leads to from ``state``; raise :class:`IllegalTransition` if none."""
    try:
        key = (State(state), Event(event))
    except ValueError as exc:
        raise IllegalTransition(
            f"unknown delivery state or event: {state!r}, {event!r}",
            message_vi=f"trạng thái hoặc sự kiện không xác định: {state!r}, {event!r}",
        ) from exc
    new = TRANSITIONS.get(key)
    if new is None:
        raise IllegalTransition(
            f"a delivery in state {key[0].value!r} cannot take event {key[1].value!r}",
            message_vi=f"bản chuyển ở trạng thái {key[0].value!r} không nhận sự kiện "
            f"{key[1].value!r}",
            details={"state": key[0].value, "event": key[1].value},
        )
    return new


def allowed(state: State | str, event: Event | str) -> bool:
    """True when ``event`` is legal in ``state``."""
    try:
        return (State(state), Event(event)) in TRANSITIONS
    except ValueError:
        return False


def describe(state: State | str) -> str:
    """The Vietnamese description of a state (the raw value when unknown)."""
    try:
        return DESCRIPTIONS_VI[State(state)]
    except ValueError:
        return str(state)


def apply(
    row: DeliveryRow, event: Event, *, at: dt.datetime, reason: str | None = None
) -> tuple[DeliveryRow, DeliveryEvent]:
    """The row after ``event`` (state, attempts, timestamps, last error) and its event record.

    Pure: writes nothing. Raises :class:`IllegalTransition` like :func:`transition`.
    """
    new_state = transition(row.state, event)
    changes: dict[str, object] = {"state": new_state.value, "updated_at": at}
    if event in _COUNTS_ATTEMPT:
        changes["attempts"] = row.attempts + 1
    if reason is not None and (event in _COUNTS_ATTEMPT or event in _SETS_ERROR):
        changes["last_error"] = reason
    if event is E.FETCH and row.fetched_at is None:
        changes["fetched_at"] = at
    if event is E.DONE:
        changes["done_at"] = at
    if event in (E.FORWARD_OK, E.REDRIVE, E.DISCARD):
        changes["next_attempt_at"] = None
    new_row = dataclasses.replace(row, **changes)  # type: ignore[arg-type]
    record = DeliveryEvent(row.id, at, row.state, new_state.value, reason)
    return new_row, record


def advance(
    repo: DeliveryRepository,
    row: DeliveryRow,
    event: Event,
    *,
    at: dt.datetime,
    reason: str | None = None,
    audit: AuditRow | None = None,
    **changes: object,
) -> DeliveryRow:
    """Apply ``event`` to ``row`` and persist it with its event — and ``audit``, the audit row
    of the work, when given: one statement on PostgreSQL — in the caller's transaction.

    ``changes`` sets further columns (``next_attempt_at``, ``resolved_code``…). The write is a
    compare-and-set against ``row`` as read, of the columns this step changes only: when another
    transaction moved the delivery (or changed one of those columns) first this raises
    :class:`hub.errors.Conflict` (``delivery.raced``) and the caller's unit of work rolls back —
    re-read and decide again. Columns this step leaves alone are not written, so a
    ``business_status`` recorded since the read survives.
    """
    new_row, record = apply(row, event, at=at, reason=reason)
    if changes:
        new_row = dataclasses.replace(new_row, **changes)  # type: ignore[arg-type]
    if not repo.save_with_event(new_row, read=row, event=record, audit=audit):
        raise _raced([row.id])
    return new_row


def advance_many(
    repo: DeliveryRepository,
    moves: Sequence[tuple[DeliveryRow, Event, str | None]],
    *,
    at: dt.datetime,
) -> list[DeliveryRow]:
    """:func:`advance` for several distinct deliveries at once: ``moves`` are ``(row as read,
    event, reason)``; returns the rows after their events, in the same order.

    Every event is checked against :data:`TRANSITIONS` before anything is written; then the
    compare-and-sets go as one batch (:meth:`hub.ports.DeliveryRepository.save_many`) and the
    events as one multi-row insert, in the order of ``moves``. When any delivery changed
    concurrently this raises :class:`hub.errors.Conflict` (``delivery.raced``), exactly as
    :func:`advance` would for that row, and the caller's unit of work rolls back whole.
    """
    if not moves:
        return []
    applied = [apply(row, event, at=at, reason=reason) for row, event, reason in moves]
    steps = [(new_row, row) for (new_row, _), (row, _, _) in zip(applied, moves, strict=True)]
    if not repo.save_many(steps):
        raise _raced([row.id for row, _, _ in moves])
    repo.add_events([record for _, record in applied])
    return [new_row for new_row, _ in applied]


def _raced(ids: Sequence[str]) -> Conflict:
    """The ``delivery.raced`` conflict of a lost compare-and-set (one delivery, or a batch)."""
    if len(ids) == 1:
        return Conflict(
            f"delivery {ids[0]} changed state concurrently",
            message_vi=f"bản chuyển {ids[0]} vừa bị thay đổi trạng thái đồng thời",
            code="delivery.raced",
        )
    return Conflict(
        f"one of {len(ids)} deliveries changed state concurrently",
        message_vi=f"một trong {len(ids)} bản chuyển vừa bị thay đổi trạng thái đồng thời",
        code="delivery.raced",
        details={"deliveries": list(ids)},
    )
