"""The hub's edXML profile check: the profile XSD, then semantic rules.

Contract: :func:`validate` (bytes) and :func:`validate_parsed` (a :class:`ParsedPackage` from the
one parse the intake already did) return a :class:`~hub.edxml.problems.ValidationReport` listing
every finding with a stable code, the element path, a severity and a Vietnamese/English
message. They raise nothing for a bad package — unreadable bytes become a report without a
package — and raise only if the shipped XSD itself is missing.

Two layers:

1. **Structure** — ``schemas/edxml/edxml-profile.xsd`` (the hub's profile, not an official
   schema; order-insensitive, tolerant of attributes and foreign-namespace extensions). The XSD
   is loaded once per process (:func:`profile_schema`, cached).
   *Hazard*: libxml2 validates base64 text at ≈ 6.5 ms per MB when the text is typed
   ``xs:base64Binary`` (PERFORMANCE.md). The profile types it ``xs:string``, which the validator
   accepts without reading it, so the tree is validated in place with no copy (measured, and
   pinned by a test: see :mod:`hub.edxml.profile_schema`).
2. **Meaning** — refuse only what breaks meaning (edxml.md §1): an *error* when the hub or
   the recipient could not tell who sends (``From/OrganId``), to whom (``To/OrganId``), which
   document (``DocumentId``), which status about which document (``StatusCode``,
   ``ResponseFor/OrganId`` and ``/DocumentId``), which business action (``BussinessDocType``
   outside 0–3, a replace naming no ``ReplacementInfo``), or what an attachment holds
   (``ContentId`` matching, base64 payloads); a *warning* with a ``profile.*`` code of its own
   for what QCVN 102 asks for but real traffic omits (``SignerInfo``, ``PromulgationInfo``,
   ``Code``, names, the trace, a revoke's reason…: :mod:`hub.edxml.profile_rules`, decided
   element by element in ``schemas/edxml/PROFILE.md``). Also single occurrence, dates, agency
   codes (and, with a registry, unknown or closed codes), the base64 payloads (a cheap
   structural pass; a full decode and ZIP test only when
   :attr:`ProfileOptions.decode_attachments`), and the shape of the envelope signature (its
   verification belongs to ``signing``). The sending agency's policy may escalate any warning.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from hub.agency.codes import AgencyCode
from hub.agency.registry import Registry
from hub.edxml import profile_payload as payload
from hub.edxml.model import (
    DSIG_NS,
    NS,
    AttachmentMeta,
    BussinessDocType,
    EdocPackage,
    EdxmlDate,
    EdxmlTimestamp,
    ManifestReference,
    StatusPackage,
)
from hub.edxml.problems import Problem, ValidationReport, error, warning
from hub.edxml.profile_rules import omitted
from hub.edxml.profile_schema import (
    is_int,
    not_a_code,
    profile_schema,
    schema_problems,
    signature_problems,
)
from hub.edxml.reader import ParsedPackage, parse_package
from hub.edxml.source import Package
from hub.errors import EdxmlError, XmlError

__all__ = ["ProfileOptions", "profile_schema", "validate", "validate_parsed"]

_E = etree._Element
_DSIG_SIGNATURE = "{" + DSIG_NS + "}Signature"
_P = "{" + NS + "}"
_STRICT_DATE = re.compile(r"\d{4}/\d{2}/\d{2}")
_STRICT_TS = re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}")
_STATUS_CODE = re.compile(r"\d{2}")
_XSD_PREFIX = re.compile(r"[A-Za-z_][\w.-]*:")

HEADER = "/edXML/edXMLEnvelope/edXMLHeader"
MH = HEADER + "/MessageHeader"
TRACE = HEADER + "/TraceHeaderList"
BUSS = TRACE + "/Bussiness"
MANIFEST = "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest"

_EDOC_SINGLE = (
    "From", "Code", "PromulgationInfo", "DocumentType", "Subject", "Content", "SignerInfo",
    "DueDate", "ToPlaces", "OtherInfo", "SteeringType", "DocumentId",
)  # fmt: skip
_STATUS_SINGLE = ("From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp")


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    """How thorough the check is. The defaults suit the intake hot path."""

    #: Fully decode every attachment and test ZIP payloads (CRCs). Off: a structural pass
    #: (length, base64 alphabet, ZIP magic) that costs a fraction of a decode.
    decode_attachments: bool = False
    #: Check OrganIds against this registry (``agency.unknown`` / ``agency.closed``).
    registry: Registry | None = None
    #: The day codes are judged on (default: today, UTC+7 not needed at day granularity).
    on: dt.date | None = None


_DEFAULT = ProfileOptions()


def validate(data: bytes, options: ProfileOptions = _DEFAULT) -> ValidationReport:
    """Parse ``data`` (hardened, once) and check it; unreadable bytes give a report whose only
    problem says why (``xml.*`` or ``edxml.*``) and whose ``package`` is ``None``."""
    try:
        parsed = parse_package(data)
    except (XmlError, EdxmlError) as exc:
        return ValidationReport((error(exc.code, exc.path, exc.message_en, exc.message_vi,
                                       exc.line),), None)  # fmt: skip
    return validate_parsed(parsed, options, data=data)


def validate_parsed(
    parsed: ParsedPackage, options: ProfileOptions = _DEFAULT, *, data: Package | None = None
) -> ValidationReport:
    """Check a package already parsed by :func:`hub.edxml.reader.parse_package`.

    ``data`` (the package bytes) is needed only when the tree was built without attachment text
    (``parsed.attachments_elided``, packages over the reader's tree limit): the payloads are
    then streamed from the bytes; without them an ``attachment.unchecked`` warning says so.
    """
    problems: list[Problem] = list(schema_problems(parsed.root))
    pkg = parsed.package
    checker = _Checker(parsed.root, options, problems)
    if isinstance(pkg, StatusPackage):
        checker.status(pkg)
    else:
        checker.edoc(pkg)
        checker.codes(pkg)
        checker.attachments(pkg, parsed, data)
    checker.signature()
    return ValidationReport(tuple(problems), pkg)


# --------------------------------------------------------------------------- the semantic layer


_Index = dict[str, list[_E]]
_NO_INDEX: _Index = {}
_PLEN = len(_P)


def _index(el: _E | None) -> _Index:
    """Children by local name in one pass: edXML namespace or no namespace (as the reader)."""
    out: _Index = {}
    if el is None:
        return out
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag.startswith(_P):
            name = tag[_PLEN:]
        elif tag[0] != "{":
            name = tag
        elif tag == _DSIG_SIGNATURE:
            name = "Signature"
        else:
            continue
        out.setdefault(name, []).append(child)
    return out


def _first(idx: _Index, name: str) -> _E | None:
    found = idx.get(name)
    return found[0] if found else None


#: Agency codes repeat across packages (the same few senders and recipients): parse each once.
_parse_code = lru_cache(maxsize=8192)(AgencyCode.parse)


class _Checker:
    """Collects problems for one package; one instance per call (not thread-shared)."""

    def __init__(self, root: _E, options: ProfileOptions, out: list[Problem]) -> None:
        self.root = root
        self.options = options
        self.out = out
        self.root_idx = _index(root)
        env_idx = _index(_first(self.root_idx, "edXMLEnvelope"))
        self.hdr_idx = _index(_first(env_idx, "edXMLHeader"))
        self.mh_idx = _index(_first(self.hdr_idx, "MessageHeader"))

    @property
    def on(self) -> dt.date:
        return self.options.on or dt.date.today()

    # -- small helpers -----------------------------------------------------------------------

    def required(self, value: object, path: str, name_vi: str | None = None) -> bool:
        if value not in (None, "", ()):
            return True
        name = path.rsplit("/", 1)[-1]
        self.out.append(
            error(
                "edxml.required",
                path,
                f"required element {name} is missing or empty",
                f"thiếu phần tử bắt buộc {name}" + (f" ({name_vi})" if name_vi else ""),
            )
        )
        return False

    def omit(self, value: object, path: str, code: str) -> bool:
        """Report a harmless omission (``profile.*`` warning, :mod:`hub.edxml.profile_rules`);
        true when ``value`` is present."""
        if value not in (None, "", ()):
            return True
        self.out.append(omitted(code, path))
        return False

    def single(self, names: tuple[str, ...]) -> None:
        for name in names:
            found = self.mh_idx.get(name, ())
            if len(found) > 1:
                self.out.append(
                    error(
                        "edxml.duplicate",
                        f"{MH}/{name}[2]",
                        f"{name} occurs {len(found)} times; QCVN 102 allows one",
                        f"{name} xuất hiện {len(found)} lần; QCVN 102 chỉ cho phép một",
                    )
                )

    def date(self, value: EdxmlDate | EdxmlTimestamp | None, path: str) -> None:
        """Judge a date the reader already parsed (``value`` ``None``: absent, nothing to say)."""
        if value is None or not value.raw:
            return
        raw = value.raw
        timestamp = isinstance(value, EdxmlTimestamp)
        form = "yyyy/MM/dd HH:mm:ss" if timestamp else "yyyy/MM/dd"
        parsed = value.utc if isinstance(value, EdxmlTimestamp) else value.value
        strict = _STRICT_TS if timestamp else _STRICT_DATE
        if parsed is None:
            self.out.append(
                error(
                    "edxml.date_format",
                    path,
                    f"{raw!r} is not a valid {form} value",
                    f"{raw!r} không phải giá trị {form} hợp lệ",
                )
            )
        elif not strict.fullmatch(raw):
            self.out.append(
                warning(
                    "edxml.date_format",
                    path,
                    f"{raw!r} is readable but not in the exact form {form}",
                    f"{raw!r} đọc được nhưng không đúng dạng {form}",
                )
            )

    def agency(self, code: str | None, path: str) -> None:
        if not code:
            return
        parsed = _parse_code(code)
        if not parsed.is_valid:
            self.out.append(
                warning(
                    "agency.malformed",
                    path,
                    f"agency code {code!r}: {parsed.problem}",
                    f"mã định danh {code!r}: {parsed.problem_vi}",
                )
            )
        registry = self.options.registry
        if registry is None or not parsed.is_valid:
            return  # a malformed code is reported once, not also as unknown
        agency = registry.get(code)
        if agency is None:
            self.out.append(
                warning(
                    "agency.unknown",
                    path,
                    f"agency code {code!r} is not in the registry",
                    f"mã định danh {code!r} không có trong danh mục cơ quan",
                )
            )
        elif not agency.is_live(self.on):
            succ = agency.successor_code
            self.out.append(
                warning(
                    "agency.closed",
                    path,
                    f"agency code {code!r} ({agency.name}) is closed on {self.on.isoformat()}"
                    + (f"; successor {succ}" if succ else "; no successor registered"),
                    f"mã định danh {code!r} ({agency.name}) đã đóng vào ngày "
                    f"{self.on.isoformat()}"
                    + (f"; cơ quan kế thừa {succ}" if succ else "; chưa có cơ quan kế thừa"),
                )
            )

    # -- edoc --------------------------------------------------------------------------------

    def edoc(self, pkg: EdocPackage) -> None:
        h = pkg.header
        self.single(_EDOC_SINGLE)
        # Breaks meaning (an error): who sends, to whom, which document (edxml.md §2).
        self.required(h.from_.organ_id, f"{MH}/From/OrganId", "mã định danh nơi gửi")
        self.omit(h.from_.organ_name, f"{MH}/From/OrganName", "profile.from_name_missing")
        self.agency(h.from_.organ_id, f"{MH}/From/OrganId")
        if self.required(h.to, f"{MH}/To", "nơi nhận"):
            many = len(h.to) > 1
            for i, to in enumerate(h.to, 1):
                base = f"{MH}/To[{i}]" if many else f"{MH}/To"
                self.required(to.organ_id, f"{base}/OrganId", "mã định danh nơi nhận")
                self.omit(to.organ_name, f"{base}/OrganName", "profile.to_name_missing")
                self.agency(to.organ_id, f"{base}/OrganId")
        self.required(h.document_id, f"{MH}/DocumentId", "mã văn bản")
        # Asked for by QCVN 102 but omitted in real traffic (a warning, escalated by policy).
        if self.omit(h.code, f"{MH}/Code", "profile.code_missing") and h.code:
            self.omit(h.code.code_number, f"{MH}/Code/CodeNumber", "profile.code_number_missing")
            self.omit(
                h.code.code_notation, f"{MH}/Code/CodeNotation", "profile.code_notation_missing"
            )
        pi = h.promulgation_info
        if self.omit(pi, f"{MH}/PromulgationInfo", "profile.promulgation_missing") and pi:
            self.omit(pi.place, f"{MH}/PromulgationInfo/Place", "profile.issue_place_missing")
            path = f"{MH}/PromulgationInfo/PromulgationDate"
            if self.omit(pi.promulgation_date, path, "profile.issue_date_missing"):
                self.date(pi.promulgation_date, path)
        dt_ = h.document_type
        if self.omit(dt_, f"{MH}/DocumentType", "profile.document_type_missing") and dt_:
            self.omit(dt_.type_name, f"{MH}/DocumentType/TypeName", "profile.type_name_missing")
        self.omit(h.subject, f"{MH}/Subject", "profile.subject_missing")
        si = h.signer_info
        if self.omit(si, f"{MH}/SignerInfo", "profile.signer_info_missing") and si:
            self.omit(si.full_name, f"{MH}/SignerInfo/FullName", "profile.signer_name_missing")
            self.omit(si.position, f"{MH}/SignerInfo/Position", "profile.signer_position_missing")
        if h.due_date:
            self.date(h.due_date, f"{MH}/DueDate")
        for i, rf in enumerate(h.response_for, 1):
            base = f"{MH}/ResponseFor[{i}]" if len(h.response_for) > 1 else f"{MH}/ResponseFor"
            self.agency(rf.organ_id, f"{base}/OrganId")
            if rf.promulgation_date:
                self.date(rf.promulgation_date, f"{base}/PromulgationDate")
        self.trace(pkg)

    def trace(self, pkg: EdocPackage) -> None:
        trace = pkg.trace
        if trace is None or not trace.trace_headers:
            self.out.append(omitted("profile.trace_missing", f"{TRACE}/TraceHeader"))
        else:
            many = len(trace.trace_headers) > 1
            for i, th in enumerate(trace.trace_headers, 1):
                base = f"{TRACE}/TraceHeader[{i}]" if many else f"{TRACE}/TraceHeader"
                self.omit(th.organ_id, f"{base}/OrganId", "profile.trace_organ_id_missing")
                self.agency(th.organ_id, f"{base}/OrganId")
                path = f"{base}/Timestamp"
                if self.omit(th.timestamp.raw, path, "profile.trace_timestamp_missing"):
                    self.date(th.timestamp, path)
            first = trace.trace_headers[0].organ_id
            if first and first != pkg.sender:
                self.out.append(
                    warning(
                        "trace.sender_mismatch",
                        f"{TRACE}/TraceHeader" + ("[1]" if many else "") + "/OrganId",
                        f"the first TraceHeader names {first}, the sender is {pkg.sender}",
                        f"TraceHeader đầu tiên ghi {first}, nơi gửi là {pkg.sender}",
                    )
                )
        b = trace.bussiness if trace else None
        if b is None:
            return
        if b.doc_type is None:
            if b.doc_type_raw is not None:
                # An action the hub cannot name: it cannot tell new from revoke (breaks meaning).
                self.out.append(
                    error(
                        "edxml.value",
                        f"{BUSS}/BussinessDocType",
                        f"BussinessDocType {b.doc_type_raw!r} is not 0, 1, 2 or 3",
                        f"BussinessDocType {b.doc_type_raw!r} không thuộc 0, 1, 2, 3",
                    )
                )
            else:
                self.out.append(
                    omitted("profile.bussiness_type_missing", f"{BUSS}/BussinessDocType")
                )
            return
        kind = b.doc_type
        if kind is not BussinessDocType.NEW:
            # QĐ 28/2018 Điều 9: revoking, updating or replacing a sent document states why;
            # the action itself is still clear without it.
            self.omit(b.reason, f"{BUSS}/BussinessDocReason", "profile.bussiness_reason_missing")
            self.omit(b.staff_info, f"{BUSS}/StaffInfo", "profile.bussiness_staff_missing")
            if kind is not BussinessDocType.REVOKE:
                # The intake falls back to MessageHeader/DocumentId for the document acted on.
                self.omit(b.document_id, f"{BUSS}/DocumentId", "profile.bussiness_docid_missing")
        # A replace that names no replaced document cannot be applied (breaks meaning).
        if kind is BussinessDocType.REPLACE and self.required(
            b.replacements, f"{BUSS}/ReplacementInfoList/ReplacementInfo", "thông tin thay thế"
        ):
            many = len(b.replacements) > 1
            for i, rep in enumerate(b.replacements, 1):
                base = f"{BUSS}/ReplacementInfoList/ReplacementInfo" + (f"[{i}]" if many else "")
                self.required(rep.document_id, f"{base}/DocumentId")
                self.omit(
                    rep.organ_ids,
                    f"{base}/OrganIdList/OrganId",
                    "profile.replaced_organs_missing",
                )
                for code in rep.organ_ids:
                    self.agency(code, f"{base}/OrganIdList/OrganId")
        if kind is BussinessDocType.UPDATE:
            info = b.document_info
            path = f"{BUSS}/BussinessDocumentInfo"
            if self.omit(info, path, "profile.bussiness_info_missing") and info:
                if info.document_receiver == 1:
                    self.omit(
                        info.receivers,
                        f"{path}/ReceiverList/Receiver",
                        "profile.receiver_list_missing",
                    )
                for r in info.receivers:
                    self.agency(r.organ_id, f"{path}/ReceiverList/Receiver")
        if b.paper is not None and b.paper not in (0, 1):
            self.out.append(
                warning(
                    "edxml.value",
                    f"{BUSS}/Paper",
                    f"Paper is {b.paper}, expected 0 or 1",
                    f"Paper là {b.paper}, cần 0 hoặc 1",
                )
            )

    def codes(self, pkg: EdocPackage) -> None:
        """Optional codes that do not read as integers (a boolean for ``Direction``): warnings,
        since the reader reads them as absent (the XSD types them as text, PROFILE.md).

        Only a group where the model holds ``None`` (absent, or unreadable) is looked at in
        the tree, through the indexes: a well-formed package costs no tree walk here."""
        h, b = pkg.header, pkg.trace.bussiness if pkg.trace else None
        mh = self.mh_idx
        if h.steering_type is None:
            self.ints(mh, ("SteeringType",))
        dt_ = h.document_type
        if dt_ is not None and (dt_.type is None or dt_.type_detail is None):
            self.ints(_index(_first(mh, "DocumentType")), ("Type", "TypeDetail"))
        oi = h.other_info
        if oi is not None and None in (oi.priority, oi.promulgation_amount, oi.page_amount,
                                       oi.direction):  # fmt: skip
            other = _index(_first(mh, "OtherInfo"))
            self.ints(other, ("Priority", "PromulgationAmount", "PageAmount"))
            for el in other.get("Direction", ()):
                text = (el.text or "").strip()
                if text and text.lower() not in ("true", "false", "1", "0"):
                    self.out.append(not_a_code(el, text, "true/false"))
        info = b.document_info if b else None
        if b is None or (
            b.paper is not None
            and (info is None or None not in (info.document_info, info.document_receiver))
            and (info is None or all(r.receiver_type is not None for r in info.receivers))
        ):
            return
        buss = _index(_first(_index(_first(self.hdr_idx, "TraceHeaderList")), "Bussiness"))
        self.ints(buss, ("Paper",))
        bdi = _index(_first(buss, "BussinessDocumentInfo"))
        self.ints(bdi, ("DocumentInfo", "DocumentReceiver"))
        for r in _index(_first(bdi, "ReceiverList")).get("Receiver", ()):
            self.ints(_index(r), ("ReceiverType",))

    def ints(self, idx: _Index, names: tuple[str, ...]) -> None:
        for name in names:
            for el in idx.get(name, ()):
                text = (el.text or "").strip()
                if text and not is_int(text):
                    self.out.append(not_a_code(el, text, "an integer"))

    # -- status ------------------------------------------------------------------------------

    def status(self, pkg: StatusPackage) -> None:
        h = pkg.header
        self.single(_STATUS_SINGLE)
        self.required(h.from_.organ_id, f"{MH}/From/OrganId", "mã định danh nơi gửi")
        self.omit(h.from_.organ_name, f"{MH}/From/OrganName", "profile.from_name_missing")
        self.agency(h.from_.organ_id, f"{MH}/From/OrganId")
        rf = h.response_for
        # A status is routed to ResponseFor/OrganId and is about ResponseFor/DocumentId
        # (QCVN 102 §5): without them it goes nowhere and says nothing (breaks meaning).
        if self.required(rf, f"{MH}/ResponseFor", "văn bản được phản hồi") and rf:
            self.required(rf.organ_id, f"{MH}/ResponseFor/OrganId", "nơi nhận trạng thái")
            self.agency(rf.organ_id, f"{MH}/ResponseFor/OrganId")
            self.required(rf.document_id, f"{MH}/ResponseFor/DocumentId", "mã văn bản")
            self.omit(rf.code, f"{MH}/ResponseFor/Code", "profile.response_code_missing")
            path = f"{MH}/ResponseFor/PromulgationDate"
            if self.omit(rf.promulgation_date, path, "profile.response_date_missing"):
                self.date(rf.promulgation_date, path)
        self.omit(h.staff_info, f"{MH}/StaffInfo", "profile.status_staff_missing")
        code = h.status_code
        present = self.required(code, f"{MH}/StatusCode", "mã trạng thái")
        if present and code and not _STATUS_CODE.fullmatch(code):
            # The code set is open (store unknown codes verbatim), but every known code is two
            # digits: anything else is worth a warning, not a refusal.
            self.out.append(
                warning(
                    "edxml.value",
                    f"{MH}/StatusCode",
                    f"StatusCode {code!r} is not a two-digit code",
                    f"StatusCode {code!r} không phải mã hai chữ số",
                )
            )
        self.omit(h.description, f"{MH}/Description", "profile.description_missing")
        ts = h.timestamp
        path = f"{MH}/Timestamp"
        if self.omit(ts.raw if ts else None, path, "profile.timestamp_missing") and ts:
            self.date(ts, path)

    # -- attachments -------------------------------------------------------------------------

    def attachments(self, pkg: EdocPackage, parsed: ParsedPackage, data: Package | None) -> None:
        refs = pkg.manifest
        atts = pkg.attachments
        if not refs and not atts:
            self.out.append(omitted("profile.attachments_missing", f"{MANIFEST}/Reference"))
            return
        by_ref: dict[str, int] = {}
        for i, ref in enumerate(refs, 1):
            path = f"{MANIFEST}/Reference" + (f"[{i}]" if len(refs) > 1 else "")
            if not self.required(ref.content_id, f"{path}/ContentId"):
                continue
            if ref.content_id in by_ref:
                self.out.append(_dup_id(f"{path}/ContentId", ref.content_id))
            by_ref.setdefault(ref.content_id, i)
        elements = [
            a
            for ae in self.root_idx.get("AttachmentEncoded", ())
            for a in _index(ae).get("Attachment", ())
        ]
        seen: set[str] = set()
        for i, att in enumerate(atts, 1):
            path = "/edXML/AttachmentEncoded/Attachment" + (f"[{i}]" if len(atts) > 1 else "")
            if not self.required(att.content_id, f"{path}/ContentId"):
                continue
            if att.content_id in seen:
                self.out.append(_dup_id(f"{path}/ContentId", att.content_id))
            seen.add(att.content_id)
            ref_index = by_ref.get(att.content_id)
            if ref_index is None:
                self.out.append(
                    error(
                        "attachment.unlisted",
                        f"{path}/ContentId",
                        f"attachment {att.content_id!r} is not listed in the Manifest",
                        f"tệp đính kèm {att.content_id!r} không có trong Manifest",
                    )
                )
            listed = refs[ref_index - 1] if ref_index is not None else None
            if listed is not None:
                self.compare(listed, att, path)
            self.omit(
                att.attachment_name or (listed.attachment_name if listed else None),
                f"{path}/AttachmentName",
                "profile.attachment_name_missing",
            )
            self.omit(
                att.content_type or (listed.content_type if listed else None),
                f"{path}/ContentType",
                "profile.content_type_missing",
            )
            el = elements[i - 1] if i - 1 < len(elements) else None
            cte = _first(_index(el), "ContentTransferEncoded")
            if parsed.attachments_elided:
                continue  # checked from the bytes below
            text = cte.text if cte is not None else None
            self.out.extend(
                payload.check_base64(
                    text or "",
                    f"{path}/ContentTransferEncoded",
                    att.content_type,
                    full=self.options.decode_attachments,
                )
            )
        for ref in refs:
            if ref.content_id and ref.content_id not in seen:
                i = by_ref[ref.content_id]
                self.out.append(
                    error(
                        "attachment.missing",
                        f"{MANIFEST}/Reference" + (f"[{i}]" if len(refs) > 1 else ""),
                        f"Manifest lists {ref.content_id!r} but no Attachment carries it",
                        f"Manifest liệt kê {ref.content_id!r} nhưng không có tệp đính kèm đó",
                    )
                )
        if parsed.attachments_elided:
            self.out.extend(
                payload.check_streamed(data, full=self.options.decode_attachments, atts=atts)
            )

    def compare(self, ref: ManifestReference, att: AttachmentMeta, path: str) -> None:
        rt, at = (ref.content_type or "").lower(), (att.content_type or "").lower()
        if rt and at and rt != at:
            # edxml.md §4: seen in real traffic (Manifest application/pdf, Attachment zip);
            # the payload's magic bytes decide, so this informs rather than refuses.
            self.out.append(
                warning(
                    "attachment.content_type_mismatch",
                    f"{path}/ContentType",
                    f"Manifest says {ref.content_type}, the attachment says {att.content_type}",
                    f"Manifest ghi {ref.content_type}, tệp đính kèm ghi {att.content_type}",
                )
            )
        if (
            ref.attachment_name
            and att.attachment_name
            and ref.attachment_name != (att.attachment_name)
        ):
            self.out.append(
                warning(
                    "attachment.name_mismatch",
                    f"{path}/AttachmentName",
                    f"Manifest names {ref.attachment_name!r}, the attachment "
                    f"{att.attachment_name!r}",
                    f"Manifest ghi tên {ref.attachment_name!r}, tệp đính kèm ghi "
                    f"{att.attachment_name!r}",
                )
            )

    # -- envelope signature shape --------------------------------------------------------------

    def signature(self) -> None:
        sig = _first(self.hdr_idx, "Signature")  # edXML namespace (SDK) or XML-DSig
        if sig is not None:
            self.out.extend(signature_problems(sig, f"{HEADER}/Signature"))


def _dup_id(path: str, cid: str) -> Problem:
    return error(
        "attachment.duplicate_id",
        path,
        f"ContentId {cid!r} is used more than once",
        f"ContentId {cid!r} bị dùng nhiều lần",
    )
