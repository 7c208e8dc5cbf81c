"""The hub services end to end over one unit-of-work factory (memory, SQLite, PostgreSQL):
push, dispatch, inbox, fetch, acknowledgement, sent list, status messages, business actions,
agencies, systems, timeline."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.memory import ManualClock
from hub.edxml.model import (
    BussinessDocType,
    BussinessDocumentInfo,
    MessageKind,
    Receiver,
    ReplacementInfo,
)
from hub.edxml.reader import read
from hub.edxml.writer import write_edoc
from hub.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    NotFound,
    PackageTooLarge,
    PolicyRefused,
    ProfileError,
    XmlError,
)
from hub.messaging import DISPATCH_QUEUE
from hub.policy import Action, PolicyBook, SenderPolicy
from hub.ports import AgencyRow, EnvelopeStatus, Verdicts
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig, message_ids
from hub.services.contracts import AgencyRecord, Route, TransportStatus
from hub.services.dispatch import DispatchHandler, redrive
from hub.services.hub import HubServices
from tests.factories import edoc_package, make_edoc, make_status, pdf_attachment
from tests.unit.hub.conftest import SO, UBND, Wakes

SENDER = "000.00.00.H41"  # hosted by UBND
SO_CODE = "000.00.02.H41"  # hosted by SO


def drain(hub: HubServices) -> list[str]:
    """Run the dispatch worker over every stored dispatch message (no broker needed here)."""
    with hub.deps.uow() as uow:
        rows = [r for r in uow.outbox.pending() if r.queue == DISPATCH_QUEUE]
        uow.outbox.delete([r.id for r in rows])
        uow.commit()
    ids = [i for r in rows for i in message_ids(r.body)]
    DispatchHandler(hub.deps.uow, hub.deps.clock, wake_outbox=lambda: None).dispatch(ids)
    return ids


def edoc(**kw: object) -> bytes:
    kw.setdefault("sender", SENDER)
    kw.setdefault("to", [SO_CODE])
    return make_edoc(**kw)  # type: ignore[arg-type]


def audit_outcomes(hub: HubServices) -> list[str]:
    with hub.deps.uow() as uow:
        return [r.outcome for r in uow.audit.recent(limit=50)]


# ------------------------------------------------------------------------- push and inbox


def test_push_fetch_ack(hub: HubServices, wakes: Wakes, clock: ManualClock) -> None:
    data = edoc()
    result = hub.push(UBND, data, declared_from=SENDER)
    assert not result.duplicate
    assert result.digest == hashlib.sha256(data).hexdigest()
    [rcpt] = result.recipients
    # a copy for a system of this hub is in its inbox when the push is answered: no dispatch
    # message, no wake of the relay
    assert (rcpt.route, rcpt.state, rcpt.recipient) == (Route.LOCAL, "available", SO_CODE)
    assert (wakes.count, drain(hub)) == (0, [])
    assert hub.count_received(SO, MessageKind.EDOC) == 1

    [item] = hub.list_received(SO, MessageKind.EDOC)
    assert (item.delivery_id, item.from_code, item.state) == (rcpt.delivery_id, SENDER, "available")
    assert item.subject
    assert hub.list_received(SO, MessageKind.STATUS) == []
    assert hub.list_received(UBND, MessageKind.EDOC) == []

    clock.advance(60)
    fetched = hub.fetch(SO, rcpt.delivery_id)
    assert fetched.data != data  # our TraceHeader appended
    trace = read(fetched.data).trace
    assert trace is not None
    assert trace.trace_headers[-1].organ_id == "000.00.00.H41"
    assert hub.fetch(SO, rcpt.delivery_id).data == fetched.data  # re-fetch: same bytes
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.PROCESSING)
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.DONE)
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.DONE)  # idempotent
    assert hub.count_received(SO, MessageKind.EDOC) == 0
    [sent] = hub.list_sent(UBND, result.doc_id)
    assert (sent.send_status, sent.to_code, sent.kind) == ("done", SO_CODE, MessageKind.EDOC)
    assert sent.received_at == sent.sent_at + dt.timedelta(seconds=60)
    with pytest.raises(IllegalTransition):
        hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)
    events = [e.event for e in hub.timeline(result.doc_id)]
    assert events == ["accepted", "queued→available", "available→fetched", "fetched→done"]


def test_done_without_a_fetch_takes_both_steps_in_one_transaction(hub: HubServices) -> None:
    """``done`` on a copy never fetched is two steps (fetch, then done), more than a one-step
    unit may write (on PostgreSQL it runs outside a transaction): the service takes a
    transaction for them, and both events and the report's audit row are stored."""
    result = hub.push(UBND, edoc())
    [rcpt] = result.recipients
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.DONE)
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.DONE)  # idempotent
    events = [e.event for e in hub.timeline(result.doc_id)]
    assert events == ["accepted", "queued→available", "available→fetched", "fetched→done"]
    with hub.deps.uow() as uow:
        reports = [r for r in uow.audit.recent(limit=50) if r.action == "update_status"]
    assert [(r.subject, r.details) for r in reports] == [(rcpt.delivery_id, {"status": "done"})]


