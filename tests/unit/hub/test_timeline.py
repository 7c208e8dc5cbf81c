"""The pure timeline builder (hub/services/trace.py): ordering, ties, and rows without events."""

from __future__ import annotations

import datetime as dt

from hub.edxml.model import MessageKind
from hub.ports import DeliveryEvent, DeliveryRow, DocumentRow
from hub.services.trace import build_trace

T0 = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)


def _doc(**kw: object) -> DocumentRow:
    values: dict[str, object] = {
        "id": "doc-1", "digest": "ab" * 32, "kind": MessageKind.EDOC, "document_id": "D-1",
        "sender_code": "000.00.00.H41", "sender_system": "qlvb.ubnd", "business_type": 0,
        "related_doc_id": None, "subject": "V/v thử", "code_number": "1",
        "code_notation": "UBND", "verdicts": {"verdict": "valid", "envelope": "valid"},
        "problems": [{"code": "profile.signer_info_missing"}], "flags": ["replaces:doc-0"],
        "received_at": T0,
    }  # fmt: skip
    values.update(kw)
    return DocumentRow(**values)  # type: ignore[arg-type]


def _delivery(state: str, **kw: object) -> DeliveryRow:
    values: dict[str, object] = {
        "id": "del-1", "doc_id": "doc-1", "recipient_code": "000.00.02.H41",
        "resolved_code": None, "route": "peer", "peer_name": "caobang", "system_id": None,
        "state": state, "attempts": 0, "next_attempt_at": None, "last_error": None,
        "business_status": None, "business_status_desc": None, "business_status_at": None,
        "created_at": T0, "updated_at": T0 + dt.timedelta(minutes=5),
    }  # fmt: skip
    values.update(kw)
    return DeliveryRow(**values)  # type: ignore[arg-type]


def test_hops_in_time_order_ties_keep_their_order_and_statuses_are_named() -> None:
    later = T0 + dt.timedelta(minutes=1)
    events = [
        DeliveryEvent("del-1", T0, None, "queued", "accepted"),
        DeliveryEvent("del-1", later, "forwarded", "forwarded", "status 05 (older)"),
        DeliveryEvent("del-1", T0, "queued", "forwarding"),
        DeliveryEvent("del-1", T0, "forwarding", "forwarded", "caobang: r-1"),
    ]
    row = _delivery(
        "forwarded", remote_id="r-1", remote_status="done", remote_status_at=later,
        remote_status_desc="Hoàn thành",
    )  # fmt: skip
    trace = build_trace(_doc(), origin=(), deliveries=[(row, events)], about=None, related=())
    kinds = [h.kind for h in trace.hops]
    assert kinds == ["accepted", "verdicts", "link", "delivery", "delivery", "delivery",
                     "status", "remote"]  # fmt: skip
    verdicts = trace.hops[1].text
    assert "signatures: valid" in verdicts
    assert "profile.signer_info_missing" in verdicts
    assert trace.hops[2].details == {"action": "replace", "doc_id": "doc-0"}
    assert [h.details.get("to_state") for h in trace.hops[3:6]] == [
        "queued", "forwarding", "forwarded",
    ]  # fmt: skip
    assert "[peer caobang]" in trace.hops[4].text
    assert trace.hops[6].text == "→ 000.00.02.H41: status 05 (older) received"
    assert trace.hops[7].text == "→ 000.00.02.H41: caobang says done (Hoàn thành)"
    assert trace.to_dict()["code"] == "1/UBND"


def test_a_delivery_without_events_shows_its_present_state() -> None:
    row = _delivery("dead", route="national", peer_name=None)
    trace = build_trace(_doc(flags=[]), origin=(), deliveries=[(row, [])], about=None, related=())
    last = trace.hops[-1]
    assert (last.kind, last.at, last.details) == ("delivery", row.updated_at, {"to_state": "dead"})
    assert "[national]: dead" in last.text
