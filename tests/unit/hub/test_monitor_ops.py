"""The IT read model behind ``lienthong deadletters``, ``queues`` and ``trace``
(``Monitor.dead_letters``, ``backlog``, ``trace``) over every store: the in-memory fake, SQLite
and PostgreSQL (this folder's ``uow_factory``)."""

from __future__ import annotations

import pytest

from adapters.memory import ManualClock
from hub.delivery import Event, advance
from hub.edxml.model import BussinessDocType, MessageKind
from hub.errors import NotFound
from hub.ports import InboundRow, UnitOfWorkFactory
from hub.services.contracts import PushResult
from hub.services.hub import HubServices
from hub.services.monitor import Monitor
from tests.factories import make_edoc
from tests.unit.hub.conftest import SO, UBND

SENDER = "000.00.00.H41"
LOCAL_TO = "000.00.02.H41"  # hosted by qlvb.so
UNKNOWN_TO = "000.99.99.H41"  # → undeliverable at intake
NATIONAL_TO = "000.00.00.G22"  # → national axis
PEER_TO = "000.00.00.H14"  # Cao Bằng → peer hub "caobang"


@pytest.fixture
def monitor(uow_factory: UnitOfWorkFactory, clock: ManualClock) -> Monitor:
    return Monitor(uow_factory, clock)


def _ids(result: PushResult) -> dict[str, str]:
    return {r.recipient: r.delivery_id for r in result.recipients}


def _move(
    uow_factory: UnitOfWorkFactory,
    clock: ManualClock,
    delivery_id: str,
    *events: Event,
    **changes: object,
) -> None:
    with uow_factory() as uow:
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        for n, event in enumerate(events):
            last = n == len(events) - 1
            row = advance(
                uow.deliveries,
                row,
                event,
                at=clock.now(),
                reason="peer down",
                **(changes if last else {}),
            )
        uow.commit()


@pytest.fixture
def pushed(hub: HubServices, uow_factory: UnitOfWorkFactory, clock: ManualClock) -> PushResult:
    """One document: local (queued), undeliverable, national (dead), peer hub (dead)."""
    result = hub.push(
        UBND,
        make_edoc(
            sender=SENDER, document_id="DOC-T", to=[LOCAL_TO, UNKNOWN_TO, NATIONAL_TO, PEER_TO]
        ),
    )
    clock.advance(60)
    ids = _ids(result)
    for code in (NATIONAL_TO, PEER_TO):
        _move(
            uow_factory,
            clock,
            ids[code],
            Event.DISPATCH_REMOTE,
            Event.FORWARD_FAILED,
            Event.GIVE_UP,
        )
        clock.advance(1)
    return result


def test_dead_letters_oldest_first_with_filters(
    monitor: Monitor, pushed: PushResult, hub: HubServices
) -> None:
    ids = _ids(pushed)
    items = monitor.dead_letters()
    assert [i.delivery.id for i in items] == [ids[UNKNOWN_TO], ids[NATIONAL_TO], ids[PEER_TO]]
    assert {i.sender_system for i in items} == {UBND}
    assert all(i.redrivable and i.discardable for i in items)
    assert [i.delivery.id for i in monitor.dead_letters(peer="caobang")] == [ids[PEER_TO]]
    assert [i.delivery.id for i in monitor.dead_letters(peer="national")] == [ids[NATIONAL_TO]]
    assert monitor.dead_letters(system=SO) == []
    assert len(monitor.dead_letters(system=UBND, limit=2)) == 2
    assert len(monitor.dead_letters(limit=None)) == 3
    # A document another system pushed is told apart by --system.
    other = hub.push(SO, make_edoc(sender=LOCAL_TO, document_id="DOC-S", to=[UNKNOWN_TO]))
    assert [i.delivery.id for i in monitor.dead_letters(system=SO)] == [_ids(other)[UNKNOWN_TO]]


def test_backlog_per_route_destination_and_state(
    monitor: Monitor, pushed: PushResult, clock: ManualClock
) -> None:
    at, rows = monitor.backlog()
    assert at == clock.now()
    got = {(b.route, b.destination, b.state): b.count for b in rows}
    assert got == {
        ("local", SO, "available"): 1,
        ("national", None, "dead"): 1,
        ("none", None, "undeliverable"): 1,
        ("peer", "caobang", "dead"): 1,
    }
    assert [b.route for b in rows] == sorted(b.route for b in rows)
    assert all(b.oldest_at is not None and b.oldest_at < at for b in rows)


def test_trace_merges_every_hop_in_time_order(
    monitor: Monitor,
    pushed: PushResult,
    hub: HubServices,
    uow_factory: UnitOfWorkFactory,
    clock: ManualClock,
) -> None:
    ids = _ids(pushed)
    with uow_factory() as uow:  # the document came in from a peer's inbox
        doc = uow.documents.get(pushed.doc_id)
        assert doc is not None
        uow.inbound.add(
            InboundRow(
                "national",
                "remote-7",
                MessageKind.EDOC,
                "accepted",
                None,
                doc.id,
                doc.digest,
                doc.received_at,
                acked_at=doc.received_at,
            )
        )
        uow.commit()
    monitor.redrive([ids[NATIONAL_TO]], actor="cli")
    clock.advance(5)
    _move(uow_factory, clock, ids[NATIONAL_TO], Event.DISPATCH_REMOTE)
    clock.advance(5)
    _move(
        uow_factory,
        clock,
        ids[NATIONAL_TO],
        Event.FORWARD_OK,
        remote_id="axis-1",
        remote_status="done",
        remote_status_desc="Hoàn thành",
        remote_status_at=clock.now(),
    )
    clock.advance(5)
    revoke = hub.push(
        UBND,
        make_edoc(
            sender=SENDER, document_id="DOC-T", to=[LOCAL_TO], business_type=BussinessDocType.REVOKE
        ),
    )

    traces = monitor.trace("DOC-T")  # the original and the revoke share the DocumentId
    assert [t.document.id for t in traces] == [pushed.doc_id, revoke.doc_id]
    original, rev = traces
    hops = original.hops
    assert [h.at for h in hops] == sorted(h.at for h in hops)
    assert [h.kind for h in hops[:3]] == ["origin", "accepted", "verdicts"]
    assert "national" in hops[0].text
    assert "remote-7" in hops[0].text
    national = [h.details.get("to_state") for h in hops if h.delivery_id == ids[NATIONAL_TO]]
    assert national == [
        "queued",
        "forwarding",
        "retry_wait",
        "dead",
        "queued",
        "forwarding",
        "forwarded",
        None,
    ]
    [remote] = [h for h in hops if h.kind == "remote"]
    assert remote.details["remote_status"] == "done"
    assert "Hoàn thành" in remote.text
    [related] = [h for h in hops if h.kind == "related"]
    assert related.details == {"action": "revoke", "doc_id": revoke.doc_id}
    assert related is hops[-1]
    [link] = [h for h in rev.hops if h.kind == "link"]
    assert link.details == {"action": "revoke", "doc_id": pushed.doc_id}

    as_json = original.to_dict()
    assert as_json["document_id"] == "DOC-T"
    assert as_json["hops"][0]["at"].endswith("+00:00")
    assert monitor.trace(ids[LOCAL_TO])[0].document.id == pushed.doc_id  # by a delivery id
    with pytest.raises(NotFound):
        monitor.trace("nothing-like-it")