def test_fail_relists_and_counts(hub: HubServices) -> None:
    [rcpt] = hub.push(UBND, edoc()).recipients
    drain(hub)
    hub.fetch(SO, rcpt.delivery_id)
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)
    [item] = hub.list_received(SO, MessageKind.EDOC)
    assert item.state == "available"
    with hub.deps.uow() as uow:
        row = uow.deliveries.get(rcpt.delivery_id)
        assert row is not None
        assert row.attempts == 1


def test_inbox_is_oldest_first(hub: HubServices, clock: ManualClock) -> None:
    ids = []
    for n in range(3):
        ids.append(hub.push(UBND, edoc(code_number=str(100 + n))).recipients[0].delivery_id)
        clock.advance(1)
    drain(hub)
    assert [i.delivery_id for i in hub.list_received(SO, MessageKind.EDOC)] == ids
    assert hub.count_received(SO, MessageKind.EDOC) == 3


def test_other_systems_cannot_see_or_touch_a_delivery(hub: HubServices) -> None:
    [rcpt] = hub.push(UBND, edoc()).recipients
    drain(hub)
    with pytest.raises(NotFound):
        hub.fetch(UBND, rcpt.delivery_id)
    with pytest.raises(NotFound):
        hub.update_status(UBND, rcpt.delivery_id, TransportStatus.DONE)
    with pytest.raises(NotFound):
        hub.list_sent(SO, hub.push(UBND, edoc(code_number="2")).doc_id)


# ------------------------------------------------------------------------------ idempotency


def test_same_bytes_twice_is_one_document(hub: HubServices) -> None:
    data = edoc()
    first = hub.push(UBND, data)
    again = hub.push(UBND, data)
    assert again.duplicate
    assert (again.doc_id, again.recipients) == (first.doc_id, first.recipients)
    assert len(hub.list_sent(UBND, None)) == 1


def test_concurrent_pushes_of_the_same_bytes_make_one_document(hub: HubServices) -> None:
    data = edoc(code_number="77")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: hub.push(UBND, data), range(4)))
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.doc_id for r in results}) == 1
    assert len(hub.list_sent(UBND, None)) == 1


def test_same_document_id_other_bytes_is_a_conflict(hub: HubServices) -> None:
    hub.push(UBND, edoc(document_id="DOC-1"))
    with pytest.raises(Conflict) as info:
        hub.push(UBND, edoc(document_id="DOC-1", subject="Khác"))
    assert info.value.code == "document.id_reused"
    assert "document.id_reused" in audit_outcomes(hub)


# ------------------------------------------------------------------------------- refusals


