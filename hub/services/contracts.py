"""What the hub's services offer to the entry points (VXP façade, REST API, CLI, dashboard).

The HTTP layers are thin: they authenticate, translate parameters, call one of these
operations, and render the returned values. Every operation takes the *authenticated* calling
system and enforces what that system may see and do (a system sends only as the agencies it
hosts and pulls only what is addressed to them); refusals are :mod:`hub.errors` exceptions.

Identifiers:

* ``doc_id`` — the hub's id of an accepted package (the VXP ``DocId`` answered to ``sendEdoc``;
  a UUID string).
* ``delivery_id`` — one recipient's copy of a package (the VXP ``docId`` in
  ``getReceivedEdocList`` / ``getEdoc`` / ``updateStatus`` on the receiving side; a UUID string).
* ``document_id`` — the edXML ``DocumentId`` business key written by the sender.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hub.edxml.model import MessageKind
from hub.edxml.source import Package


class Route(StrEnum):
    """Where a delivery goes."""

    LOCAL = "local"  # the recipient's system is connected to this hub: its inbox
    NATIONAL = "national"  # the national document axis (VXP), through the adapter workers
    PEER = "peer"  # another provincial hub (``peer_name`` says which)
    NONE = "none"  # no route: unknown recipient; the delivery fails visibly


class TransportStatus(StrEnum):
    """The VXP ``updateStatus`` values: did the receiving system fetch and process the package."""

    PROCESSING = "processing"
    DONE = "done"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class SystemCredentials:
    """What the façade needs to authenticate one connected system (secrets decrypted)."""

    system_id: str
    secrets: tuple[str, ...]  # current first; a second one during rotation
    enabled: bool
    max_age_s: int  # how old an SDK timestamp may be (frozen SDK timestamps: see vxp-protocol §8)
    timezone: str = "Asia/Ho_Chi_Minh"

    def __repr__(self) -> str:  # secrets never appear in repr or logs
        return f"SystemCredentials(system_id={self.system_id!r}, enabled={self.enabled})"


@dataclass(frozen=True, slots=True)
class RecipientRoute:
    """One recipient of an accepted package and where the hub sends it."""

    delivery_id: str
    recipient: str  # the code as addressed in the package (To/OrganId or ResponseFor/OrganId)
    resolved: str | None  # the live code after following successors (2025 reform), else None
    route: Route
    peer_name: str | None
    state: str  # delivery state name (hub.delivery)
    reason: str | None = None  # why it was rerouted or failed (vi), e.g. "mã đã đóng → …"


@dataclass(frozen=True, slots=True)
class PushResult:
    """The answer to a push: the hub's id, and each recipient's route."""

    doc_id: str
    document_id: str | None
    kind: MessageKind
    digest: str  # SHA-256 hex of the stored bytes
    recipients: tuple[RecipientRoute, ...]
    duplicate: bool = False  # the same bytes were pushed before: same answer, nothing new
    warnings: tuple[str, ...] = ()  # flags from the policy (accepted but flagged)


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A package waiting in a system's inbox (VXP ``getReceivedEdocList`` item)."""

    delivery_id: str
    doc_id: str
    kind: MessageKind
    from_code: str
    to_code: str
    state: str
    state_desc: str
    created_at: dt.datetime
    updated_at: dt.datetime
    document_id: str | None = None
    subject: str | None = None
    flags: tuple[str, ...] = ()  # what the hub flagged at intake (profile warnings, signatures)


@dataclass(frozen=True, slots=True)
class FetchedPackage:
    """The stored bytes of a delivery, with this hub's TraceHeader appended (edocs)."""

    delivery_id: str
    data: bytes
    kind: MessageKind


@dataclass(frozen=True, slots=True)
class FetchedStream:
    """:class:`FetchedPackage` read from the blob store chunk by chunk (large packages).

    ``chunks`` yields exactly ``size`` bytes; read it to the end (the stored bytes are checked
    against their digest there) or close it."""

    delivery_id: str
    kind: MessageKind
    size: int
    chunks: Iterator[bytes]


@dataclass(frozen=True, slots=True)
class SentRow:
    """One recipient of a sent package (VXP ``getSentEdocList`` row)."""

    doc_id: str
    delivery_id: str
    from_code: str
    to_code: str
    send_status: str  # delivery state
    send_status_desc: str
    receive_status: str  # last business status code (01…16) or ""
    receive_status_desc: str
    sent_at: dt.datetime
    received_at: dt.datetime | None
    title: str | None
    notation: str | None
    kind: MessageKind
    flags: tuple[str, ...] = ()  # what the hub flagged at intake (profile warnings, signatures)
    verdict: str | None = None  # signatures' outcome stored at intake: valid / invalid /
    # indeterminate; None when none was judged. REST only: getSentEdocList has no such field.


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """An agency as the VXP agency calls show it."""

    id: str
    code: str
    name: str
    parent_code: str | None = None
    parent_id: str | None = None
    code_qd20: str | None = None
    mail: str | None = None
    old_code: str | None = None
    hosted_by: str | None = None
    deleted: bool = False
    modified_at: dt.datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event in a document's life, for the dashboard and ``lienthong demo``."""

    at: dt.datetime
    delivery_id: str | None
    event: str  # e.g. "accepted", "queued→available", "status 03"
    detail: str = ""


class HubService(Protocol):
    """The operations the entry points call. Implemented by :mod:`hub.services`."""

    def credentials(self, system_id: str) -> SystemCredentials | None:
        """The system's credentials, or ``None`` when unknown."""
        ...

    def push(
        self, system_id: str, data: Package, *, declared_from: str | None = None
    ) -> PushResult:
        """Accept a package pushed by ``system_id`` (idempotent on the bytes); raises on refusal.

        ``data`` is the bytes or, for a large body spooled to disk, a
        :class:`~hub.edxml.source.PackageFile`."""
        ...

    def list_received(self, system_id: str, kind: MessageKind) -> Sequence[InboxItem]:
        """Deliveries waiting for the system's agencies (not yet acknowledged ``done``)."""
        ...

    def count_received(self, system_id: str, kind: MessageKind) -> int: ...

    def fetch(self, system_id: str, delivery_id: str) -> FetchedPackage:
        """Hand out a delivery's bytes (trace appended) and record the fetch."""
        ...

    def fetch_stream(self, system_id: str, delivery_id: str) -> FetchedStream:
        """:meth:`fetch`, the bytes streamed from the blob store instead of held in memory."""
        ...

    def update_status(self, system_id: str, delivery_id: str, status: TransportStatus) -> None:
        """Record the receiving system's transport acknowledgement (idempotent)."""
        ...

    def list_sent(self, system_id: str, doc_id: str | None) -> Sequence[SentRow]:
        """Per-recipient rows of the system's sent packages (one package when ``doc_id``)."""
        ...

    def list_agencies(self, system_id: str) -> Sequence[AgencyRecord]: ...

    def register_agency(self, system_id: str, record: AgencyRecord) -> None: ...

    def delete_agency(self, system_id: str, code: str) -> None: ...

    def timeline(self, doc_id: str) -> Sequence[TimelineEntry]: ...
