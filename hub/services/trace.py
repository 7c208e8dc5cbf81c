"""A document's journey as one list of hops in time order: the per-document timeline of the IT
console and ``lienthong trace``.

Theory of operation. :func:`build_trace` is pure: it takes the rows one unit of work read (the
document, where it came from, its deliveries with their events, the documents about it and the
one it is about) and returns a :class:`Trace` whose :attr:`Trace.hops` merge all of them in time
order — accepted, verdicts, the inbound origin at a peer, each delivery's state changes, the
statuses (01…16) recipients reported, what a peer last said of a forwarded copy, and the
revoke / update / replace links. Ties keep that order, so "accepted" comes before the first
delivery event stamped in the same instant. :meth:`Trace.to_dict` is the stable JSON shape
(times ISO 8601 UTC); :meth:`hub.services.monitor.Monitor.trace` does the reading.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.delivery import describe
from hub.ports import DeliveryEvent, DeliveryRow, DocumentRow, InboundRow

#: ``BussinessDocType`` values (QCVN 102) → what a document with it does to its original.
_BUSINESS = {1: "revoke", 2: "update", 3: "replace"}
#: The prefix of a delivery event's reason that records a status message (hub.services.intake).
_STATUS_PREFIX = "status "


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of a document's journey."""

    at: dt.datetime
    kind: str  # accepted | origin | verdicts | link | delivery | status | remote | related
    text: str  # one line for a terminal (Vietnamese state descriptions, wire codes as is)
    delivery_id: str | None = None
    recipient: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "kind": self.kind,
            "text": self.text,
            "delivery_id": self.delivery_id,
            "recipient": self.recipient,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class Trace:
    """The timeline of one document."""

    document: DocumentRow
    hops: Sequence[Hop]

    def to_dict(self) -> dict[str, Any]:
        d = self.document
        return {
            "doc_id": d.id,
            "document_id": d.document_id,
            "kind": str(d.kind),
            "sender": d.sender_code,
            "sender_system": d.sender_system,
            "subject": d.subject,
            "code": "/".join(x for x in (d.code_number, d.code_notation) if x) or None,
            "business_type": d.business_type,
            "related_doc_id": d.related_doc_id,
            "received_at": _iso(d.received_at),
            "hops": [h.to_dict() for h in self.hops],
        }


def build_trace(
    doc: DocumentRow,
    *,
    origin: Sequence[InboundRow],
    deliveries: Sequence[tuple[DeliveryRow, Sequence[DeliveryEvent]]],
    about: DocumentRow | None,
    related: Sequence[DocumentRow],
) -> Trace:
    """The timeline of ``doc`` from what was read about it (see the module docstring).

    ``about`` is the document ``doc`` refers to (the original of a revoke / update / replace,
    the edoc a status is about); ``related`` the documents that refer to ``doc``.
    """
    hops: list[Hop] = []
    for item in origin:
        hops.append(
            Hop(
                item.received_at,
                "origin",
                f"taken from peer {item.peer} (remote id {item.remote_id}): {item.outcome}"
                + (f", acknowledged {_short(item.acked_at)}" if item.acked_at else ""),
                details={
                    "peer": item.peer,
                    "remote_id": item.remote_id,
                    "outcome": item.outcome,
                    "acked_at": _iso(item.acked_at),
                },
            )
        )
    hops.append(
        Hop(
            doc.received_at,
            "accepted",
            f"accepted from {doc.sender_code} (system {doc.sender_system}), {doc.kind}"
            + (f" DocumentId {doc.document_id}" if doc.document_id else ""),
            details={"sender": doc.sender_code, "sender_system": doc.sender_system},
        )
    )
    hops.append(_verdicts_hop(doc))
    if about is not None:
        action = _BUSINESS.get(doc.business_type, "status about" if doc.kind == "status" else "")
        hops.append(
            Hop(
                doc.received_at,
                "link",
                f"{action or 'refers to'} document {about.id}"
                + (f" (DocumentId {about.document_id})" if about.document_id else ""),
                details={"action": action or "refers", "doc_id": about.id},
            )
        )
    for flag in doc.flags:
        if flag.startswith("replaces:"):
            replaced = flag.split(":", 1)[1]
            hops.append(
                Hop(
                    doc.received_at,
                    "link",
                    f"replaces document {replaced}",
                    details={"action": "replace", "doc_id": replaced},
                )
            )
    for row, events in deliveries:
        hops.extend(_delivery_hops(row, events))
    for other in related:
        action = _BUSINESS.get(other.business_type, "status" if other.kind == "status" else "")
        hops.append(
            Hop(
                other.received_at,
                "related",
                f"{action or 'related'} document {other.id} from {other.sender_code}",
                details={"action": action or "related", "doc_id": other.id},
            )
        )
    order = {id(h): i for i, h in enumerate(hops)}

    def place(h: Hop) -> tuple[dt.datetime, int]:
        # Nothing but its origin comes before a document's acceptance: a peer's times are
        # whole seconds, so a remote state of the same second would otherwise sort first.
        at = h.at if h.kind == "origin" else max(h.at, doc.received_at)
        return (at, order[id(h)])

    return Trace(doc, sorted(hops, key=place))