def test_a_system_sends_only_as_agencies_it_hosts(hub: HubServices) -> None:
    with pytest.raises(Forbidden):
        hub.push(SO, edoc())  # SO does not host SENDER
    with pytest.raises(Forbidden):
        hub.push(UBND, edoc(), declared_from="000.00.01.H41")  # hosted, but not From
    with pytest.raises(Forbidden):
        hub.push("qlvb.unknown", edoc())
    assert audit_outcomes(hub).count("auth.forbidden") == 3


def test_disabled_system_is_refused(hub: HubServices) -> None:
    hub.systems.disable(UBND)
    with pytest.raises(Forbidden):
        hub.push(UBND, edoc())


def test_size_cap_and_bad_xml(deps: Deps, config: HubConfig, hub: HubServices) -> None:
    small = HubServices(deps, dataclasses.replace(config, max_package_bytes=100), _box())
    with pytest.raises(PackageTooLarge):
        small.push(UBND, edoc())
    with pytest.raises(XmlError):
        hub.push(UBND, b"<edXML><unclosed>")
    with pytest.raises(XmlError):
        hub.push(UBND, b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>')
    assert {"request.too_large"} <= set(audit_outcomes(hub))


def test_profile_errors_refused_or_flagged_by_policy(deps: Deps, config: HubConfig) -> None:
    # A recipient without OrganId breaks meaning (an error); an empty Subject is a warning.
    bad = edoc(to=["", SO_CODE], subject="")
    strict = _hub(deps, config)
    with pytest.raises(ProfileError) as info:
        strict.push(UBND, bad)
    assert info.value.problems
    assert info.value.path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[1]/OrganId"
    lax_policy = PolicyBook(overrides={SENDER: SenderPolicy(profile_errors=Action.FLAG)})
    lax = HubServices(deps, dataclasses.replace(config, policy=lax_policy), _box())
    result = lax.push(UBND, bad)
    assert result.warnings == ("profile.errors", "profile.subject_missing")


def test_signature_verdicts_drive_the_policy(deps: Deps, config: HubConfig) -> None:
    class Fixed:
        def __init__(self, verdicts: Verdicts) -> None:
            self.verdicts = verdicts

        def verify(self, parsed: object, data: bytes, sender: str) -> Verdicts:
            return self.verdicts

    invalid = dataclasses.replace(deps, verifier=Fixed(Verdicts(EnvelopeStatus.INVALID)))
    with pytest.raises(PolicyRefused) as info:
        _hub(invalid, config).push(UBND, edoc())
    assert info.value.code == "policy.signature.invalid"
    missing = dataclasses.replace(deps, verifier=Fixed(Verdicts(EnvelopeStatus.MISSING)))
    flagged = _hub(missing, config, add=False)
    data = edoc(code_number="9")
    result = flagged.push(UBND, data)
    assert result.warnings == ("signature.missing",)
    assert flagged.push(UBND, data) == dataclasses.replace(result, duplicate=True)
    with deps.uow() as uow:
        doc = uow.documents.get(result.doc_id)
        assert doc is not None
        assert doc.verdicts["envelope"] == "missing"
        assert list(doc.flags) == ["signature.missing"]


# -------------------------------------------------------------------------------- routing


def test_routes_at_intake(hub: HubServices) -> None:
    to = ["000.00.21.H41", "000.00.99.H41", "000.00.00.G22", "000.00.00.H14", SO_CODE]
    result = hub.push(UBND, edoc(to=to))
    by = {r.recipient: r for r in result.recipients}
    closed = by["000.00.21.H41"]  # district closed 2025-07-01 → commune 65, hosted by SO
    assert (closed.route, closed.resolved, closed.state) == (
        Route.LOCAL,
        "000.00.65.H41",
        "available",
    )
    assert closed.reason
    with hub.deps.uow() as uow:  # both steps taken by the push, as the state machine has them
        steps = [
            (e.from_state, e.to_state, e.reason) for e in uow.deliveries.events(closed.delivery_id)
        ]
        unrouted = uow.deliveries.events(by["000.00.99.H41"].delivery_id)
    assert steps == [(None, "queued", "accepted"), ("queued", "available", None)]
    assert [(e.from_state, e.to_state) for e in unrouted] == [
        (None, "queued"),
        ("queued", "undeliverable"),
    ]
    assert unrouted[-1].reason == by["000.00.99.H41"].reason
    assert by["000.00.99.H41"].route is Route.NONE
    assert by["000.00.99.H41"].state == "undeliverable"
    assert by["000.00.00.G22"].route is Route.NATIONAL
    assert (by["000.00.00.H14"].route, by["000.00.00.H14"].peer_name) == (Route.PEER, "caobang")
    drain(hub)
    assert hub.count_received(SO, MessageKind.EDOC) == 2
    sent = {s.to_code: s for s in hub.list_sent(UBND, result.doc_id)}
    assert sent["000.00.99.H41"].send_status == "undeliverable"
    assert "không có hệ thống" in sent["000.00.99.H41"].send_status_desc
    assert sent["000.00.00.G22"].send_status == "forwarding"


def test_redrive_reroutes_after_the_registry_is_fixed(hub: HubServices, config: HubConfig) -> None:
    from hub.services.base import router

    result = hub.push(UBND, edoc(to=["000.00.04.H41"]))  # known, in scope, hosted by nobody
    [rcpt] = result.recipients
    assert rcpt.state == "undeliverable"
    hub.systems.set_agencies(SO, ["000.00.02.H41", "000.00.04.H41"])
    moved = redrive(
        hub.deps.uow,
        hub.deps.clock,
        [rcpt.delivery_id],
        router_for=lambda uow: router(hub.deps, config, uow),
    )
    assert moved == [rcpt.delivery_id]
    drain(hub)
    [item] = hub.list_received(SO, MessageKind.EDOC)
    assert item.delivery_id == rcpt.delivery_id


# ------------------------------------------------------------------------- status messages


def test_a_status_arriving_after_a_later_one_does_not_replace_it(hub: HubServices) -> None:
    """Statuses crossing hubs arrive in any order: the one the recipient stamped last stays."""
    pushed = hub.push(UBND, edoc(document_id="DOC-ORDER"))
    drain(hub)
    t0 = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
    for code, minutes in (("06", 20), ("03", 5), ("01", 0)):  # arrival order: newest first
        hub.push(
            SO,
            make_status(
                sender=SO_CODE, response_to=SENDER, document_id="DOC-ORDER", status_code=code,
                when=t0 + dt.timedelta(minutes=minutes),
            ),
        )  # fmt: skip
    [row] = hub.list_sent(UBND, pushed.doc_id)
    assert row.receive_status == "06"
    later = t0 + dt.timedelta(minutes=30)
    hub.push(
        SO,
        make_status(
            sender=SO_CODE, response_to=SENDER, document_id="DOC-ORDER", status_code="05",
            when=later,
        ),
    )  # fmt: skip
    [row] = hub.list_sent(UBND, pushed.doc_id)
    assert row.receive_status == "05"  # a newer one still replaces it


def test_status_is_recorded_even_when_the_original_moved_since_the_plan_read_it(
    hub: HubServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under READ COMMITTED the recipient's own acknowledgement may commit between the plan's
    read of the original's deliveries and the status write: simulated here by handing the
    write a row read before the fetch (state ``available``; the store says ``fetched``)."""
    pushed = hub.push(UBND, edoc(document_id="DOC-RACE"))
    drain(hub)
    hub.fetch(SO, pushed.recipients[0].delivery_id)
    plan = hub.intake._plan

    def read_before_the_fetch(uow, pkg):  # type: ignore[no-untyped-def]
        decided = plan(uow, pkg)
        stale = tuple(dataclasses.replace(r, state="available") for r in decided.original_rows)
        return dataclasses.replace(decided, original_rows=stale)

    monkeypatch.setattr(hub.intake, "_plan", read_before_the_fetch)
    hub.push(
        SO,
        make_status(sender=SO_CODE, response_to=SENDER, document_id="DOC-RACE", status_code="03"),
    )
    [row] = hub.list_sent(UBND, pushed.doc_id)
    assert (row.receive_status, row.send_status) == ("03", "fetched")


def test_a_fetch_that_loses_the_race_still_reads_but_never_a_revoked_copy(
    hub: HubServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two getEdoc of one copy in parallel: the second one's read of ``available`` is stale
    when it writes (simulated by handing it the row read before the first fetch)."""
    import hub.services.pull as pull_module

    first = hub.push(UBND, edoc(document_id="DOC-F1")).recipients[0].delivery_id
    second = hub.push(UBND, edoc(document_id="DOC-F2")).recipients[0].delivery_id
    drain(hub)
    with hub.deps.uow() as uow:
        before = {d: pull_module._own_delivery(uow, SO, d) for d in (first, second)}
    own = pull_module._own_delivery
    monkeypatch.setattr(pull_module, "_own_delivery", lambda uow, s, d: before[d])
    with hub.deps.uow() as uow:  # the winner: a parallel fetch of the first copy
        pull_module.advance(
            uow.deliveries, before[first][0], pull_module.Event.FETCH, at=hub.deps.clock.now()
        )
        uow.commit()
    assert b"DOC-F1" in hub.fetch(SO, first).data  # read, not "changed concurrently"
    with hub.deps.uow() as uow:  # the winner: the sender's revoke of the second copy
        pull_module.advance(
            uow.deliveries, before[second][0], pull_module.Event.REVOKE, at=hub.deps.clock.now()
        )
        uow.commit()
    with pytest.raises(NotFound):
        hub.fetch(SO, second)
    monkeypatch.setattr(pull_module, "_own_delivery", own)


def test_status_is_recorded_on_the_original_and_delivered(hub: HubServices) -> None:
    data = edoc(document_id="DOC-7")
    pushed = hub.push(UBND, data)
    drain(hub)
    delivery = pushed.recipients[0].delivery_id
    hub.fetch(SO, delivery)
    status = make_status(sender=SO_CODE, response_to=SENDER, document_id="DOC-7", status_code="03")
    result = hub.push(SO, status)
    assert result.kind is MessageKind.STATUS
    [to_sender] = result.recipients
    assert (to_sender.recipient, to_sender.route) == (SENDER, Route.LOCAL)
    [row] = hub.list_sent(UBND, pushed.doc_id)
    assert (row.receive_status, row.send_status) == ("03", "fetched")
    assert row.receive_status_desc
    drain(hub)
    [item] = hub.list_received(UBND, MessageKind.STATUS)
    assert item.kind is MessageKind.STATUS
    assert hub.fetch(UBND, item.delivery_id).kind is MessageKind.STATUS
    assert "status 03" in [e.event for e in hub.timeline(pushed.doc_id)]
    with hub.deps.uow() as uow:
        doc = uow.documents.get(result.doc_id)
        assert doc is not None
        assert doc.related_doc_id == pushed.doc_id


def test_status_about_an_unknown_document_is_flagged_not_lost(hub: HubServices) -> None:
    status = make_status(sender=SO_CODE, response_to=SENDER, document_id="NOPE")
    result = hub.push(SO, status)
    assert result.recipients[0].route is Route.LOCAL
    with hub.deps.uow() as uow:
        doc = uow.documents.get(result.doc_id)
        assert doc is not None
        assert "status.original_unknown" in doc.flags


# ------------------------------------------------------------------------ business actions


def test_revoke_before_fetch_withdraws_after_fetch_delivers(
    hub: HubServices, clock: ManualClock
) -> None:
    to = [SO_CODE, "000.00.03.H41"]
    original = hub.push(UBND, edoc(document_id="DOC-R", to=to))
    drain(hub)
    by = {r.recipient: r.delivery_id for r in original.recipients}
    hub.fetch(SO, by[SO_CODE])  # 02 took it, 03 did not
    clock.advance(1)
    revoke = hub.push(UBND, edoc(document_id="DOC-R", to=to, business_type=BussinessDocType.REVOKE))
    assert [r.recipient for r in revoke.recipients] == [SO_CODE]  # only the one that took it
    drain(hub)
    states = {s.to_code: s.send_status for s in hub.list_sent(UBND, original.doc_id)}
    assert states == {SO_CODE: "fetched", "000.00.03.H41": "revoked"}
    inbox = hub.list_received(SO, MessageKind.EDOC)
    assert [i.doc_id for i in inbox] == [original.doc_id, revoke.doc_id]
    assert {i.delivery_id for i in inbox}.isdisjoint({by["000.00.03.H41"]})
    with pytest.raises(NotFound):
        hub.fetch(SO, by["000.00.03.H41"])
    # the recipient answers the revoke with 15 (agreed): recorded on the revoke's delivery
    hub.push(SO, make_status(sender=SO_CODE, response_to=SENDER, document_id="DOC-R",
                             status_code="15"))  # fmt: skip
    rows = {r.doc_id: r for r in hub.list_sent(UBND, None) if r.to_code == SO_CODE}
    assert rows[revoke.doc_id].receive_status == "15"


def test_recall_request_status_13_withdraws_untaken_copies(hub: HubServices) -> None:
    original = hub.push(UBND, edoc(document_id="DOC-13"))
    drain(hub)
    recall = make_status(sender=SENDER, response_to=SENDER, document_id="DOC-13", status_code="13")
    result = hub.push(UBND, recall)
    assert result.recipients == ()
    [row] = hub.list_sent(UBND, original.doc_id)
    assert row.send_status == "revoked"


def test_update_with_receiver_list_and_replace_links(hub: HubServices) -> None:
    original = hub.push(UBND, edoc(document_id="DOC-U"))
    pkg = edoc_package(sender=SENDER, to=[SO_CODE], document_id="DOC-U",
                       business_type=BussinessDocType.UPDATE)  # fmt: skip
    assert pkg.trace is not None
    assert pkg.trace.bussiness is not None
    info = BussinessDocumentInfo(1, 1, (Receiver("000.00.03.H41", 1),))
    bussiness = dataclasses.replace(pkg.trace.bussiness, document_info=info)
    pkg = dataclasses.replace(pkg, trace=dataclasses.replace(pkg.trace, bussiness=bussiness))
    update = hub.push(UBND, write_edoc(pkg, [pdf_attachment()]))
    assert [r.recipient for r in update.recipients] == ["000.00.03.H41"]

    rpkg = edoc_package(sender=SENDER, to=[SO_CODE], document_id="DOC-NEW",
                        business_type=BussinessDocType.REPLACE)  # fmt: skip
    assert rpkg.trace is not None
    assert rpkg.trace.bussiness is not None
    rb = dataclasses.replace(
        rpkg.trace.bussiness, replacements=(ReplacementInfo("DOC-U", (SO_CODE,)),)
    )
    rpkg = dataclasses.replace(rpkg, trace=dataclasses.replace(rpkg.trace, bussiness=rb))
    replace = hub.push(UBND, write_edoc(rpkg, [pdf_attachment()]))
    with hub.deps.uow() as uow:
        u = uow.documents.get(update.doc_id)
        r = uow.documents.get(replace.doc_id)
        assert u is not None
        assert r is not None
        assert u.related_doc_id == original.doc_id
        assert r.related_doc_id == original.doc_id
        assert f"replaces:{original.doc_id}" in r.flags


# ----------------------------------------------------------------------- agencies, systems


def test_agencies_list_register_delete(hub: HubServices) -> None:
    listed = {a.code: a for a in hub.list_agencies(SO)}
    assert listed[SO_CODE].hosted_by == SO
    assert listed["000.00.00.G22"].hosted_by is None
    new = AgencyRecord(id="x", code="001.00.02.H41", name="Phòng Tổ chức", parent_code=SO_CODE)
    hub.register_agency(SO, new)
    assert {a.code: a for a in hub.list_agencies(SO)}["001.00.02.H41"].hosted_by == SO
    with pytest.raises(Forbidden):
        hub.register_agency(UBND, dataclasses.replace(new, code="002.00.02.H41"))
    with pytest.raises(Forbidden):  # hosted by SO already
        hub.register_agency(UBND, dataclasses.replace(new, parent_code=SENDER))
    with pytest.raises(NotFound):
        hub.delete_agency(UBND, SO_CODE)
    hub.delete_agency(SO, "001.00.02.h41")  # the code in another case names the same agency
    assert "001.00.02.H41" not in {a.code for a in hub.list_agencies(SO)}
    with hub.deps.uow() as uow:
        rows = [
            r for r in uow.agencies.list(include_deleted=True) if r.code.upper() == "001.00.02.H41"
        ]
    assert [(r.code, r.deleted) for r in rows] == [("001.00.02.H41", True)]


def test_register_cannot_claim_a_known_agency_by_naming_a_hosted_parent(
    hub: HubServices,
) -> None:
    # 000.00.00.G22 is in the registry and hosted by no system here (its mail goes to the
    # national axis): naming one's own agency as its parent must not make it one's own.
    claim = AgencyRecord(id="g22", code="000.00.00.G22", name="Bộ khác", parent_code=SO_CODE)
    with pytest.raises(Forbidden):
        hub.register_agency(SO, claim)
    assert {a.code: a for a in hub.list_agencies(SO)}["000.00.00.G22"].hosted_by is None
    with pytest.raises(Forbidden):  # so it cannot send as that agency either
        hub.push(SO, edoc(sender="000.00.00.G22", to=[SENDER]))
    # A unit registered under its own agency by one system cannot be re-parented by another.
    unit = AgencyRecord(id="u", code="001.00.00.H41", name="Văn phòng", parent_code=SENDER)
    hub.register_agency(UBND, unit)
    hub.delete_agency(UBND, "001.00.00.H41")  # deleted: a new unit may take the code again
    with hub.deps.uow() as uow:  # a known agency no system hosts (e.g. imported)
        uow.agencies.upsert(AgencyRow(code="002.00.00.H41", name="Sở", parent_code=SENDER))
        uow.commit()
    for variant in ("002.00.00.H41", "002.00.00.h41"):
        with pytest.raises(Forbidden):
            hub.register_agency(SO, dataclasses.replace(unit, code=variant, parent_code=SO_CODE))
    hub.register_agency(SO, dataclasses.replace(unit, parent_code=SO_CODE))
    assert {a.code: a for a in hub.list_agencies(SO)}["001.00.00.H41"].hosted_by == SO


def test_system_secrets_rotate_and_never_show(hub: HubServices) -> None:
    creds = hub.credentials(UBND)
    assert creds is not None
    assert creds.secrets == ("ubnd-secret",)
    new = hub.systems.rotate(UBND)
    creds = hub.credentials(UBND)
    assert creds is not None
    assert creds.secrets == (new, "ubnd-secret")
    assert new not in repr(creds)
    hub.systems.rotate(UBND, "third")
    creds = hub.credentials(UBND)
    assert creds is not None
    assert creds.secrets == ("third", new)
    assert hub.credentials("nobody") is None
    with pytest.raises(Conflict):
        hub.systems.add("qlvb.other", [SO_CODE])
    info = {s.id: s for s in hub.systems.list()}
    assert info[UBND].rotating
    with hub.deps.uow() as uow:
        row = uow.systems.get(UBND)
        assert row is not None
        assert "third" not in row.secret_enc
        assert "third" not in json.dumps([r.details for r in uow.audit.recent()])


# ------------------------------------------------------------------------------- helpers


def _box() -> SecretBox:
    return SecretBox(generate_key())


def _hub(deps: Deps, config: HubConfig, *, add: bool = True) -> HubServices:
    services = HubServices(deps, config, _box())
    if add:
        services.systems.add(UBND, ["000.00.00.H41"], secret="s")
    return services
