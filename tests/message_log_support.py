"""A populated hub for the message log and timeline tests (service level and through the
console): local, forwarded, undeliverable, inbound, statuses, a remote state and a revoke.

Every step moves the clock on (``ManualClock``), so the order of the log is known without
depending on the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.memory import ManualClock, MemoryPeer
from hub.delivery import State
from hub.edxml.model import BussinessDocType, MessageKind
from hub.messaging import RetryPolicy
from hub.ports import RemoteDeliveryState
from hub.services.contracts import TransportStatus
from hub.services.dispatch import DispatchHandler, ForwardHandler
from hub.services.hub import HubServices
from hub.services.inbound import InboundPoller, RemoteTracker
from tests.factories import make_edoc, make_status

UBND, SO = "qlvb.ubnd", "qlvb.so"
UBND_CODE = "000.00.00.H41"  # hosted by UBND
SO_CODE = "000.00.02.H41"  # hosted by SO
UNKNOWN = "000.99.99.H41"  # in scope, hosted by nobody: undeliverable
G22 = "000.00.00.G22"  # outside the scope: the national axis
HOSTILE_SUBJECT = '=HYPERLINK("http://x.invalid","bấm") <script>'


@dataclass(frozen=True)
class Scenario:
    """The ids of what :func:`populate` made (``a``: local + forwarded + status + revoke)."""

    a: str  # UBND → SO (fetched, status 03) + G22 (forwarded, remote "processing")
    a_local: str  # a's delivery to SO
    a_national: str  # a's delivery to G22
    b: str  # UBND → UNKNOWN (undeliverable), 12/QĐ-UBND, hostile subject
    b_delivery: str
    revoke: str  # UBND's revoke of a
    status: str  # SO's status 03 about a
    inbound: str  # from G22 through the axis, to SO
    remote_id: str  # the axis' id of a's forwarded copy


def dispatch_queued(hub: HubServices) -> None:
    """Move every queued delivery on (the dispatch worker's job)."""
    with hub.deps.uow() as uow:
        ids = [d.id for d in uow.deliveries.in_state(State.QUEUED.value, limit=1000)]
    DispatchHandler(hub.deps.uow, hub.deps.clock, wake_outbox=lambda: None).dispatch(ids)


def populate(hub: HubServices, peer: MemoryPeer, clock: ManualClock) -> Scenario:
    """Fill the hub (systems UBND and SO connected) as :class:`Scenario` says."""
    a = hub.push(
        UBND,
        make_edoc(
            sender=UBND_CODE,
            to=[SO_CODE, G22],
            document_id="H41-A",
            code_number="7816",
            code_notation="VPCP-TTĐT",
            subject="V/v triển khai văn bản điện tử",
        ),
    )
    by = {r.recipient: r.delivery_id for r in a.recipients}
    dispatch_queued(hub)
    forward = ForwardHandler(
        hub.deps.uow,
        hub.deps.blobs,
        {peer.name: peer.link},
        clock,
        organ_id=hub.config.organ_id,
        retry=RetryPolicy(),
    )
    remote_id = forward.forward(by[G22])
    assert remote_id is not None
    clock.advance(60)
    hub.fetch(SO, by[SO_CODE])
    clock.advance(60)
    status = hub.push(
        SO,
        make_status(sender=SO_CODE, response_to=UBND_CODE, document_id="H41-A", status_code="03"),
    )
    clock.advance(60)
    peer.states[remote_id] = [
        RemoteDeliveryState(remote_id, G22, TransportStatus.PROCESSING.value, "đã lấy")
    ]
    RemoteTracker(hub.deps, [peer.as_peer()]).track()
    clock.advance(60)
    b = hub.push(
        UBND,
        make_edoc(
            sender=UBND_CODE,
            to=[UNKNOWN],
            document_id="H41-B",
            code_number="12",
            code_notation="QĐ-UBND",
            subject=HOSTILE_SUBJECT,
        ),
    )
    clock.advance(60)
    peer.hold(make_edoc(sender=G22, to=[SO_CODE], document_id="G22-C", code_number="99"))
    InboundPoller(hub.deps, hub.intake, [peer.as_peer()]).poll()
    clock.advance(60)
    revoke = hub.push(
        UBND,
        make_edoc(
            sender=UBND_CODE,
            to=[SO_CODE, G22],
            document_id="H41-A",
            business_type=BussinessDocType.REVOKE,
        ),
    )
    dispatch_queued(hub)
    inbound = [i.doc_id for i in hub.list_received(SO, MessageKind.EDOC)]
    assert len(inbound) >= 2
    with hub.deps.uow() as uow:
        came = [d for d in inbound if (doc := uow.documents.get(d)) and doc.sender_code == G22]
    return Scenario(
        a=a.doc_id,
        a_local=by[SO_CODE],
        a_national=by[G22],
        b=b.doc_id,
        b_delivery=b.recipients[0].delivery_id,
        revoke=revoke.doc_id,
        status=status.doc_id,
        inbound=came[0],
        remote_id=remote_id,
    )
