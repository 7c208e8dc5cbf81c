"""The inbound poller, the remote-state tracker and the hosting announcer, over each store with
an in-memory peer (:class:`adapters.memory.MemoryPeer`): items taken through the same intake as
a local push, acknowledged only after the commit, crash safety (re-fetch after a commit without
acknowledgement is the same document), refusals acknowledged ``fail`` and never fetched again,
statuses both ways, revoke across hubs, remote state in the sent list."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable

import pytest

from adapters.memory import ManualClock, MemoryPeer
from hub.delivery import State
from hub.edxml.model import (
    BussinessDocType,
    BussinessDocumentInfo,
    MessageKind,
    Receiver,
    ReplacementInfo,
)
from hub.edxml.reader import read
from hub.edxml.writer import write_edoc
from hub.errors import Conflict, Forbidden
from hub.messaging import RetryPolicy
from hub.ports import NATIONAL_LINK, RemoteDeliveryState, UnitOfWork
from hub.services.announce import HostingAnnouncer
from hub.services.contracts import PushResult, Route, TransportStatus
from hub.services.dispatch import DispatchHandler, ForwardHandler
from hub.services.hub import HubServices
from hub.services.inbound import InboundPoller, RemoteTracker
from hub.services.intake import Intake, peer_identity
from tests.factories import edoc_package, make_edoc, make_status, pdf_attachment
from tests.unit.hub.conftest import SO, UBND

G22 = "000.00.00.G22"  # Văn phòng Chính phủ: outside the hub's scope (H41, K41)
H14 = "000.00.00.H14"  # Cao Bằng: another province (a configured peer hub's scope)
SO_CODE = "000.00.02.H41"  # hosted by SO
UBND_CODE = "000.00.00.H41"  # hosted by UBND


@pytest.fixture
def peer() -> MemoryPeer:
    return MemoryPeer(NATIONAL_LINK)


@pytest.fixture
def poller(hub: HubServices, peer: MemoryPeer) -> InboundPoller:
    return InboundPoller(hub.deps, hub.intake, [peer.as_peer()])


def _dispatch_queued(hub: HubServices) -> None:
    """Move every queued delivery on (the dispatch worker's job)."""
    with hub.deps.uow() as uow:
        ids = [d.id for d in uow.deliveries.in_state(State.QUEUED.value, limit=1000)]
    DispatchHandler(hub.deps.uow, hub.deps.clock, wake_outbox=lambda: None).dispatch(ids)


def _inbox(hub: HubServices, system: str, kind: MessageKind = MessageKind.EDOC) -> list[str]:
    _dispatch_queued(hub)
    return [i.doc_id for i in hub.list_received(system, kind)]


def test_an_item_goes_through_the_intake_and_is_acknowledged_after_the_commit(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    data = make_edoc(sender=G22, to=[SO_CODE], document_id="G22-1")
    remote_id = peer.hold(data)

    report = poller.poll()

    assert report.accepted == [remote_id]
    assert not report.refused
    assert peer.acks == [(remote_id, True, None)]
    (doc_id,) = _inbox(hub, SO)  # in the local recipient's inbox, like a local push
    with hub.deps.uow() as uow:
        doc = uow.documents.get(doc_id)
        row = uow.inbound.get(NATIONAL_LINK, remote_id)
    assert doc is not None
    assert doc.sender_system == peer_identity(NATIONAL_LINK)
    assert doc.sender_code == G22
    assert row is not None
    assert row.outcome == "accepted"
    assert row.doc_id == doc_id
    assert row.acked_at is not None
    assert hub.fetch(SO, hub.list_received(SO, MessageKind.EDOC)[0].delivery_id).data


def test_a_crash_between_commit_and_acknowledgement_refetches_the_same_document(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    data = make_edoc(sender=G22, to=[SO_CODE], document_id="G22-CRASH")
    remote_id = peer.hold(data)
    # A previous poller committed the package and died before recording or acknowledging it.
    first = hub.intake.push_from_peer(NATIONAL_LINK, data)
    assert peer.acks == []

    report = poller.poll()

    assert report.accepted == [remote_id]
    assert peer.fetches == [remote_id]  # fetched again …
    assert peer.acks == [(remote_id, True, None)]  # … acknowledged once committed
    assert _inbox(hub, SO) == [first.doc_id]  # one document, one copy: no second delivery
    with hub.deps.uow() as uow:
        assert uow.inbound.get(NATIONAL_LINK, remote_id).doc_id == first.doc_id  # type: ignore[union-attr]
        assert len(uow.deliveries.for_document(first.doc_id)) == 1


def test_a_lost_acknowledgement_is_sent_again_without_fetching_again(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    remote_id = peer.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-ACK"))
    peer.fail_next_ack()

    first = poller.poll()
    assert first.errors == [f"{NATIONAL_LINK}: peer.unavailable"]
    assert peer.acks == []
    with hub.deps.uow() as uow:
        owed = uow.inbound.get(NATIONAL_LINK, remote_id)
    assert owed is not None
    assert owed.outcome == "accepted"
    assert owed.acked_at is None

    second = poller.poll()

    assert second.skipped == 1
    assert not second.accepted
    assert peer.fetches == [remote_id]  # the bytes were taken once
    assert peer.acks == [(remote_id, True, None)]
    assert len(_inbox(hub, SO)) == 1


def test_a_refused_item_is_acknowledged_fail_recorded_and_never_fetched_again(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller, caplog: pytest.LogCaptureFixture
) -> None:
    # A peer may not speak for an agency of this hub: mail "from" SO_CODE is forged.
    forged = peer.hold(make_edoc(sender=SO_CODE, to=[UBND_CODE], document_id="FORGED"))
    broken = peer.hold(b"<edXML>not a package")

    with caplog.at_level(logging.INFO, logger="lienthong.security"):
        report = poller.poll()

    events = {
        e["remote_id"]: e
        for e in (json.loads(r.getMessage()) for r in caplog.records)
        if e["event"] == "inbound_refused"
    }
    assert events[broken]["category"] == "malformed_package"
    assert events[forged]["code"] == "auth.forbidden"
    assert events[forged]["peer"] == peer.name

    assert sorted(report.refused) == sorted([forged, broken])
    assert {(rid, ok) for rid, ok, _ in peer.acks} == {(forged, False), (broken, False)}
    with hub.deps.uow() as uow:
        rows = {r.remote_id: r for r in uow.inbound.recent(outcome="refused")}
    assert rows[forged].reason is not None
    assert rows[forged].reason.startswith("auth.forbidden")
    assert rows[broken].reason is not None
    assert rows[broken].reason.startswith("xml.")
    assert _inbox(hub, UBND) == []

    again = poller.poll()  # the peer lists failed items again: they are not taken again

    assert again.skipped == 2
    assert not again.refused
    assert not again.accepted
    assert sorted(peer.fetches) == sorted([forged, broken])
    assert len(peer.acks) == 2


def test_a_package_for_nobody_served_here_is_refused_and_not_relayed(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    remote_id = peer.hold(make_edoc(sender=G22, to=[H14], document_id="G22-H14"))

    report = poller.poll()

    assert report.refused == [remote_id]
    with hub.deps.uow() as uow:
        row = uow.inbound.get(NATIONAL_LINK, remote_id)
    assert row is not None
    assert row.reason is not None
    assert row.reason.startswith("inbound.not_for_us")


def test_only_recipients_served_here_get_a_copy(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    peer.hold(make_edoc(sender=G22, to=[SO_CODE, H14, "000.00.00.G09"], document_id="G22-M"))

    poller.poll()

    (doc_id,) = _inbox(hub, SO)
    with hub.deps.uow() as uow:
        routes = [(d.recipient_code, d.route) for d in uow.deliveries.for_document(doc_id)]
    assert routes == [(SO_CODE, Route.LOCAL.value)]  # the axis delivers to H14 and G09 itself


def test_a_local_system_may_not_send_as_a_remote_agency_either(hub: HubServices) -> None:
    with pytest.raises(Forbidden):
        hub.push(SO, make_edoc(sender=G22, to=[UBND_CODE], document_id="G22-FAKE"))


def _forward_all(hub: HubServices, peer: MemoryPeer, doc_id: str) -> list[str]:
    """Dispatch and forward every delivery of ``doc_id`` through ``peer`` (the workers' job)."""
    clock = hub.deps.clock
    with hub.deps.uow() as uow:
        ids = [d.id for d in uow.deliveries.for_document(doc_id)]
    DispatchHandler(hub.deps.uow, clock, wake_outbox=lambda: None).dispatch(ids)
    forward = ForwardHandler(
        hub.deps.uow,
        hub.deps.blobs,
        {peer.name: peer.link},
        clock,
        organ_id=hub.config.organ_id,
        retry=RetryPolicy(),
    )
    return [r for r in (forward.forward(i) for i in ids) if r is not None]


def test_a_status_from_the_axis_reaches_the_sender_and_its_sent_list(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    sent = hub.push(SO, make_edoc(sender=SO_CODE, to=[G22], document_id="SO-1"))
    assert [r.route for r in sent.recipients] == [Route.NATIONAL]
    (remote_id,) = _forward_all(hub, peer, sent.doc_id)
    with hub.deps.uow() as uow:
        (delivery,) = uow.deliveries.for_document(sent.doc_id)
    assert delivery.state == State.FORWARDED
    assert delivery.remote_id == remote_id

    status = make_status(sender=G22, response_to=SO_CODE, document_id="SO-1", status_code="03")
    peer.hold(status, MessageKind.STATUS)
    report = poller.poll()

    assert len(report.accepted) == 1
    assert len(_inbox(hub, SO, MessageKind.STATUS)) == 1  # the sender's status inbox
    (row,) = hub.list_sent(SO, sent.doc_id)
    assert row.receive_status == "03"  # business_status on the original delivery
    assert row.send_status == State.FORWARDED


def test_a_status_about_a_document_from_the_axis_goes_back_through_the_axis(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    peer.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-ST"))
    poller.poll()
    (doc_id,) = _inbox(hub, SO)

    answer = hub.push(
        SO, make_status(sender=SO_CODE, response_to=G22, document_id="G22-ST", status_code="05")
    )

    assert [r.route for r in answer.recipients] == [Route.NATIONAL]
    with hub.deps.uow() as uow:
        (copy,) = uow.deliveries.for_document(doc_id)
    assert copy.business_status == "05"  # recorded on the copy the status answers
    assert _forward_all(hub, peer, answer.doc_id)
    assert peer.link.sent[-1].kind is MessageKind.STATUS
    assert peer.link.sent[-1].to_codes == (G22,)


def test_a_revoke_from_the_axis_withdraws_the_untaken_copy(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    peer.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-RV", code_number="11"))
    poller.poll()
    (original,) = _inbox(hub, SO)
    with hub.deps.uow() as uow:
        (copy,) = uow.deliveries.for_document(original)

    revoke = make_edoc(
        sender=G22,
        to=[SO_CODE],
        document_id="G22-RV",
        code_number="11",
        business_type=BussinessDocType.REVOKE,
    )
    peer.hold(revoke)
    report = poller.poll()

    assert len(report.accepted) == 1
    with hub.deps.uow() as uow:
        assert uow.deliveries.get(copy.id).state == State.REVOKED  # type: ignore[union-attr]
    assert _inbox(hub, SO) == []


def test_the_tracker_shows_the_remote_state_in_the_sent_list(
    hub: HubServices, peer: MemoryPeer, clock: ManualClock
) -> None:
    sent = hub.push(SO, make_edoc(sender=SO_CODE, to=[G22], document_id="SO-TR"))
    (remote_id,) = _forward_all(hub, peer, sent.doc_id)
    tracker = RemoteTracker(hub.deps, [peer.as_peer()])
    assert tracker.track() == 0  # the peer has no news yet
    (row,) = hub.list_sent(SO, sent.doc_id)
    assert row.send_status == State.FORWARDED

    peer.states[remote_id] = [
        RemoteDeliveryState(remote_id, G22, TransportStatus.PROCESSING.value, "đã lấy")
    ]
    assert tracker.track() == 0  # asked a moment ago: the peer is not asked again yet
    clock.advance(60)
    assert tracker.track() == 1
    (row,) = hub.list_sent(SO, sent.doc_id)
    assert row.send_status == State.FETCHED
    assert row.received_at is not None

    peer.states[remote_id] = [RemoteDeliveryState(remote_id, G22, TransportStatus.DONE.value)]
    clock.advance(60)
    assert tracker.track() == 1
    (row,) = hub.list_sent(SO, sent.doc_id)
    assert row.send_status == State.DONE
    clock.advance(60)
    assert tracker.track() == 0  # done is final: no longer asked about
    with hub.deps.uow() as uow:
        assert uow.deliveries.tracked(hub.deps.clock.now() - tracker.horizon) == []


def test_hosted_agencies_are_announced_parents_first_and_withdrawn(
    hub: HubServices, peer: MemoryPeer
) -> None:
    announcer = HostingAnnouncer(hub.deps, [peer.as_peer()], hub.config.scope)

    done = announcer.sync()

    hosted = {c for s in hub.systems.list() for c in s.agencies}
    assert set(done[peer.name]) == hosted == set(peer.directory_rows)
    order = done[peer.name]
    assert order.index(UBND_CODE) < order.index(SO_CODE)  # the province before its department
    assert peer.directory_rows[SO_CODE].parent_code == UBND_CODE
    assert announcer.sync() == {peer.name: []}  # nothing new: nothing sent

    removed = hub.systems.remove(SO)
    announcer.sync()

    assert set(peer.deleted) == set(removed)
    assert SO_CODE in peer.deleted
    assert set(peer.directory_rows) == hosted - set(removed)


def test_a_hosted_code_the_registry_does_not_know_is_announced_under_its_code_parent(
    hub: HubServices, peer: MemoryPeer
) -> None:
    # A new department and its unit, in no registry entry: without a parent the parent hub
    # refuses them (a unit under nothing the caller hosts) and their mail never comes here.
    dept, unit = "000.00.97.H41", "000.01.97.H41"
    hub.systems.add("qlvb.so-moi", [unit, dept], secret="so-moi-secret")
    announcer = HostingAnnouncer(hub.deps, [peer.as_peer()], hub.config.scope)

    order = announcer.sync()[peer.name]

    assert peer.directory_rows[dept].parent_code == UBND_CODE
    assert peer.directory_rows[unit].parent_code == dept
    assert order.index(UBND_CODE) < order.index(dept) < order.index(unit)


def test_an_item_the_peer_will_not_hand_out_does_not_hold_up_the_others(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    gone = peer.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-GONE"))
    later = peer.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-LATER"))
    peer.withhold(gone)

    report = poller.poll()

    assert report.accepted == [later]
    assert report.errors == [f"{NATIONAL_LINK}: {gone}: vxp.fail"]
    with hub.deps.uow() as uow:
        assert uow.inbound.get(NATIONAL_LINK, gone) is None  # not a refusal: tried again
    assert [rid for rid, _, _ in peer.acks] == [later]


def test_the_tracker_pages_through_copies_without_news(hub: HubServices, peer: MemoryPeer) -> None:
    first = hub.push(SO, make_edoc(sender=SO_CODE, to=[G22], document_id="SO-P1"))
    (quiet,) = _forward_all(hub, peer, first.doc_id)
    hub.deps.clock.advance(1)  # type: ignore[attr-defined]
    second = hub.push(SO, make_edoc(sender=SO_CODE, to=[G22], document_id="SO-P2"))
    (news,) = _forward_all(hub, peer, second.doc_id)
    peer.states[news] = [RemoteDeliveryState(news, G22, TransportStatus.DONE.value)]
    tracker = RemoteTracker(hub.deps, [peer.as_peer()], batch=1)

    assert tracker.track() == 0  # the oldest copy: no news
    assert tracker.track() == 1  # the next page, not the same copy again
    (row,) = hub.list_sent(SO, second.doc_id)
    assert row.send_status == State.DONE
    assert quiet != news


def test_a_peer_hub_speaks_only_for_its_own_scope(hub: HubServices) -> None:
    caobang = MemoryPeer("caobang")  # a configured peer hub (scope H14, see conftest)
    poller = InboundPoller(hub.deps, hub.intake, [caobang.as_peer()])
    own = caobang.hold(make_edoc(sender=H14, to=[SO_CODE], document_id="H14-1"))
    other = caobang.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-VIA-H14"))

    report = poller.poll()

    assert report.accepted == [own]
    assert report.refused == [other]


def test_update_and_replace_from_the_axis_link_to_the_original(
    hub: HubServices, peer: MemoryPeer, poller: InboundPoller
) -> None:
    peer.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-U"))
    poller.poll()
    (original,) = _inbox(hub, SO)
    pkg = edoc_package(sender=G22, to=[SO_CODE], document_id="G22-U",
                       business_type=BussinessDocType.UPDATE, code_number="12")  # fmt: skip
    assert pkg.trace is not None
    assert pkg.trace.bussiness is not None
    info = BussinessDocumentInfo(1, 1, (Receiver("000.00.03.H41", 1), Receiver(H14, 1)))
    bussiness = dataclasses.replace(pkg.trace.bussiness, document_info=info)
    pkg = dataclasses.replace(pkg, trace=dataclasses.replace(pkg.trace, bussiness=bussiness))
    update = peer.hold(write_edoc(pkg, [pdf_attachment()]))
    rpkg = edoc_package(sender=G22, to=[SO_CODE], document_id="G22-R",
                        business_type=BussinessDocType.REPLACE, code_number="13")  # fmt: skip
    assert rpkg.trace is not None
    assert rpkg.trace.bussiness is not None
    rb = dataclasses.replace(
        rpkg.trace.bussiness, replacements=(ReplacementInfo("G22-U", (SO_CODE,)),)
    )
    rpkg = dataclasses.replace(rpkg, trace=dataclasses.replace(rpkg.trace, bussiness=rb))
    replace = peer.hold(write_edoc(rpkg, [pdf_attachment()]))

    report = poller.poll()

    assert sorted(report.accepted) == sorted([update, replace])
    with hub.deps.uow() as uow:
        u = uow.documents.get(uow.inbound.get(NATIONAL_LINK, update).doc_id)  # type: ignore[union-attr,arg-type]
        r = uow.documents.get(uow.inbound.get(NATIONAL_LINK, replace).doc_id)  # type: ignore[union-attr,arg-type]
        assert u is not None
        assert r is not None
        # The update's new receivers: only the one served here gets a copy (H14 is the axis').
        assert [d.recipient_code for d in uow.deliveries.for_document(u.id)] == ["000.00.03.H41"]
    assert u.related_doc_id == original
    assert r.related_doc_id == original
    assert f"replaces:{original}" in r.flags


def test_a_local_revoke_of_a_forwarded_document_follows_it_through_the_axis(
    hub: HubServices, peer: MemoryPeer
) -> None:
    sent = hub.push(SO, make_edoc(sender=SO_CODE, to=[G22], document_id="SO-RV", code_number="21"))
    assert _forward_all(hub, peer, sent.doc_id)
    revoke = hub.push(
        SO,
        make_edoc(sender=SO_CODE, to=[G22], document_id="SO-RV", code_number="21",
                  business_type=BussinessDocType.REVOKE),
    )  # fmt: skip

    assert [r.route for r in revoke.recipients] == [Route.NATIONAL]
    assert _forward_all(hub, peer, revoke.doc_id)
    assert [read(s.data).business_type for s in peer.link.sent] == [  # type: ignore[union-attr]
        BussinessDocType.NEW,
        BussinessDocType.REVOKE,
    ]


class _RacedOnce(Intake):
    """The real intake, losing one compare-and-set race first (a local worker moved a copy
    the package revokes between the plan's read and its write)."""

    raced = False

    def push_from_peer(
        self,
        peer: str,
        data: bytes,
        *,
        also: Callable[[UnitOfWork, PushResult], None] | None = None,
    ) -> PushResult:
        if not self.raced:
            self.raced = True
            raise Conflict("delivery changed concurrently", code="delivery.raced")
        return super().push_from_peer(peer, data, also=also)


def test_a_race_lost_to_a_local_worker_is_not_a_refusal(hub: HubServices, peer: MemoryPeer) -> None:
    poller = InboundPoller(hub.deps, _RacedOnce(hub.deps, hub.config), [peer.as_peer()])
    remote_id = peer.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-RACE"))

    first = poller.poll()
    assert first.errors == [f"{NATIONAL_LINK}: {remote_id}: delivery.raced"]
    assert not first.refused
    assert peer.acks == []

    second = poller.poll()
    assert second.accepted == [remote_id]
    assert peer.acks == [(remote_id, True, None)]


def test_a_full_page_of_decided_items_is_reported(
    hub: HubServices, peer: MemoryPeer, caplog: pytest.LogCaptureFixture
) -> None:
    poller = InboundPoller(hub.deps, hub.intake, [peer.as_peer()], batch=2)
    for n in range(2):
        peer.hold(make_edoc(sender=SO_CODE, to=[UBND_CODE], document_id=f"FORGED-{n}"))
    assert len(poller.poll().refused) == 2
    caplog.set_level("WARNING", logger="hub.services.inbound")

    poller.poll()

    assert "all 2 listed edoc items were decided before" in caplog.text
