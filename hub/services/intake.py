"""Intake: accept a pushed package, decide, store, and make one delivery per recipient.

Theory of operation (hub-common.md, DESIGN.md §2). In order, failing fast and cheaply:

1. **Size cap** (:class:`PackageTooLarge`), then the **sending system** from a short-lived
   cache (:class:`hub.services.base.SystemsCache`: enabled flag and hosted agencies).
2. **ONE parse** (:func:`hub.edxml.reader.parse_package`), reused by every check below.
3. **Rights**: a system sends only as an agency it hosts (From/OrganId), and the VXP ``from``
   header, when given, must name that agency (:class:`Forbidden`). A package taken from a
   peer's inbox (:meth:`Intake.push_from_peer`, the inbound poller) goes through the very same
   stages as ``peer:<name>``, which may send as any agency outside this hub, and gives copies
   only to the recipients served here.
4. **Profile** (:func:`hub.edxml.profile.validate_parsed`) and **signature verdicts**
   (:class:`hub.ports.SignatureVerifier`), then the sender's **policy** (:mod:`hub.policy`).
5. **Business rules** (QCVN 102 §2.3 ``Bussiness``): a DocumentId already used by this sender
   with other bytes is a :class:`Conflict` unless the package is an update, replace or revoke of
   it; revoke/update/replace are linked to the original (``related_doc_id``); a revoke makes
   every not-yet-fetched copy of the original ``revoked`` and is delivered only to recipients
   that already took the original. A status message is routed to ``ResponseFor/OrganId`` and
   recorded on the original document's delivery to its sender (``business_status``).
6. **Store**: a body larger than ``BlobStore.inline_max_bytes`` goes to the blob store BEFORE
   the transaction (a smaller one is written in its package row by the transaction itself, so
   its commit is the body's durability: :mod:`adapters.store.row_blobs`); then ONE transaction
   keeps **idempotency** (the same bytes pushed again by the same system answer the stored
   :class:`PushResult` with ``duplicate=True`` and create nothing) and writes the package, the
   document (verdicts, problems, flags), the deliveries with their routes and events (one
   batched INSERT each), the outbox row for the dispatch worker, and the audit row. A copy for a
   system of this hub is written ``available`` (its ``queued → available`` step taken through
   the state machine in this transaction), and one without a route ``undeliverable``: when the
   push is answered the copy is in the recipient's inbox, and nothing for it passes through the
   outbox, the broker or the dispatch worker (bench/RESULTS-hub.md: a third of a package's
   server CPU). Only copies that leave the hub (national axis, peer hubs) are queued for the
   dispatch worker. That transaction may be shared with concurrent pushes (group commit,
   :mod:`hub.services.group_commit`: one outbox row and one audit INSERT for the group; a push
   that fails there is re-run in a transaction of its own); either way a push is answered only
   after the commit that holds it. After the commit the outbox relay is woken when a copy was
   queued. A push refused by steps 2–5 first looks its bytes up: bytes already stored are
   answered as stored even if a check would refuse them now.

Every refusal raises a :mod:`hub.errors` exception and leaves an audit row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.agency.codes import lookup_key
from hub.agency.registry import Registry
from hub.delivery import Event, State, advance, apply
from hub.edxml import profile
from hub.edxml.model import BussinessDocType, EdocPackage, MessageKind, StatusCode, StatusPackage
from hub.edxml.reader import parse_package
from hub.edxml.source import Package, PackageFile, package_digest, package_size
from hub.errors import (
    Conflict,
    Forbidden,
    HubError,
    PackageTooLarge,
    PolicyRefused,
    ProfileError,
)
from hub.policy import decide
from hub.ports import AuditRow, DeliveryEvent, DeliveryRow, DocumentRow, PackageRow, UnitOfWork
from hub.routing import RouteDecision
from hub.services.base import (
    Deps,
    HubConfig,
    audit_refusal,
    enqueue_dispatch,
    new_id,
    router,
    today_vn,
)
from hub.services.contracts import PushResult, RecipientRoute, Route
from hub.services.group_commit import GroupCommit

#: Business actions that may reuse the DocumentId of an earlier document (QCVN 102 §2.3).
_FOLLOW_UPS = (BussinessDocType.REVOKE, BussinessDocType.UPDATE, BussinessDocType.REPLACE)
#: Routes that leave this hub: a package taken from a peer is not relayed along them.
_ELSEWHERE = (Route.NATIONAL, Route.PEER)
#: Routes whose copies are moved on by the accepting transaction itself, and by which event:
#: nothing is left for the dispatch worker to decide (it still moves redriven copies on).
_AT_INTAKE = {Route.LOCAL: Event.DISPATCH_LOCAL, Route.NONE: Event.NO_ROUTE}
#: States in which a copy has not reached the recipient yet: a revoke takes it back silently.
_NOT_YET_TAKEN = (State.QUEUED.value, State.AVAILABLE.value)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the business rules decided before anything is written."""

    recipients: tuple[str, ...]
    related_doc_id: str | None
    flags: tuple[str, ...]
    revoke_original: bool = False
    original_rows: tuple[DeliveryRow, ...] = ()
    """A status message: the deliveries of the document it is about, as read by the plan."""


