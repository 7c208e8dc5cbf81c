"""The national axis both ways: take what peers hold for us, and learn what became of what we sent.

Theory of operation — **inbound** (:class:`InboundPoller`). VXP is pull-based: the axis (or a
parent hub, or a peer hub) keeps a package addressed to an agency served here until this hub
takes it. For every peer that offers an inbox (:attr:`hub.ports.Peer.inbox`; the composition
root leaves it ``None`` when ``poll`` is off), one round lists the pending ``edoc`` and
``status`` items and, for each item, in this order:

1. **Known item?** ``inbound_items`` has a row for ``(peer, remote_id)``: the item was decided
   before. If the peer was not yet told, tell it now (``done`` / ``fail``); either way it is
   never fetched again.
2. **Fetch** the bytes (``getEdoc``).
3. **The same intake as a local push** (:meth:`hub.services.intake.Intake.push_from_peer`: one
   parse, profile, signature verdicts, policy, one transaction), as the sender ``peer:<name>``.
   A sender's fault (profile, policy, signature, rights, a malformed package) is a *refusal*;
   our own fault (database, keys) ends the round without any acknowledgement.
4. **Record** the outcome in ``inbound_items``: an accepted item in the intake's own
   transaction (the document and its record commit together), a refused one with the reason
   in a transaction of its own.
5. **Acknowledge** — ``done`` only now, after the local commit; ``fail`` for a refusal. That
   the peer was told is recorded for the whole round in one transaction at its end.

Crash safety: a crash before the commit of step 3 leaves nothing; the item is fetched again
next round. Should the bytes be stored without a record (a refusal's record lost, a race), the
intake recognises the same bytes from the same ``peer:<name>`` (idempotent on the digest), so
the document is neither lost nor delivered twice. A crash after the commit and before the
round's end leaves rows without ``acked_at``: step 1 of the next round acknowledges again
(``done``/``fail`` are idempotent at the peer). Two pollers racing on one item (``lienthong
run --workers N``) meet the same guards.

Theory of operation — **outbound state** (:class:`RemoteTracker`). A copy forwarded to a peer is
``forwarded`` here with the peer's id of it (``remote_id``). For forwarded documents (edocs)
whose remote status is not ``done`` yet (and forwarded within :attr:`RemoteTracker.horizon`),
the tracker asks the peer (``getSentEdocList``, each package at most once a minute) and
writes the recipient's remote status on the delivery (``remote_status``…): the sender's sent
list then shows it like the state of a local copy.
The business answer (status messages 01…16) travels as packages through the inbound path and
lands in ``business_status`` exactly as a local status does.

Both classes are synchronous and sans-I/O apart from their ports; the loop that calls them
every ``inbound.poll_s`` seconds lives in the entry points.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hub.agency.codes import lookup_key
from hub.edxml.model import MessageKind
from hub.errors import Conflict, PeerError, PeerUnavailable, SenderError
from hub.ports import (
    NATIONAL_LINK,
    DeliveryEvent,
    DeliveryRow,
    InboundRow,
    Peer,
    PeerInbox,
    RemoteDeliveryState,
    RemoteItem,
    UnitOfWork,
)
from hub.security import category_of_refusal, emit
from hub.services.base import Deps, audit
from hub.services.contracts import PushResult, Route
from hub.services.intake import Intake

log = logging.getLogger(__name__)

ACCEPTED = "accepted"
REFUSED = "refused"
#: Sender-error codes that are no fault of the package: a race lost to a local worker.
_TRANSIENT = frozenset({"delivery.raced"})


@dataclass
class PollReport:
    """What one round did, per outcome (for logs, tests and the CLI)."""

    accepted: list[str] = field(default_factory=list)  # remote ids taken and acknowledged done
    refused: list[str] = field(default_factory=list)  # remote ids refused (acknowledged fail)
    skipped: int = 0  # items decided in an earlier round (not fetched again)
    errors: list[str] = field(default_factory=list)  # "peer: [item: ]code" of what failed

    def merge(self, other: PollReport) -> None:
        self.accepted += other.accepted
        self.refused += other.refused
        self.skipped += other.skipped
        self.errors += other.errors


class InboundPoller:
    """Take what peers hold for the agencies served here (see the module docstring)."""

    def __init__(
        self, deps: Deps, intake: Intake, peers: Iterable[Peer], *, batch: int = 100
    ) -> None:
        self._deps = deps
        self._intake = intake
        self._peers = [p for p in peers if p.inbox is not None]
        self._batch = batch

    @property
    def peers(self) -> Sequence[str]:
        """The names of the peers this poller polls."""
        return [p.name for p in self._peers]

    def poll(self) -> PollReport:
        """One round over every peer with an inbox; a failing peer does not stop the others."""
        report = PollReport()
        for peer in self._peers:
            report.merge(self.poll_peer(peer))
        return report

    def poll_peer(self, peer: Peer) -> PollReport:
        """One round over one peer: edoc items first, then status items (a status may be
        about a document listed in the same round)."""
        report = PollReport()
        inbox = peer.inbox
        if inbox is None:
            return report
        told: list[str] = []  # acknowledged this round, recorded in one transaction at its end
        try:
            for kind in (MessageKind.EDOC, MessageKind.STATUS):
                items = inbox.pending(kind, limit=self._batch)
                skipped = report.skipped
                for item in items:
                    self._take(peer.name, inbox, item, report, told)
                if len(items) >= self._batch and report.skipped - skipped == len(items):
                    # A peer that keeps listing items acknowledged "fail" (a lienthong parent
                    # hands a failed copy out again): a full page of them hides newer items.
                    log.warning(
                        "inbound %s: all %d listed %s items were decided before; newer items "
                        "may be hidden behind them (see lienthong inbound list --refused)",
                        peer.name,
                        len(items),
                        kind.value,
                    )
        except PeerError as exc:
            # The peer is down or refuses: the items stay listed there, the next round resumes.
            log.warning("inbound %s: round cut short: %s (%s)", peer.name, exc.code, exc)
            report.errors.append(f"{peer.name}: {exc.code}")
        finally:
            self._mark_acked(peer.name, told)
        return report

    # ----------------------------------------------------------------------------- steps

    def _take(
        self,
        peer: str,
        inbox: PeerInbox,
        item: RemoteItem,
        report: PollReport,
        told: list[str],
    ) -> None:
        with self._deps.uow() as uow:
            known = uow.inbound.get(peer, item.remote_id)
        if known is not None:
            report.skipped += 1
            if known.acked_at is None:
                self._acknowledge(inbox, item, known, told)
            return
        try:
            data = inbox.fetch(item)
        except PeerUnavailable:
            raise  # the peer is down: end this peer's round
        except PeerError as exc:
            # The peer will not hand out this one item (withdrawn since it was listed…): its
            # fault, maybe passing. Not a refusal: it is tried again next round, and the items
            # behind it are not held up.
            log.warning("inbound %s %s: fetch refused: %s", peer, item.remote_id, exc.code)
            report.errors.append(f"{peer}: {item.remote_id}: {exc.code}")
            return

        def record_with_document(uow: UnitOfWork, result: PushResult) -> None:
            # In the intake's transaction: the document and the record of the item commit
            # together (one commit per item on the accepting path).
            row = self._accepted(peer, item, result)
            uow.inbound.add(row)
            _audit(uow, row)

        try:
            result = self._intake.push_from_peer(peer, data, also=record_with_document)
        except SenderError as exc:
            if isinstance(exc, Conflict) and exc.code in _TRANSIENT:
                # Lost a race with a local worker (a revoke meeting a fetch of the copy it
                # withdraws): the package is not at fault. Not recorded, not acknowledged:
                # taken again next round.
                log.info("inbound %s %s: %s, again next round", peer, item.remote_id, exc.code)
                report.errors.append(f"{peer}: {item.remote_id}: {exc.code}")
                return
            row = InboundRow(
                peer=peer,
                remote_id=item.remote_id,
                kind=item.kind,
                outcome=REFUSED,
                reason=f"{exc.code}: {exc.message_vi}",
                doc_id=None,
                digest=_digest(data),
                received_at=self._deps.clock.now(),
            )
            log.info("inbound %s %s refused: %s", peer, item.remote_id, exc.code)
            emit(
                "inbound_refused",
                category_of_refusal(exc.code, None),
                level=logging.INFO,
                peer=peer,
                remote_id=item.remote_id,
                code=exc.code,
                reason=exc.message_en,
            )
            row = self._record(row)
        else:
            log.info(
                "inbound %s %s accepted as %s (sha256 %s%s)",
                peer,
                item.remote_id,
                result.doc_id,
                result.digest,
                ", already stored" if result.duplicate else "",
            )
            if result.duplicate:  # stored before (a crash after the commit): record it now
                row = self._record(self._accepted(peer, item, result))
            else:
                row = self._accepted(peer, item, result)
        (report.accepted if row.outcome == ACCEPTED else report.refused).append(item.remote_id)
        self._acknowledge(inbox, item, row, told)

    def _accepted(self, peer: str, item: RemoteItem, result: PushResult) -> InboundRow:
        return InboundRow(
            peer=peer,
            remote_id=item.remote_id,
            kind=result.kind,
            outcome=ACCEPTED,
            reason=None,
            doc_id=result.doc_id,
            digest=result.digest,
            received_at=self._deps.clock.now(),
        )

    def _record(self, row: InboundRow) -> InboundRow:
        """Store the outcome (the first one wins when two pollers raced on the item)."""
        with self._deps.uow() as uow:
            try:
                uow.inbound.add(row)
            except Conflict:
                uow.rollback()
                stored = uow.inbound.get(row.peer, row.remote_id)
                if stored is None:
                    raise
                return stored
            _audit(uow, row)
            uow.commit()
        return row

    def _acknowledge(
        self, inbox: PeerInbox, item: RemoteItem, row: InboundRow, told: list[str]
    ) -> None:
        """Tell the peer; the round records it was told (a lost acknowledgement — or a crash
        before the round's end — means the peer is told again: both answers are idempotent)."""
        inbox.acknowledge(item, accepted=row.outcome == ACCEPTED, reason=row.reason)
        told.append(item.remote_id)

    def _mark_acked(self, peer: str, remote_ids: Sequence[str]) -> None:
        if not remote_ids:
            return
        now = self._deps.clock.now()
        with self._deps.uow() as uow:
            for remote_id in remote_ids:
                uow.inbound.mark_acked(peer, remote_id, now)
            uow.commit()


def _audit(uow: UnitOfWork, row: InboundRow) -> None:
    audit(
        uow,
        row.received_at,
        f"peer:{row.peer}",
        "inbound",
        row.doc_id or row.remote_id,
        "ok" if row.outcome == ACCEPTED else "refused",
        remote_id=row.remote_id,
        kind=row.kind.value,
        reason=row.reason,
        digest=row.digest,
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------ tracker


class RemoteTracker:
    """Write what peers say of the copies this hub forwarded (see the module docstring)."""

    #: Forwarded copies older than this are no longer asked about.
    horizon = dt.timedelta(days=30)

    def __init__(
        self, deps: Deps, peers: Iterable[Peer], *, batch: int = 100, every_s: float = 60.0
    ) -> None:
        self._deps = deps
        self._peers = {p.name: p for p in peers if p.tracker is not None}
        self._batch = batch
        self._every = dt.timedelta(seconds=every_s)
        self._after: tuple[dt.datetime, str] | None = None
        self._asked: dict[tuple[str, str], dt.datetime] = {}

    def track(self) -> int:
        """One round over the next ``batch`` tracked copies; returns how many got a new
        remote status. Rounds page through the work list and start over at its end, so copies
        without news never crowd out the ones behind them; a peer is asked about one package
        at most once per ``every_s`` (the axis is shared by every province)."""
        if not self._peers:
            return 0
        now = self._deps.clock.now()
        with self._deps.uow() as uow:
            rows = uow.deliveries.tracked(now - self.horizon, after=self._after, limit=self._batch)
        self._after = (rows[-1].updated_at, rows[-1].id) if len(rows) == self._batch else None
        self._asked = {k: at for k, at in self._asked.items() if now - at < self._every}
        by_remote: dict[tuple[str, str], list[DeliveryRow]] = {}
        for row in rows:
            name = (row.peer_name if row.route == Route.PEER else None) or NATIONAL_LINK
            key = (name, row.remote_id or "")
            if name in self._peers and row.remote_id and key not in self._asked:
                by_remote.setdefault(key, []).append(row)
        changed = 0
        for (name, remote_id), group in by_remote.items():
            tracker = self._peers[name].tracker
            assert tracker is not None
            self._asked[(name, remote_id)] = now
            try:
                states = tracker.delivery_states(remote_id)
            except PeerError as exc:
                log.warning("tracking %s at %s failed: %s", remote_id, name, exc.code)
                continue
            changed += self._apply(group, states, now)
        return changed

    def _apply(
        self, group: Sequence[DeliveryRow], states: Sequence[RemoteDeliveryState], now: dt.datetime
    ) -> int:
        news = {lookup_key(s.recipient_code): s for s in states}
        if not news:
            return 0
        changed = 0
        with self._deps.uow() as uow:
            for row in group:
                state = news.get(lookup_key(row.resolved_code or row.recipient_code))
                if state is None:
                    state = news.get(lookup_key(row.recipient_code))
                if state is None or (
                    state.status == row.remote_status
                    and state.description == row.remote_status_desc
                ):
                    continue
                current = uow.deliveries.get(row.id)
                if current is None or current.state != row.state:
                    continue
                updated = dataclasses.replace(
                    current,
                    remote_status=state.status,
                    remote_status_desc=state.description,
                    remote_status_at=state.at or now,
                )
                if uow.deliveries.save(updated, expected_state=current.state):
                    uow.deliveries.add_event(
                        DeliveryEvent(row.id, now, row.state, row.state, f"remote {state.status}")
                    )
                    changed += 1
            uow.commit()
        return changed
