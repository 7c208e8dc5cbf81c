"""Which omissions the profile refuses and which it only reports: the catalogue of the
``profile.*`` warnings (QCVN 102:2016 §2–§5, edxml.md).

Theory of operation. The hub sits between agencies; a package the national axis and the
official EdXML102 library let through must reach its recipients. So the profile check splits
what QCVN 102 asks for in two:

* what **breaks meaning** — the hub or the recipient could not tell who sends, to whom, which
  document, which status about which document, or what an attachment holds — is an *error*
  (``edxml.required``, ``edxml.value``, ``attachment.*``…, in :mod:`hub.edxml.profile`);
* what QCVN 102 lists but real traffic omits without harm (``SignerInfo``, parts of
  ``PromulgationInfo``, names beside the agency codes, the trace, the clerk's ``StaffInfo``…)
  is a *warning* with a code of its own from :data:`OMISSIONS`, shown to the sender and the
  recipient as a flag on the accepted document. The sending agency's policy
  (:class:`hub.policy.SenderPolicy` ``warnings``) may make any such code a refusal.

Elements QCVN 102 itself marks optional (``Content``, ``DueDate``, ``ToPlaces``, ``OtherInfo``
and its children, ``SteeringType``, a reply's ``ResponseFor``…) give no finding at all when
absent. The decision for every element is the table in ``schemas/edxml/PROFILE.md``; a test
holds that table and :data:`OMISSIONS` to the same codes.

Codes are stable API: stored with the document, matched by policy, shown in the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from hub.edxml.problems import Problem, warning

__all__ = ["OMISSIONS", "WARNING_CODES", "Omission", "omitted"]


@dataclass(frozen=True, slots=True)
class Omission:
    """One harmless omission: what is missing (en/vi) and what the hub does instead."""

    element: str
    """The element's name as the reader sees it (the path is given at report time)."""
    en: str
    vi: str


def _o(element: str, en: str, vi: str) -> Omission:
    return Omission(element, en, vi)