@dataclass(frozen=True, slots=True)
class _Written:
    """What one push's writing transaction decided: the answer, and the rows :func:`_finish`
    adds for it before the commit (nothing for a push answered as stored)."""

    result: PushResult
    queued: tuple[str, ...] = ()
    """Deliveries for the dispatch worker (one outbox row per transaction)."""
    audit: AuditRow | None = None


def _finish(uow: UnitOfWork, written: Sequence[_Written]) -> None:
    """Before a transaction of the group commit commits: the outbox row for every delivery it
    queued and the audit rows of its pushes, in the pushes' order."""
    queued = [d for w in written for d in w.queued]
    rows = [w.audit for w in written if w.audit is not None]
    if queued:
        enqueue_dispatch(uow, queued, max(r.at for r in rows))
    uow.audit.append_many(rows)


class Intake:
    """The push operation (``HubService.push``)."""

    def __init__(self, deps: Deps, config: HubConfig) -> None:
        self._deps = deps
        self._config = config
        self.writer = GroupCommit(
            deps.uow, config.intake_batch, config.intake_lanes, finish=_finish
        )
        """Joins concurrent pushes' writing transactions (:mod:`hub.services.group_commit`)."""

    def push(
        self, system_id: str, data: Package, *, declared_from: str | None = None
    ) -> PushResult:
        actor = f"system:{system_id}"
        digest = package_digest(data)
        try:
            return self._push(system_id, data, digest, declared_from)
        except HubError as exc:
            if not isinstance(exc, Conflict) or exc.code != "document.duplicate":
                audit_refusal(self._deps, actor, "push", digest, exc, size=package_size(data))
            raise

    def push_from_peer(
        self,
        peer: str,
        data: bytes,
        *,
        also: Callable[[UnitOfWork, PushResult], None] | None = None,
    ) -> PushResult:
        """Accept a package taken from ``peer``'s inbox, exactly as a local push is accepted.

        The sender identity is ``peer:<name>`` (the ``sender_system`` of the document, so the
        same bytes taken again are the same document). It may send as any agency outside this
        hub's scope — never as a local one — and only recipients served here get a copy: the
        peer delivers to the others itself, so relaying them back would deliver twice. A
        package with no recipient served here is refused (:class:`Forbidden`).

        ``also`` writes more in the accepting transaction (the poller's record of the item), so
        it commits with the document or not at all; it is not called when the bytes were
        stored before (``duplicate``) — the caller records those itself.
        """
        sender_system = peer_identity(peer)
        digest = hashlib.sha256(data).hexdigest()
        try:
            return self._push(sender_system, data, digest, None, peer=peer, also=also)
        except HubError as exc:
            if not isinstance(exc, Conflict) or exc.code != "document.duplicate":
                audit_refusal(self._deps, sender_system, "push", digest, exc, size=len(data))
            raise

    # ----------------------------------------------------------------------------- stages

    def _push(
        self,
        system_id: str,
        data: Package,
        digest: str,
        declared_from: str | None,
        *,
        peer: str | None = None,
        also: Callable[[UnitOfWork, PushResult], None] | None = None,
    ) -> PushResult:
        cap = self._config.max_package_bytes
        size = package_size(data)
        if size > cap:
            raise PackageTooLarge(
                f"package of {size} bytes exceeds limits.max_package_bytes ({cap} bytes)",
                message_vi=f"gói tin {size} byte vượt giới hạn limits.max_package_bytes "
                f"({cap} byte)",
                details={"max_bytes": cap, "size": size},
            )
        may_send = self._peer_rights(peer) if peer is not None else self._system_rights(system_id)
        try:
            pkg, verdicts, problems, flags = self._check(may_send, system_id, data, declared_from)
        except HubError:
            # Idempotency before refusal: bytes this system already stored are answered as
            # stored even if a check would refuse them now (a certificate revoked since, a
            # policy changed). Looked up only here, on the rare refusal path: the accepting
            # path checks the digest inside its one writing transaction below.
            with self._deps.uow() as uow:
                existing = uow.documents.by_digest(system_id, digest)
                if existing is not None:
                    return _stored_result(uow, existing)
            raise

        body = _store(self._deps, data)  # BEFORE the transaction: no row without its blob
        now = self._deps.clock.now()
        registry = self._deps.registry()  # before the transaction (see base.router)
        package = PackageRow(digest, package_size(data), pkg.kind, now, body)

        def write(uow: UnitOfWork, alone: bool) -> _Written:
            return self._write(uow, alone, system_id, package, pkg, checked, registry, peer, also)

        checked = (verdicts, problems, flags)
        written = self.writer.run(write)
        if written.queued:
            self._deps.wake_outbox()
        return written.result

    def _write(
        self,
        uow: UnitOfWork,
        alone: bool,
        system_id: str,
        package: PackageRow,
        pkg: EdocPackage | StatusPackage,
        checked: tuple[dict[str, Any], list[dict[str, Any]], list[str]],
        registry: Registry,
        peer: str | None,
        also: Callable[[UnitOfWork, PushResult], None] | None,
    ) -> _Written:
        """The writing transaction of one push (run by :attr:`writer`, alone or in a group
        commit). Its outbox row and audit row are written once per transaction by
        :func:`_finish` (one multi-row statement each for a whole group)."""
        verdicts, problems, flags = checked
        digest, now = package.digest, package.received_at
        # Idempotency is the unique key (sender_system, digest) of the document INSERT below: no
        # SELECT ahead of it on the accepting path (a statement saved per push). The same bytes
        # again — stored long ago or by a concurrent push — meet the key, and the push is
        # answered as stored in a transaction of its own. Nothing before that INSERT writes
        # anything, and the package row it writes with it (ON CONFLICT DO NOTHING) is rolled back.
        try:
            plan = self._plan(uow, pkg)
        except Conflict:
            # READ COMMITTED: a concurrent push of these very bytes may have committed
            # between the digest check above and the DocumentId check inside _plan.
            existing = uow.documents.by_digest(system_id, digest)
            if existing is not None:
                return _Written(_stored_result(uow, existing))
            raise
        doc = DocumentRow(
            id=new_id(),
            digest=digest,
            kind=pkg.kind,
            document_id=pkg.document_id if isinstance(pkg, EdocPackage) else None,
            sender_code=pkg.sender,
            sender_system=system_id,
            business_type=int(pkg.business_type) if isinstance(pkg, EdocPackage) else 0,
            related_doc_id=plan.related_doc_id,
            subject=pkg.header.subject if isinstance(pkg, EdocPackage) else None,
            code_number=_code(pkg)[0],
            code_notation=_code(pkg)[1],
            verdicts=verdicts,
            problems=problems,
            flags=[*flags, *plan.flags],
            received_at=now,
        )
        try:
            uow.documents.add(doc, package)
        except Conflict:  # the same bytes, stored before or committed by a concurrent push
            if not alone:
                raise  # the group commit re-runs this push alone, which lands below
            uow.rollback()
            stored = uow.documents.by_digest(system_id, digest)
            if stored is None:
                raise
            return _Written(_stored_result(uow, stored))
        skip = set()
        if plan.revoke_original and plan.related_doc_id:
            skip = _revoke_untaken(uow, plan.related_doc_id, now, doc.id)
        events: list[DeliveryEvent] = []
        if isinstance(pkg, StatusPackage):
            events += _record_status(uow, pkg, plan.original_rows, now)
        rules = router(self._deps, self._config, uow, registry, cached=True)
        day = today_vn(now)
        routed = [
            (_new_delivery(doc.id, decision_, now), decision_)
            for decision_ in (
                rules.route(code, day) for code in plan.recipients if lookup_key(code) not in skip
            )
            if peer is None or decision_.route not in _ELSEWHERE
        ]
        if peer is not None and plan.recipients and not routed and not skip:
            raise Forbidden(
                f"no recipient of the package from peer {peer!r} is served here",
                message_vi=f"gói tin nhận từ {peer!r} không gửi cho cơ quan nào thuộc trục",
                code="inbound.not_for_us",
            )
        # A copy for a system of this hub is made available, and one without a route
        # undeliverable, by this very transaction (their two events, each through the state
        # machine); only copies that leave the hub wait for the dispatch worker. Batched: one
        # INSERT for the deliveries, one for every event (PERFORMANCE.md).
        events += [DeliveryEvent(row.id, now, None, row.state, "accepted") for row, _ in routed]
        queued: list[str] = []
        created: list[DeliveryRow] = []
        for row, decision_ in routed:
            step = _AT_INTAKE.get(decision_.route)
            if step is None:
                queued.append(row.id)
            else:
                # the reason of a missing route is the sender's error text; a local copy's
                # step has none, as when the dispatch worker took it
                reason = decision_.reason if step is Event.NO_ROUTE else None
                row, record = apply(row, step, at=now, reason=reason)
                events.append(record)
            created.append(row)
        uow.deliveries.add_many(created, events)
        details = {
            "digest": digest,
            "kind": pkg.kind.value,
            "document_id": doc.document_id,
            "flags": list(doc.flags),
        }
        entry = AuditRow(now, f"system:{system_id}", "push", doc.id, "ok", details)
        result = _result(doc, created, duplicate=False)
        if also is not None:
            also(uow, result)
        return _Written(result, tuple(queued), entry)

    def _system_rights(self, system_id: str) -> Callable[[str], bool]:
        """A connected system sends only as the agencies it hosts (refused when unknown or
        disabled)."""
        with self._deps.uow() as uow:  # a cache hit takes no connection (the uow is lazy)
            system = self._deps.systems.system(uow, system_id, self._config.systems_cache_ttl_s)
        if system is None:
            raise Forbidden(
                f"system {system_id!r} is unknown or disabled",
                message_vi=f"hệ thống {system_id!r} không tồn tại hoặc đã bị khóa",
            )
        hosted = system.hosted
        return lambda code: lookup_key(code) in hosted

    def _peer_rights(self, peer: str) -> Callable[[str], bool]:
        """A peer sends as an agency outside this hub's scope — never as a local one (that
        would be forging its mail) — and a configured peer hub (``peers.<name>``) only as an
        agency of its own scope; the national axis (or the parent hub) as any other.

        Hosting is not the test: a peer hub registers its own agencies here (so mail for them
        waits in its system's inbox), and mail *from* them still comes through that peer.
        """
        registry = self._deps.registry()
        scope = self._config.scope
        own = next((p.scope for p in self._config.peers if p.name == peer), None)

        def may_send(code: str) -> bool:
            if scope.covers(code, registry):
                return False
            return own is None or own.covers(code, registry)

        return may_send

    def _check(
        self,
        may_send: Callable[[str], bool],
        system_id: str,
        data: Package,
        declared_from: str | None,
    ) -> tuple[EdocPackage | StatusPackage, dict[str, Any], list[dict[str, Any]], list[str]]:
        """The ONE parse, the sender's rights, profile, signature verdicts and policy: the
        package, its verdicts and problems (as stored) and the policy's flags."""
        parsed = parse_package(data, max_bytes=self._config.max_package_bytes)
        pkg = parsed.package
        sender = pkg.sender
        if not may_send(sender):
            raise Forbidden(
                f"system {system_id!r} may not send as the agency {sender!r}",
                message_vi=f"hệ thống {system_id!r} không được gửi thay cơ quan {sender!r}",
                path="/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId",
            )
        if declared_from is not None and lookup_key(declared_from) != lookup_key(sender):
            raise Forbidden(
                f"header 'from' {declared_from!r} does not match From/OrganId {sender!r}",
                message_vi=f"tham số 'from' {declared_from!r} khác From/OrganId {sender!r}",
                path="/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId",
            )
        report = profile.validate_parsed(parsed, data=data)
        verdicts = self._deps.verifier.verify(parsed, data, sender)
        decision = decide(
            self._config.policy.for_sender(sender),
            profile_ok=report.ok,
            verdicts=verdicts,
            warnings=report.warnings,  # each a flag, or a refusal where the sender's policy says
        )
        for finding in decision.refused:
            if finding.code == "profile.errors":
                report.raise_for_errors()
            raise PolicyRefused(
                f"refused by the sender's policy: {finding.code}",
                message_vi=f"gói tin bị từ chối theo chính sách: {finding.message_vi}",
                # An escalated profile warning keeps its own code: the one a flag would carry.
                code=finding.code if finding.path else f"policy.{finding.code}",
                path=finding.path,
                document_id=getattr(pkg, "document_id", None),
            )
        problems = [p.to_dict() for p in report.problems]
        return pkg, verdicts.to_dict(), problems, list(decision.flags)

    def _plan(self, uow: UnitOfWork, pkg: EdocPackage | StatusPackage) -> _Plan:
        if isinstance(pkg, StatusPackage):
            rf = pkg.header.response_for
            target = rf.organ_id if rf and rf.organ_id else None
            if target is None:
                raise ProfileError(
                    "a status message needs ResponseFor/OrganId",
                    message_vi="thông điệp trạng thái thiếu ResponseFor/OrganId",
                    path="/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/ResponseFor/OrganId",
                )
            code = pkg.header.status_code
            if code == StatusCode.RECALL_REQUEST and lookup_key(target) == lookup_key(pkg.sender):
                original = _original(uow, target, rf.document_id if rf else None)
                # Status 13 about the sender's own document: a recall request to every
                # recipient — treated like a revoke (not-yet-fetched copies are withdrawn).
                if original is None:
                    return _Plan((), None, ("status.original_unknown",))
                rows = tuple(uow.deliveries.for_document(original))
                recipients = tuple(d.recipient_code for d in rows)
                return _Plan(recipients, original, (), revoke_original=True, original_rows=rows)
            document_id = rf.document_id if rf else None
            found = _status_subject(uow, target, document_id, pkg.sender, code)
            if found is None:
                return _Plan((target,), None, ("status.original_unknown",))
            return _Plan((target,), found[0], (), original_rows=found[1])

        recipients = _unique(o.organ_id for o in pkg.header.to)
        bussiness = pkg.trace.bussiness if pkg.trace else None
        btype = pkg.business_type
        document_id = pkg.document_id
        if btype not in _FOLLOW_UPS:
            if document_id and uow.documents.by_document_id(pkg.sender, document_id):
                raise Conflict(
                    f"DocumentId {document_id!r} was already sent with other content",
                    message_vi=f"mã văn bản {document_id!r} đã được gửi với nội dung khác",
                    code="document.id_reused",
                    document_id=document_id,
                    path="/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/DocumentId",
                )
            return _Plan(recipients, None, ())
        ref = (bussiness.document_id if bussiness else None) or document_id
        original = _original(uow, pkg.sender, ref)
        flags: list[str] = [] if original else ["bussiness.original_unknown"]
        if btype is BussinessDocType.UPDATE and bussiness and bussiness.document_info:
            doc_info = bussiness.document_info
            if doc_info.document_receiver == 1 and doc_info.receivers:
                recipients = _unique(r.organ_id for r in doc_info.receivers)
        if btype is BussinessDocType.REPLACE and bussiness:
            for info in bussiness.replacements:
                replaced = _original(uow, pkg.sender, info.document_id)
                flags.append(f"replaces:{replaced}" if replaced else "replace.original_unknown")
                original = original or replaced
        return _Plan(
            recipients, original, tuple(flags), revoke_original=btype is BussinessDocType.REVOKE
        )


