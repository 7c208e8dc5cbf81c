"""Typed, frozen values for the two edXML message kinds (QCVN 102:2016).

Names follow the spec (``MessageHeader``, ``TraceHeader``, ``ResponseFor``, ``Bussiness`` with
its double "s" where it is a wire name). Every date keeps the original string beside the parsed
value: ``yyyy/MM/dd`` dates become :class:`datetime.date`, ``yyyy/MM/dd HH:mm:ss`` timestamps
are read as Vietnam time (UTC+7, the spec carries no zone) and stored as UTC instants. A value
that does not parse keeps its raw text and ``None`` as the parsed value; the profile check
reports it, the reader does not refuse it.

These values carry no attachment payloads: :mod:`hub.edxml.attachments` streams those out of the
package bytes on demand, so reading a header never costs the size of the attachments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

#: The one edXML namespace: root default namespace and the ``edXML:`` prefix are the same URI.
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: The XML-DSig namespace (a real envelope signature lives here; the SDK writes it in ``NS``).
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
#: Vietnam time: edXML timestamps carry no zone and are ICT.
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")


class MessageKind(StrEnum):
    """The two message kinds; values are the VXP ``messagetype`` wire values."""

    EDOC = "edoc"
    STATUS = "status"


class BussinessDocType(IntEnum):
    """The business action of an edoc (``TraceHeaderList/Bussiness/BussinessDocType``)."""

    NEW = 0
    REVOKE = 1  # thu hồi
    UPDATE = 2  # cập nhật
    REPLACE = 3  # thay thế


class StatusCode(StrEnum):
    """Business status codes seen in the official samples. The set is open: unknown codes are
    stored verbatim as strings (see :attr:`StatusHeader.status_code`)."""

    ARRIVED = "01"  # đã đến
    REFUSED = "02"  # từ chối
    ACCEPTED = "03"  # đã tiếp nhận
    ASSIGNED = "04"  # phân công
    PROCESSING = "05"  # đang xử lý
    COMPLETED = "06"  # hoàn thành
    RECALL_REQUEST = "13"  # sender asks to take back / recall
    RECALL_AGREED = "15"  # recipient agrees to the update / take-back
    RECALL_REFUSED = "16"  # recipient refuses the update / take-back


@dataclass(frozen=True, slots=True)
class EdxmlDate:
    """A ``yyyy/MM/dd`` date: the original text and the parsed date (``None`` if malformed)."""

    raw: str
    value: dt.date | None


@dataclass(frozen=True, slots=True)
class EdxmlTimestamp:
    """A ``yyyy/MM/dd HH:mm:ss`` Vietnam-time timestamp: original text and the UTC instant."""

    raw: str
    utc: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Organization:
    """``From`` / ``To``: an agency with its identifier code and contact details."""

    organ_id: str
    organ_name: str | None = None
    organization_in_charge: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass(frozen=True, slots=True)
class Code:
    """``Code``: số (``CodeNumber``) and ký hiệu (``CodeNotation``), kept as strings."""

    code_number: str | None
    code_notation: str | None


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    """``PromulgationInfo``: place and date of issue."""

    place: str | None
    promulgation_date: EdxmlDate | None


@dataclass(frozen=True, slots=True)
class DocumentType:
    """``DocumentType``: type codes as given (code lists vary) and the authoritative name."""

    type: int | None
    type_detail: int | None
    type_name: str | None
    type_raw: str | None = None


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """``SignerInfo``: competence (e.g. "TL. BỘ TRƯỞNG"), position and full name."""

    competence: str | None
    position: str | None
    full_name: str | None


@dataclass(frozen=True, slots=True)
class OtherInfo:
    """``OtherInfo``: priority, sphere, typist, amounts, direction and appendix titles."""

    priority: int | None = None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """``ResponseFor``: the document answered (edoc replies, 0..n) or reported on (status)."""

    organ_id: str | None
    code: str | None
    promulgation_date: EdxmlDate | None
    document_id: str | None


@dataclass(frozen=True, slots=True)
class StaffInfo:
    """``StaffInfo``: the clerk who acted."""

    department: str | None = None
    staff: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """One hop: the agency or hub that handled the package, and when."""

    organ_id: str
    timestamp: EdxmlTimestamp


@dataclass(frozen=True, slots=True)
class Receiver:
    """``ReceiverList/Receiver`` of an update action."""

    organ_id: str
    receiver_type: int | None


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    """``ReplacementInfoList/ReplacementInfo`` of a replace action."""

    document_id: str
    organ_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BussinessDocumentInfo:
    """``BussinessDocumentInfo`` of an update action: what changed, and the new receivers."""

    document_info: int | None
    document_receiver: int | None
    receivers: tuple[Receiver, ...] = ()


@dataclass(frozen=True, slots=True)
class Bussiness:
    """``TraceHeaderList/Bussiness``: the business action (new, revoke, update, replace).

    ``doc_type`` is the parsed :class:`BussinessDocType` or ``None`` when absent or unknown
    (``doc_type_raw`` keeps the text).
    """

    document_id: str | None
    doc_type: BussinessDocType | None
    doc_type_raw: str | None
    reason: str | None
    paper: int | None
    document_info: BussinessDocumentInfo | None = None
    replacements: tuple[ReplacementInfo, ...] = ()
    staff_info: StaffInfo | None = None


@dataclass(frozen=True, slots=True)
class TraceHeaderList:
    """``TraceHeaderList``: hops in order and the optional business action."""

    trace_headers: tuple[TraceHeader, ...]
    bussiness: Bussiness | None


@dataclass(frozen=True, slots=True)
class ManifestReference:
    """``edXMLManifest/Reference``: attachment metadata, ``content_id`` without ``cid:``."""

    content_id: str
    content_type: str | None
    description: str | None
    attachment_name: str | None


@dataclass(frozen=True, slots=True)
class AttachmentMeta:
    """``AttachmentEncoded/Attachment`` without its payload: ``content_id`` without ``cid:``,
    and the length of the base64 text (``encoded_length``, in characters)."""

    content_id: str
    attachment_name: str | None
    description: str | None
    content_type: str | None
    encoded_length: int


@dataclass(frozen=True, slots=True)
class EdocHeader:
    """``MessageHeader`` of an edoc (QCVN 102 §2)."""

    from_: Organization
    to: tuple[Organization, ...]
    document_id: str | None
    code: Code | None
    promulgation_info: PromulgationInfo | None
    document_type: DocumentType | None
    subject: str | None
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: EdxmlDate | None = None
    to_places: tuple[str, ...] = ()
    other_info: OtherInfo | None = None
    response_for: tuple[ResponseFor, ...] = ()
    steering_type: int | None = None


@dataclass(frozen=True, slots=True)
class StatusHeader:
    """``MessageHeader`` of a status message (QCVN 102 §5). ``status_code`` is kept verbatim."""

    from_: Organization
    response_for: ResponseFor | None
    staff_info: StaffInfo | None
    status_code: str | None
    description: str | None
    timestamp: EdxmlTimestamp | None


@dataclass(frozen=True, slots=True)
class EdocPackage:
    """A document package: header, trace, envelope signature bytes, manifest, attachments."""

    header: EdocHeader
    trace: TraceHeaderList | None
    signature: bytes | None = None
    manifest: tuple[ManifestReference, ...] = ()
    attachments: tuple[AttachmentMeta, ...] = ()
    kind: MessageKind = field(default=MessageKind.EDOC, init=False)

    @property
    def document_id(self) -> str | None:
        return self.header.document_id

    @property
    def sender(self) -> str:
        return self.header.from_.organ_id

    @property
    def business_type(self) -> BussinessDocType:
        """The business action; a package without ``Bussiness`` is a new document."""
        b = self.trace.bussiness if self.trace else None
        return b.doc_type if b and b.doc_type is not None else BussinessDocType.NEW


@dataclass(frozen=True, slots=True)
class StatusPackage:
    """A status message about a document, to be routed to ``ResponseFor/OrganId``."""

    header: StatusHeader
    signature: bytes | None = None
    #: Hops appended by relays (:func:`hub.edxml.trace.append_trace`); senders write none (§5).
    trace: TraceHeaderList | None = None
    kind: MessageKind = field(default=MessageKind.STATUS, init=False)

    @property
    def sender(self) -> str:
        return self.header.from_.organ_id


Package = EdocPackage | StatusPackage
