"""Write edXML packages in the layout the official SDK emits (QCVN 102:2016).

Strict writer, tolerant reader (edxml.md §1): the output always has

* root ``<edXML xmlns="NS">`` and ``<edXML:edXMLEnvelope xmlns:edXML="NS">`` with every envelope
  element ``edXML:``-prefixed (same namespace, as in the SDK samples);
* the elements in the numbered order of edxml.md §2 (1.1 ``From`` … 1.14 ``DocumentId``), §3
  (``TraceHeader``s then ``Bussiness``) and §5 (status);
* ``AttachmentEncoded`` outside the envelope with unprefixed ``Attachment`` children, each
  payload ZIP-then-base64 with one entry named ``<uuid>.<ext>`` (§4) unless the caller asks for
  the raw bytes;
* dates ``yyyy/MM/dd`` and timestamps ``yyyy/MM/dd HH:mm:ss`` in Vietnam time (§8). A date whose
  parsed value is ``None`` is written as its raw text (so a read package round-trips).

The manifest and the ``AttachmentEncoded`` part are generated from the ``attachments`` argument
(:class:`OutgoingAttachment`); ``EdocPackage.manifest`` / ``.attachments`` describe a package that
was read and are ignored here. ``EdocPackage.signature`` bytes, when present, are copied verbatim
after ``TraceHeaderList``.

:func:`write_edoc_to` streams: the payload is read from a file object in chunks, zipped and
base64-encoded on the fly into the output stream, so a 100 MB attachment never sits in memory.
"""

from __future__ import annotations

import base64
import io
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from xml.sax.saxutils import escape

from hub.edxml.model import (
    NS,
    Bussiness,
    EdocPackage,
    EdxmlDate,
    EdxmlTimestamp,
    Organization,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeaderList,
)
from hub.edxml.reader import format_date, format_timestamp

__all__ = ["OutgoingAttachment", "write_edoc", "write_edoc_to", "write_status"]

_CHUNK = 3 * 256 * 1024  # a multiple of 3: base64 of each chunk needs no carry
_ESCAPES = {"\r": "&#13;", '"': "&quot;"}


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    """One attachment to write: its manifest metadata and its payload.

    ``data`` is the file content as bytes, a path, or a binary file object read from its current
    position (the writer does not close it). With ``zip=True`` (the SDK habit, §4) the payload is
    wrapped in a ZIP holding one entry named ``entry_name`` or ``<uuid>.<ext>``; ``zip=False``
    writes the raw bytes (older senders). ``content_id`` is written as ``cid:<content_id>``.
    """

    content_id: str
    attachment_name: str
    content_type: str
    data: bytes | Path | IO[bytes]
    description: str | None = None
    zip: bool = True
    entry_name: str | None = None


class _Sink(Protocol):
    def write(self, b: bytes | memoryview, /) -> int | None: ...


def _x(text: str) -> str:
    return escape(text, _ESCAPES)