#: Every ``profile.*`` warning code, with its text. Keys are stable API.
OMISSIONS: MappingProxyType[str, Omission] = MappingProxyType(
    {
        # -- MessageHeader of an edoc (§2) and of a status (§5) --------------------------
        "profile.from_name_missing": _o(
            "From/OrganName",
            "no OrganName for the sender; the agency code identifies it",
            "thiếu tên cơ quan gửi (From/OrganName); mã định danh vẫn xác định cơ quan",
        ),
        "profile.to_name_missing": _o(
            "To/OrganName",
            "no OrganName for a recipient; the agency code identifies it",
            "thiếu tên cơ quan nhận (To/OrganName); mã định danh vẫn xác định cơ quan",
        ),
        "profile.code_missing": _o(
            "Code",
            "no Code (number and symbol); the document is known by its DocumentId",
            "thiếu số, ký hiệu văn bản (Code); văn bản được nhận biết qua DocumentId",
        ),
        "profile.code_number_missing": _o(
            "Code/CodeNumber",
            "no CodeNumber (số)",
            "thiếu số văn bản (CodeNumber)",
        ),
        "profile.code_notation_missing": _o(
            "Code/CodeNotation",
            "no CodeNotation (ký hiệu)",
            "thiếu ký hiệu văn bản (CodeNotation)",
        ),
        "profile.promulgation_missing": _o(
            "PromulgationInfo",
            "no PromulgationInfo (place and date of issue)",
            "thiếu thông tin ban hành (PromulgationInfo)",
        ),
        "profile.issue_place_missing": _o(
            "PromulgationInfo/Place",
            "no place of issue (PromulgationInfo/Place)",
            "thiếu địa danh ban hành (PromulgationInfo/Place)",
        ),
        "profile.issue_date_missing": _o(
            "PromulgationInfo/PromulgationDate",
            "no date of issue (PromulgationInfo/PromulgationDate)",
            "thiếu ngày ban hành (PromulgationInfo/PromulgationDate)",
        ),
        "profile.document_type_missing": _o(
            "DocumentType",
            "no DocumentType",
            "thiếu loại văn bản (DocumentType)",
        ),
        "profile.type_name_missing": _o(
            "DocumentType/TypeName",
            "no TypeName, the authoritative name of the document type",
            "thiếu tên loại văn bản (DocumentType/TypeName)",
        ),
        "profile.subject_missing": _o(
            "Subject",
            "no Subject (trích yếu); the recipient's clerk reads it from the document",
            "thiếu trích yếu (Subject); văn thư bên nhận đọc từ văn bản đính kèm",
        ),
        "profile.signer_info_missing": _o(
            "SignerInfo",
            "no SignerInfo; the signature inside the attached document still names the signer",
            "thiếu thông tin người ký (SignerInfo); chữ ký số trên văn bản vẫn cho biết người ký",
        ),
        "profile.signer_name_missing": _o(
            "SignerInfo/FullName",
            "no FullName of the signer",
            "thiếu họ tên người ký (SignerInfo/FullName)",
        ),
        "profile.signer_position_missing": _o(
            "SignerInfo/Position",
            "no Position of the signer",
            "thiếu chức vụ người ký (SignerInfo/Position)",
        ),
        # -- TraceHeaderList (§3) -----------------------------------------------------------
        "profile.trace_missing": _o(
            "TraceHeaderList/TraceHeader",
            "no TraceHeader: the sender should write the first hop (QCVN 102); the hub "
            "appends its own",
            "thiếu TraceHeader: bên gửi phải ghi chặng đầu tiên (QCVN 102); hub vẫn ghi chặng "
            "của mình",
        ),
        "profile.trace_organ_id_missing": _o(
            "TraceHeader/OrganId",
            "a TraceHeader without OrganId",
            "TraceHeader thiếu mã định danh (OrganId)",
        ),
        "profile.trace_timestamp_missing": _o(
            "TraceHeader/Timestamp",
            "a TraceHeader without Timestamp",
            "TraceHeader thiếu thời điểm (Timestamp)",
        ),
        "profile.bussiness_type_missing": _o(
            "Bussiness/BussinessDocType",
            "Bussiness without BussinessDocType: read as a new document (0)",
            "Bussiness thiếu BussinessDocType: được hiểu là văn bản mới (0)",
        ),
        "profile.bussiness_reason_missing": _o(
            "Bussiness/BussinessDocReason",
            "a revoke, update or replace without BussinessDocReason (QĐ 28/2018 Art. 9 asks "
            "for the reason)",
            "thu hồi, cập nhật hoặc thay thế thiếu lý do (BussinessDocReason, QĐ 28/2018 Điều 9)",
        ),
        "profile.bussiness_docid_missing": _o(
            "Bussiness/DocumentId",
            "no Bussiness/DocumentId: the document acted on is taken to be the MessageHeader's "
            "DocumentId",
            "thiếu Bussiness/DocumentId: văn bản được xử lý được hiểu là DocumentId của "
            "MessageHeader",
        ),
        "profile.bussiness_info_missing": _o(
            "Bussiness/BussinessDocumentInfo",
            "an update without BussinessDocumentInfo does not say what changed",
            "văn bản cập nhật thiếu BussinessDocumentInfo: không rõ thay đổi gì",
        ),
        "profile.receiver_list_missing": _o(
            "BussinessDocumentInfo/ReceiverList",
            "DocumentReceiver is 1 but no ReceiverList/Receiver: the recipients stay the To list",
            "DocumentReceiver là 1 nhưng không có ReceiverList/Receiver: nơi nhận vẫn theo To",
        ),
        "profile.replaced_organs_missing": _o(
            "ReplacementInfo/OrganIdList",
            "a ReplacementInfo without OrganIdList/OrganId",
            "ReplacementInfo thiếu danh sách cơ quan (OrganIdList/OrganId)",
        ),
        "profile.bussiness_staff_missing": _o(
            "Bussiness/StaffInfo",
            "a revoke, update or replace without StaffInfo (the clerk who acted)",
            "thu hồi, cập nhật hoặc thay thế thiếu StaffInfo (cán bộ thực hiện)",
        ),
        # -- attachments (§4) ---------------------------------------------------------------
        "profile.attachments_missing": _o(
            "edXMLManifest/Reference",
            "the document carries no attachment",
            "văn bản không kèm tệp đính kèm nào",
        ),
        "profile.attachment_name_missing": _o(
            "Attachment/AttachmentName",
            "an attachment without AttachmentName (neither in the Manifest nor the Attachment)",
            "tệp đính kèm thiếu tên (AttachmentName) ở cả Manifest và Attachment",
        ),
        "profile.content_type_missing": _o(
            "Attachment/ContentType",
            "an attachment without ContentType (neither in the Manifest nor the Attachment)",
            "tệp đính kèm thiếu kiểu nội dung (ContentType) ở cả Manifest và Attachment",
        ),
        # -- status messages (§5) -----------------------------------------------------------
        "profile.response_code_missing": _o(
            "ResponseFor/Code",
            "a status without ResponseFor/Code (number/symbol of the document)",
            "trạng thái thiếu số, ký hiệu văn bản (ResponseFor/Code)",
        ),
        "profile.response_date_missing": _o(
            "ResponseFor/PromulgationDate",
            "a status without ResponseFor/PromulgationDate",
            "trạng thái thiếu ngày ban hành văn bản (ResponseFor/PromulgationDate)",
        ),
        "profile.status_staff_missing": _o(
            "StaffInfo",
            "a status without StaffInfo (the clerk who acted)",
            "trạng thái thiếu StaffInfo (cán bộ xử lý)",
        ),
        "profile.description_missing": _o(
            "Description",
            "a status without Description",
            "trạng thái thiếu mô tả (Description)",
        ),
        "profile.timestamp_missing": _o(
            "Timestamp",
            "a status without Timestamp: the hub records the time it received it",
            "trạng thái thiếu thời điểm (Timestamp): hub ghi thời điểm nhận",
        ),
    }
)

#: Warning codes found outside :data:`OMISSIONS` (values, agency codes, attachments, the
#: envelope signature shape): see the catalogue in :mod:`hub.edxml.problems`.
_OTHER_WARNINGS = (
    "edxml.value",
    "edxml.date_format",
    "trace.sender_mismatch",
    "agency.malformed",
    "agency.unknown",
    "agency.closed",
    "attachment.content_type_mismatch",
    "attachment.name_mismatch",
    "attachment.not_zip",
    "attachment.unchecked",
    "signature.not_xmldsig",
    "signature.weak_algorithm",
    "signature.placeholder",
)

#: Every code the profile may report with warning severity: what a policy may escalate.
WARNING_CODES: frozenset[str] = frozenset((*OMISSIONS, *_OTHER_WARNINGS))


def omitted(code: str, path: str) -> Problem:
    """The warning for the omission ``code`` (a key of :data:`OMISSIONS`) at ``path``."""
    o = OMISSIONS[code]
    return warning(code, path, o.en, o.vi)