def _verdicts_hop(doc: DocumentRow) -> Hop:
    v = doc.verdicts or {}
    parts = [f"signatures: {v.get('verdict') or 'not judged'}"]
    if v.get("envelope"):
        parts.append(f"envelope {v['envelope']}")
    if v.get("pdf_checked"):
        parts.append(f"PDF {v.get('pdf_checked')} checked, {v.get('pdf_bad', 0)} not valid")
    if doc.problems:
        parts.append("profile: " + ", ".join(str(p.get("code", p)) for p in doc.problems))
    if doc.flags:
        parts.append("flags: " + ", ".join(doc.flags))
    return Hop(
        doc.received_at,
        "verdicts",
        "; ".join(parts),
        details={
            "verdicts": dict(v),
            "problems": [dict(p) for p in doc.problems],
            "flags": list(doc.flags),
        },
    )


def _delivery_hops(row: DeliveryRow, events: Sequence[DeliveryEvent]) -> list[Hop]:
    recipient = row.resolved_code or row.recipient_code
    dest = row.peer_name or row.system_id
    where = f"{row.route} {dest}" if dest else row.route
    out: list[Hop] = []
    for e in events:
        is_status = e.from_state == e.to_state and (e.reason or "").startswith(_STATUS_PREFIX)
        if is_status:
            code = (e.reason or "")[len(_STATUS_PREFIX) :]
            text = f"→ {recipient}: status {code} received"
            kind = "status"
        else:
            move = f"{e.from_state} → {e.to_state}" if e.from_state else f"created {e.to_state}"
            text = f"→ {recipient} [{where}]: {move}"
            if e.reason:
                text += f" ({e.reason})"
            kind = "delivery"
        out.append(
            Hop(
                e.at,
                kind,
                text,
                row.id,
                recipient,
                {
                    "from_state": e.from_state,
                    "to_state": e.to_state,
                    "reason": e.reason,
                    "route": row.route,
                    "destination": dest,
                },
            )
        )
    if row.remote_status and row.remote_status_at is not None:
        text = f"→ {recipient}: {dest or row.route} says {row.remote_status}"
        if row.remote_status_desc:
            text += f" ({row.remote_status_desc})"
        out.append(
            Hop(
                row.remote_status_at,
                "remote",
                text,
                row.id,
                recipient,
                {
                    "remote_id": row.remote_id,
                    "remote_status": row.remote_status,
                    "remote_status_desc": row.remote_status_desc,
                },
            )
        )
    if not events:  # a row stored before events were kept: its present state at least
        out.append(
            Hop(
                row.updated_at,
                "delivery",
                f"→ {recipient} [{where}]: {row.state} ({describe(row.state)})",
                row.id,
                recipient,
                {"to_state": row.state},
            )
        )
    return out


def _iso(at: dt.datetime | None) -> str | None:
    return at.astimezone(dt.UTC).isoformat() if at is not None else None


def _short(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