class _Out:
    """Line-oriented builder for the SDK's indented layout."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def raw(self, text: str) -> None:
        self.out.write(text.encode("utf-8"))

    def leaf(self, depth: int, name: str, value: str | None, prefix: str = "edXML:") -> None:
        if value is not None:
            self.raw(f"{'  ' * depth}<{prefix}{name}>{_x(value)}</{prefix}{name}>\n")

    def open(self, depth: int, name: str, prefix: str = "edXML:", attrs: str = "") -> None:
        self.raw(f"{'  ' * depth}<{prefix}{name}{attrs}>\n")

    def close(self, depth: int, name: str, prefix: str = "edXML:") -> None:
        self.raw(f"{'  ' * depth}</{prefix}{name}>\n")


def _date(d: EdxmlDate | None) -> str | None:
    if d is None:
        return None
    return format_date(d.value) if d.value is not None else d.raw


def _ts(t: EdxmlTimestamp | None) -> str | None:
    if t is None:
        return None
    return format_timestamp(t.utc) if t.utc is not None else t.raw


def _int(v: int | None) -> str | None:
    return None if v is None else str(v)


def _org(w: _Out, depth: int, name: str, org: Organization) -> None:
    w.open(depth, name)
    d = depth + 1
    w.leaf(d, "OrganId", org.organ_id)
    w.leaf(d, "OrganizationInCharge", org.organization_in_charge)
    w.leaf(d, "OrganName", org.organ_name)
    w.leaf(d, "OrganAdd", org.organ_add)
    w.leaf(d, "Email", org.email)
    w.leaf(d, "Telephone", org.telephone)
    w.leaf(d, "Fax", org.fax)
    w.leaf(d, "Website", org.website)
    w.close(depth, name)


def _response_for(w: _Out, depth: int, rf: ResponseFor) -> None:
    w.open(depth, "ResponseFor")
    d = depth + 1
    w.leaf(d, "OrganId", rf.organ_id)
    w.leaf(d, "Code", rf.code)
    w.leaf(d, "PromulgationDate", _date(rf.promulgation_date))
    w.leaf(d, "DocumentId", rf.document_id)
    w.close(depth, "ResponseFor")


def _staff(w: _Out, depth: int, s: StaffInfo | None) -> None:
    if s is None:
        return
    w.open(depth, "StaffInfo")
    d = depth + 1
    w.leaf(d, "Department", s.department)
    w.leaf(d, "Staff", s.staff)
    w.leaf(d, "Email", s.email)
    w.leaf(d, "Mobile", s.mobile)
    w.close(depth, "StaffInfo")


def _bussiness(w: _Out, depth: int, b: Bussiness) -> None:
    w.open(depth, "Bussiness")
    d = depth + 1
    w.leaf(d, "DocumentId", b.document_id)
    w.leaf(d, "BussinessDocType", b.doc_type_raw if b.doc_type is None else str(int(b.doc_type)))
    w.leaf(d, "BussinessDocReason", b.reason)
    w.leaf(d, "Paper", _int(b.paper))
    if b.document_info is not None:
        info = b.document_info
        w.open(d, "BussinessDocumentInfo")
        w.leaf(d + 1, "DocumentInfo", _int(info.document_info))
        w.leaf(d + 1, "DocumentReceiver", _int(info.document_receiver))
        if info.receivers:
            w.open(d + 1, "ReceiverList")
            for r in info.receivers:
                w.open(d + 2, "Receiver")
                w.leaf(d + 3, "OrganId", r.organ_id)
                w.leaf(d + 3, "ReceiverType", _int(r.receiver_type))
                w.close(d + 2, "Receiver")
            w.close(d + 1, "ReceiverList")
        w.close(d, "BussinessDocumentInfo")
    if b.replacements:
        w.open(d, "ReplacementInfoList")
        for rep in b.replacements:
            w.open(d + 1, "ReplacementInfo")
            w.leaf(d + 2, "DocumentId", rep.document_id)
            w.open(d + 2, "OrganIdList")
            for oid in rep.organ_ids:
                w.leaf(d + 3, "OrganId", oid)
            w.close(d + 2, "OrganIdList")
            w.close(d + 1, "ReplacementInfo")
        w.close(d, "ReplacementInfoList")
    _staff(w, d, b.staff_info)
    w.close(depth, "Bussiness")


def _trace(w: _Out, depth: int, t: TraceHeaderList | None) -> None:
    if t is None:
        return
    w.open(depth, "TraceHeaderList")
    for th in t.trace_headers:
        w.open(depth + 1, "TraceHeader")
        w.leaf(depth + 2, "OrganId", th.organ_id)
        w.leaf(depth + 2, "Timestamp", _ts(th.timestamp))
        w.close(depth + 1, "TraceHeader")
    if t.bussiness is not None:
        _bussiness(w, depth + 1, t.bussiness)
    w.close(depth, "TraceHeaderList")


def _prologue(w: _Out) -> None:
    w.raw(f'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="{NS}">\n')
    w.raw(f'  <edXML:edXMLEnvelope xmlns:edXML="{NS}">\n')
    w.open(2, "edXMLHeader")
    w.open(3, "MessageHeader")


def _signature(w: _Out, sig: bytes | None) -> None:
    if sig is not None:
        w.raw("      ")
        w.out.write(sig)
        w.raw("\n")


def write_status(package: StatusPackage) -> bytes:
    """Serialise a status message (§5): ``From``, ``ResponseFor``, ``StaffInfo``, ``StatusCode``,
    ``Description``, ``Timestamp``; then ``TraceHeaderList`` if relays added one."""
    buf = io.BytesIO()
    w = _Out(buf)
    h = package.header
    _prologue(w)
    _org(w, 4, "From", h.from_)
    if h.response_for is not None:
        _response_for(w, 4, h.response_for)
    _staff(w, 4, h.staff_info)
    w.leaf(4, "StatusCode", h.status_code)
    w.leaf(4, "Description", h.description)
    w.leaf(4, "Timestamp", _ts(h.timestamp))
    w.close(3, "MessageHeader")
    _trace(w, 3, package.trace)
    _signature(w, package.signature)
    w.close(2, "edXMLHeader")
    w.close(1, "edXMLEnvelope")
    w.raw("</edXML>\n")
    return buf.getvalue()


def write_edoc(package: EdocPackage, attachments: Sequence[OutgoingAttachment] = ()) -> bytes:
    """Serialise an edoc with its attachments; see :func:`write_edoc_to`."""
    buf = io.BytesIO()
    write_edoc_to(buf, package, attachments)
    return buf.getvalue()


def write_edoc_to(
    out: IO[bytes], package: EdocPackage, attachments: Sequence[OutgoingAttachment] = ()
) -> None:
    """Stream an edoc into ``out`` (a binary stream); payloads are encoded chunk by chunk."""
    w = _Out(out)
    h = package.header
    _prologue(w)
    _org(w, 4, "From", h.from_)
    for to in h.to:
        _org(w, 4, "To", to)
    if h.code is not None:
        w.open(4, "Code")
        w.leaf(5, "CodeNumber", h.code.code_number)
        w.leaf(5, "CodeNotation", h.code.code_notation)
        w.close(4, "Code")
    if h.promulgation_info is not None:
        w.open(4, "PromulgationInfo")
        w.leaf(5, "Place", h.promulgation_info.place)
        w.leaf(5, "PromulgationDate", _date(h.promulgation_info.promulgation_date))
        w.close(4, "PromulgationInfo")
    if h.document_type is not None:
        dt_ = h.document_type
        w.open(4, "DocumentType")
        w.leaf(5, "Type", dt_.type_raw if dt_.type is None else str(dt_.type))
        w.leaf(5, "TypeDetail", _int(dt_.type_detail))
        w.leaf(5, "TypeName", dt_.type_name)
        w.close(4, "DocumentType")
    w.leaf(4, "Subject", h.subject)
    w.leaf(4, "Content", h.content)
    if h.signer_info is not None:
        w.open(4, "SignerInfo")
        w.leaf(5, "Competence", h.signer_info.competence)
        w.leaf(5, "Position", h.signer_info.position)
        w.leaf(5, "FullName", h.signer_info.full_name)
        w.close(4, "SignerInfo")
    w.leaf(4, "DueDate", _date(h.due_date))
    if h.to_places:
        w.open(4, "ToPlaces")
        for p in h.to_places:
            w.leaf(5, "Place", p)
        w.close(4, "ToPlaces")
    if h.other_info is not None:
        oi = h.other_info
        w.open(4, "OtherInfo")
        w.leaf(5, "Priority", _int(oi.priority))
        w.leaf(5, "SphereOfPromulgation", oi.sphere_of_promulgation)
        w.leaf(5, "TyperNotation", oi.typer_notation)
        w.leaf(5, "PromulgationAmount", _int(oi.promulgation_amount))
        w.leaf(5, "PageAmount", _int(oi.page_amount))
        if oi.direction is not None:
            w.leaf(5, "Direction", "true" if oi.direction else "false")
        if oi.appendixes:
            w.open(5, "Appendixes")
            for appendix in oi.appendixes:
                w.leaf(6, "Appendix", appendix)
            w.close(5, "Appendixes")
        w.close(4, "OtherInfo")
    for rf in h.response_for:
        _response_for(w, 4, rf)
    w.leaf(4, "SteeringType", _int(h.steering_type))
    w.leaf(4, "DocumentId", h.document_id)
    w.close(3, "MessageHeader")
    _trace(w, 3, package.trace)
    _signature(w, package.signature)
    w.close(2, "edXMLHeader")
    w.open(2, "edXMLBody")
    w.open(3, "edXMLManifest", attrs=' version="1.0"')
    for a in attachments:
        w.open(4, "Reference")
        w.leaf(5, "ContentId", f"cid:{a.content_id}")
        w.leaf(5, "ContentType", a.content_type)
        w.leaf(5, "Description", a.description)
        w.leaf(5, "AttachmentName", a.attachment_name)
        w.close(4, "Reference")
    w.close(3, "edXMLManifest")
    w.close(2, "edXMLBody")
    w.close(1, "edXMLEnvelope")
    if attachments:
        w.open(1, "AttachmentEncoded", prefix="")
        for a in attachments:
            w.open(2, "Attachment", prefix="")
            w.leaf(3, "ContentId", f"cid:{a.content_id}", prefix="")
            w.leaf(3, "AttachmentName", a.attachment_name, prefix="")
            w.leaf(3, "Description", a.description, prefix="")
            w.leaf(3, "ContentType", a.content_type, prefix="")
            w.raw("      <ContentTransferEncoded>")
            _payload(out, a)
            w.raw("</ContentTransferEncoded>\n")
            w.close(2, "Attachment", prefix="")
        w.close(1, "AttachmentEncoded", prefix="")
    w.raw("</edXML>\n")


class _Base64Writer(io.RawIOBase):
    """A write-only, non-seekable stream that base64-encodes into ``out`` as bytes arrive.

    Non-seekable on purpose: :mod:`zipfile` then writes data descriptors instead of seeking
    back, so the ZIP can be produced straight into the XML output.
    """

    def __init__(self, out: IO[bytes]) -> None:
        super().__init__()
        self._out = out
        self._carry = b""

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._carry + bytes(b)
        cut = len(data) - len(data) % 3
        if cut:
            self._out.write(base64.b64encode(data[:cut]))
        self._carry = data[cut:]
        return len(b)

    def finish(self) -> None:
        if self._carry:
            self._out.write(base64.b64encode(self._carry))
            self._carry = b""


def _copy(src: bytes | Path | IO[bytes], dst: _Sink) -> None:
    if isinstance(src, bytes | bytearray):
        view = memoryview(src)
        for pos in range(0, len(view), _CHUNK):
            dst.write(view[pos : pos + _CHUNK])
        return
    if isinstance(src, Path):
        with src.open("rb") as f:
            _copy(f, dst)
        return
    while chunk := src.read(_CHUNK):
        dst.write(chunk)


def _entry_name(a: OutgoingAttachment) -> str:
    if a.entry_name:
        return a.entry_name
    ext = Path(a.attachment_name).suffix
    return f"{uuid.uuid4()}{ext}"


def _payload(out: IO[bytes], a: OutgoingAttachment) -> None:
    b64 = _Base64Writer(out)
    if a.zip:
        # ZIP of one entry (edxml.md §4). ZIP_DEFLATED: PDFs compress a little, Office
        # documents and XML a lot; the reader unzips by magic, not by ContentType.
        with zipfile.ZipFile(b64, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            info = zipfile.ZipInfo(_entry_name(a), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as entry:
                _copy(a.data, entry)
    else:
        _copy(a.data, b64)
    b64.finish()