# ----------------------------------------------------------------------------- helpers


def _store(deps: Deps, data: Package) -> bytes | None:
    """Write a package larger than ``inline_max_bytes`` to the blob store (a spooled one is
    copied from its file) and return ``None``; return a smaller one's bytes, for its package
    row (written and made durable by the push's transaction)."""
    if package_size(data) <= deps.blobs.inline_max_bytes:
        return b"".join(data.chunks()) if isinstance(data, PackageFile) else bytes(data)
    if isinstance(data, PackageFile):
        deps.blobs.put_stream(data.reader(), max_size=data.size)
    else:
        deps.blobs.put(data)
    return None


def peer_identity(peer: str) -> str:
    """The sender identity of packages taken from ``peer`` (``documents.sender_system``)."""
    return f"peer:{peer}"


def _unique(codes: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for code in codes:
        text = str(code).strip()
        if text:
            seen.setdefault(lookup_key(text), text)
    return tuple(seen.values())


def _code(pkg: EdocPackage | StatusPackage) -> tuple[str | None, str | None]:
    if isinstance(pkg, EdocPackage) and pkg.header.code:
        return pkg.header.code.code_number, pkg.header.code.code_notation
    return None, None


def _original(uow: UnitOfWork, sender: str, document_id: str | None) -> str | None:
    """The hub's id of the document a follow-up (revoke/update/replace) is about: the first
    *new* edoc ``sender`` sent with ``document_id`` (else the oldest edoc with it, else None)."""
    if not document_id:
        return None
    docs = [
        d for d in uow.documents.by_document_id(sender, document_id) if d.kind is MessageKind.EDOC
    ]
    news = [d for d in docs if d.business_type == BussinessDocType.NEW]
    return (news or docs)[0].id if docs else None


def _status_subject(
    uow: UnitOfWork, sender: str, document_id: str | None, reporter: str, code: str | None
) -> tuple[str, tuple[DeliveryRow, ...]] | None:
    """The edoc a status from ``reporter`` is about, with its deliveries: among ``sender``'s
    edocs with ``document_id`` that were delivered to ``reporter``, a follow-up for the answers
    to a revoke/update (15, 16), else the original; ``None`` when there is none."""
    if not document_id:
        return None
    key = lookup_key(reporter)
    docs: list[tuple[DocumentRow, tuple[DeliveryRow, ...]]] = []
    for d in uow.documents.by_document_id(sender, document_id):
        if d.kind is not MessageKind.EDOC:
            continue
        rows = tuple(uow.deliveries.for_document(d.id))
        if any(
            key in {lookup_key(r.recipient_code), lookup_key(r.resolved_code or "")} for r in rows
        ):
            docs.append((d, rows))
    follow_up = code in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED)
    docs.sort(key=lambda p: (p[0].business_type != BussinessDocType.NEW) == follow_up, reverse=True)
    return (docs[0][0].id, docs[0][1]) if docs else None


