"""An in-memory :class:`HubService` stand-in for the HTTP layer's tests (fixtures: conftest).

The fake keeps just enough state to answer every operation the way the contract describes
(idempotent push, per-system inbox, fetch/ack, sent rows, agencies) so the façade, the REST API
and the client can be exercised end to end in-process. Service *logic* is tested elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.edxml.model import MessageKind
from hub.edxml.source import Package, PackageFile
from hub.errors import Conflict, Forbidden, NotFound, XmlError
from hub.services.contracts import (
    AgencyRecord,
    FetchedPackage,
    FetchedStream,
    InboxItem,
    PushResult,
    RecipientRoute,
    Route,
    SentRow,
    SystemCredentials,
    TimelineEntry,
    TransportStatus,
)

SYSTEM = "demo.system"
SECRET = "demo-secret"
G22 = "000.00.00.G22"
H41 = "000.00.00.H41"
#: 21 Nov 2026 05:05:45 UTC — inside the captured session of vxp-captured-requests.md.
NOW = dt.datetime(2026, 11, 21, 5, 5, 45, tzinfo=dt.UTC)


@dataclass
class Delivery:
    id: str
    doc_id: str
    sender_system: str
    from_code: str
    to_code: str
    kind: MessageKind
    data: bytes
    state: str = "available"
    created_at: dt.datetime = NOW


@dataclass
class FakeHub:
    """A small, honest in-memory implementation of the HubService protocol."""

    systems: dict[str, SystemCredentials] = field(default_factory=dict)
    hosts: dict[str, set[str]] = field(default_factory=dict)  # system → agency codes
    recipients: list[str] = field(default_factory=lambda: [H41])
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    pushed: dict[tuple[str, str], PushResult] = field(default_factory=dict)
    agencies: dict[str, tuple[str, AgencyRecord]] = field(default_factory=dict)
    events: list[TimelineEntry] = field(default_factory=list)
    fail_with: BaseException | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def _maybe_fail(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.fail_with is not None:
            raise self.fail_with

    def _host_of(self, code: str) -> str | None:
        return next((s for s, codes in self.hosts.items() if code in codes), None)

    def credentials(self, system_id: str) -> SystemCredentials | None:
        return self.systems.get(system_id)

    def push(
        self, system_id: str, data: Package, *, declared_from: str | None = None
    ) -> PushResult:
        if isinstance(data, PackageFile):  # a spooled body: the fake keeps bytes
            data = data.read_all()
        self._maybe_fail("push", system_id, len(data))
        if not data.lstrip().startswith(b"<"):
            raise XmlError("not XML", message_vi="không phải XML", line=1)
        from_code = declared_from or next(iter(sorted(self.hosts.get(system_id, {""}))))
        if from_code not in self.hosts.get(system_id, set()):
            raise Forbidden(f"{system_id} does not host {from_code}")
        digest = hashlib.sha256(data).hexdigest()
        if (system_id, digest) in self.pushed:
            previous = self.pushed[(system_id, digest)]
            return PushResult(**{**_fields(previous), "duplicate": True})
        kind = MessageKind.STATUS if b"ResponseFor" in data else MessageKind.EDOC
        doc_id = str(uuid.uuid4())
        routes = []
        for code in self.recipients:
            d = Delivery(str(uuid.uuid4()), doc_id, system_id, from_code, code, kind, data)
            self.deliveries[d.id] = d
            routes.append(RecipientRoute(d.id, code, None, Route.LOCAL, None, d.state))
            self.events.append(TimelineEntry(NOW, d.id, "queued→available"))
        result = PushResult(doc_id, None, kind, digest, tuple(routes))
        self.pushed[(system_id, digest)] = result
        return result

    def _inbox(self, system_id: str, kind: MessageKind) -> list[Delivery]:
        codes = self.hosts.get(system_id, set())
        return [
            d
            for d in self.deliveries.values()
            if d.to_code in codes and d.kind == kind and d.state != "done"
        ]

    def list_received(self, system_id: str, kind: MessageKind) -> Sequence[InboxItem]:
        self._maybe_fail("list_received", system_id, kind)
        return [
            InboxItem(d.id, d.doc_id, d.kind, d.from_code, d.to_code, d.state, "", NOW, NOW)
            for d in self._inbox(system_id, kind)
        ]

    def count_received(self, system_id: str, kind: MessageKind) -> int:
        self._maybe_fail("count_received", system_id, kind)
        return len(self._inbox(system_id, kind))

    def _mine(self, system_id: str, delivery_id: str) -> Delivery:
        d = self.deliveries.get(delivery_id)
        if d is None or d.to_code not in self.hosts.get(system_id, set()):
            raise NotFound(f"no delivery {delivery_id}", message_vi=f"không có {delivery_id}")
        return d

    def fetch(self, system_id: str, delivery_id: str) -> FetchedPackage:
        self._maybe_fail("fetch", system_id, delivery_id)
        d = self._mine(system_id, delivery_id)
        if d.state == "available":
            d.state = "fetched"
        return FetchedPackage(d.id, d.data, d.kind)

    def fetch_stream(self, system_id: str, delivery_id: str) -> FetchedStream:
        f = self.fetch(system_id, delivery_id)
        step = 1 << 16
        chunks = (f.data[i : i + step] for i in range(0, len(f.data), step))
        return FetchedStream(f.delivery_id, f.kind, len(f.data), iter(chunks))

    def update_status(self, system_id: str, delivery_id: str, status: TransportStatus) -> None:
        self._maybe_fail("update_status", system_id, delivery_id, status)
        d = self._mine(system_id, delivery_id)
        d.state = {"done": "done", "fail": "available", "processing": "fetched"}[status]

    def list_sent(self, system_id: str, doc_id: str | None) -> Sequence[SentRow]:
        self._maybe_fail("list_sent", system_id, doc_id)
        return [
            SentRow(
                d.doc_id,
                d.id,
                d.from_code,
                d.to_code,
                "sent",
                "",
                d.state,
                "",
                NOW,
                None,
                "Công văn",
                "12/UBND",
                d.kind,
            )
            for d in self.deliveries.values()
            if d.sender_system == system_id and doc_id in (None, d.doc_id)
        ]

    def list_agencies(self, system_id: str) -> Sequence[AgencyRecord]:
        self._maybe_fail("list_agencies", system_id)
        base = [
            AgencyRecord("1", G22, "Văn phòng Chính phủ", code_qd20="G22", mail="vpcp@chinhphu.vn"),
            AgencyRecord(
                "2",
                H41,
                "UBND tỉnh Nghệ An",
                parent_id="1",
                old_code=None,
                extra={"version": "3", "centerCode": "H41"},
                modified_at=dt.datetime(2025, 7, 1, tzinfo=dt.UTC),
            ),
        ]
        return base + [rec for _, rec in self.agencies.values()]

    def register_agency(self, system_id: str, record: AgencyRecord) -> None:
        self._maybe_fail("register_agency", system_id, record)
        owner = self.agencies.get(record.code)
        if owner is not None and owner[0] != system_id:
            raise Conflict(f"{record.code} is registered by another system")
        self.agencies[record.code] = (system_id, record)

    def delete_agency(self, system_id: str, code: str) -> None:
        self._maybe_fail("delete_agency", system_id, code)
        owner = self.agencies.get(code)
        if owner is None or owner[0] != system_id:
            raise NotFound(f"no agency {code} registered by {system_id}")
        del self.agencies[code]

    def timeline(self, doc_id: str) -> Sequence[TimelineEntry]:
        ids = {d.id for d in self.deliveries.values() if d.doc_id == doc_id}
        return [e for e in self.events if e.delivery_id in ids]


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


class Clock:
    """A frozen, settable server clock."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


Signer = Callable[..., list[tuple[str, str]]]