def _revoke_untaken(uow: UnitOfWork, original: str, now: dt.datetime, by: str) -> set[str]:
    """Withdraw every copy of ``original`` the recipient has not taken; return their codes."""
    withdrawn: set[str] = set()
    for row in uow.deliveries.for_document(original):
        if row.state in _NOT_YET_TAKEN:
            advance(uow.deliveries, row, Event.REVOKE, at=now, reason=f"thu hồi bởi {by}")
            withdrawn.add(lookup_key(row.recipient_code))
    return withdrawn


def _record_status(
    uow: UnitOfWork, pkg: StatusPackage, original_rows: Iterable[DeliveryRow], now: dt.datetime
) -> list[DeliveryEvent]:
    """Write the status code on the original's delivery to the status sender; return the
    events to record (the caller inserts them with the push's other events)."""
    if not pkg.header.status_code:
        return []
    sender = lookup_key(pkg.sender)
    events: list[DeliveryEvent] = []
    for row in original_rows:
        codes = {lookup_key(row.recipient_code)}
        if row.resolved_code:
            codes.add(lookup_key(row.resolved_code))
        if sender not in codes:
            continue
        ts = pkg.header.timestamp.utc if pkg.header.timestamp else None
        if ts is not None and row.business_status_at is not None and ts < row.business_status_at:
            # Statuses crossing hubs arrive in any order (each is polled and forwarded on its
            # own): one the recipient stamped earlier than the recorded one is history, not news.
            events.append(
                DeliveryEvent(
                    row.id, now, row.state, row.state, f"status {pkg.header.status_code} (older)"
                )
            )
            continue
        # The row was read by the plan; under READ COMMITTED (PostgreSQL) the recipient's own
        # updateStatus may have moved it since, and the compare-and-set then fails. Re-read and
        # write again: dropping the status here would lose it silently (the package itself is
        # accepted and delivered, but the sender's sent list would never show the answer).
        for _attempt in range(3):
            updated = _replace(
                row,
                business_status=pkg.header.status_code,
                business_status_desc=pkg.header.description,
                business_status_at=ts or now,
                updated_at=now,
            )
            if uow.deliveries.save(updated, expected_state=row.state):
                events.append(
                    DeliveryEvent(
                        row.id, now, row.state, row.state, f"status {pkg.header.status_code}"
                    )
                )
                break
            fresh = uow.deliveries.get(row.id)
            if fresh is None:
                break
            row = fresh
    return events


def _replace(row: DeliveryRow, **changes: object) -> DeliveryRow:
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


def _new_delivery(doc_id: str, decision: RouteDecision, now: dt.datetime) -> DeliveryRow:
    return DeliveryRow(
        id=new_id(),
        doc_id=doc_id,
        recipient_code=decision.recipient,
        resolved_code=decision.resolved,
        route=decision.route.value,
        peer_name=decision.peer_name,
        system_id=decision.system_id,
        state=State.QUEUED.value,
        attempts=0,
        next_attempt_at=None,
        last_error=decision.reason,
        business_status=None,
        business_status_desc=None,
        business_status_at=None,
        created_at=now,
        updated_at=now,
    )


def _stored_result(uow: UnitOfWork, doc: DocumentRow) -> PushResult:
    """The answer to a repeated push: what is stored now."""
    return _result(doc, uow.deliveries.for_document(doc.id), duplicate=True)


def _result(
    doc: DocumentRow,
    deliveries: Iterable[DeliveryRow],
    *,
    duplicate: bool,
) -> PushResult:
    """The answer to a push; deliveries in the store's order (``created_at``, then ``id``) so
    a repeated push lists them the same way."""
    routes = tuple(
        RecipientRoute(
            delivery_id=d.id,
            recipient=d.recipient_code,
            resolved=d.resolved_code,
            route=Route(d.route),
            peer_name=d.peer_name,
            state=d.state,
            reason=d.last_error,
        )
        for d in sorted(deliveries, key=lambda d: (d.created_at, d.id))
    )
    return PushResult(
        doc_id=doc.id,
        document_id=doc.document_id,
        kind=doc.kind,
        digest=doc.digest,
        recipients=routes,
        duplicate=duplicate,
        # flags are warnings ("signature.missing"…) or links ("replaces:<doc id>")
        warnings=tuple(f for f in doc.flags if ":" not in f),
    )
