"""Read an edXML package (QCVN 102:2016) into the frozen values of :mod:`hub.edxml.model`.

Contract: bytes (or an already parsed root) in, an :class:`EdocPackage` or a
:class:`StatusPackage` out. The reader raises :class:`EdxmlError` only when the structure that
gives the package its meaning is missing — root not ``edXML`` in the QCVN 102 namespace, no
``edXMLEnvelope/edXMLHeader/MessageHeader``, no ``From/OrganId``. Every other absent or
malformed field is read as ``None`` (dates and numbers keep their raw text where the model has
room for it) and left for the profile check (:mod:`hub.edxml.profile`) to report: a reader that
refused on the first odd field would lose the findings after it.

Tolerance (edxml.md §1, "build tolerant readers and strict writers"):

* Elements are matched on namespace URI + local name, never on the prefix text. Real senders
  mix the root's default namespace and the ``edXML:`` prefix, and some write the attachment
  part (``AttachmentEncoded``/``Attachment``) or single fields without any namespace. Decision:
  below the root, an element in the QCVN 102 namespace **or in no namespace** is accepted under
  its local name; an element in any other namespace (``xsi``, vendor extensions) is ignored.
  The root itself must be ``{NS}edXML``. ``Signature`` is also accepted in the XML-DSig
  namespace.
* Order-insensitive: children are indexed by local name, so ``DocumentId`` may stand anywhere
  in ``MessageHeader``, ``Bussiness`` before ``TraceHeader``, ``SteeringType`` before
  ``ToPlaces`` …
* Attributes are ignored (``TraceHeaderList@id/@version/@mustUnderstand/@actor``, an empty
  ``Reference@xlink:href``).
* Text is stripped of surrounding layout whitespace, NFC-normalised (edxml.md §8) and an empty
  element reads as ``None``. An edoc ``ResponseFor`` with no content at all is dropped (§2 1.12:
  "may be present but empty" — it links to nothing).

Message kind (edxml.md §5): a ``MessageHeader`` that carries ``StatusCode`` and no ``To`` is a
**status**; everything else is an **edoc** (an edoc without ``To`` is still an edoc — the profile
check reports the missing recipient rather than the reader guessing it was a status).

Performance: one hardened parse (:func:`hub.xmlsafe.parse`) and one walk over the header; the
base64 attachment text is never decoded here (:class:`AttachmentMeta` carries its length only).
A package over :data:`TREE_LIMIT` bytes — whose attachment text nodes would break libxml2's
10 MB text limit, which stays on — is parsed by the streaming parser into a tree whose
``ContentTransferEncoded`` texts are left out (:attr:`ParsedPackage.attachments_elided`); the
attachment payloads are then read with :func:`hub.edxml.attachments.iter_attachments`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from hub import xmlsafe
from hub.edxml.model import (
    DSIG_NS,
    NS,
    VN_TZ,
    AttachmentMeta,
    Bussiness,
    BussinessDocType,
    BussinessDocumentInfo,
    Code,
    DocumentType,
    EdocHeader,
    EdocPackage,
    EdxmlDate,
    EdxmlTimestamp,
    ManifestReference,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from hub.edxml.source import Package, PackageFile, package_size
from hub.errors import EdxmlError, XmlError

__all__ = [
    "TREE_LIMIT",
    "ParsedPackage",
    "format_date",
    "format_timestamp",
    "normalise_content_id",
    "parse_date",
    "parse_package",
    "parse_timestamp",
    "read",
    "read_tree",
]

#: Packages larger than this are parsed by the streaming parser with attachment texts left out
#: of the tree (libxml2 refuses text nodes over 10 MB unless ``huge_tree``, which we never set).
TREE_LIMIT = 8 * 1024 * 1024

_NS_PREFIX = "{" + NS + "}"
_NS_LEN = len(_NS_PREFIX)
_DSIG_SIGNATURE = "{" + DSIG_NS + "}Signature"
_DATE = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")
_TIMESTAMP = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_CID = re.compile(r"^\s*<?\s*(?:cid:)?\s*(.*?)\s*>?\s*$", re.IGNORECASE | re.DOTALL)

_Element = etree._Element
_Index = dict[str, list[_Element]]


@dataclass(frozen=True, slots=True)
class ParsedPackage:
    """The one parse of a package, shared by the profile check and the signature verifier.

    ``root`` is the hardened parse of the bytes; ``package`` the values read from it. When
    ``attachments_elided`` is true (package over :data:`TREE_LIMIT`) the tree's
    ``ContentTransferEncoded`` elements are empty: a whole-document signature cannot be checked
    on that tree, and payloads must be streamed from the bytes. That tree is rebuilt from parser
    events, so namespace prefixes may differ from the bytes (``package.signature`` is then
    namespace-equivalent, not byte-identical, to the sender's element).
    """

    root: _Element
    package: EdocPackage | StatusPackage
    attachments_elided: bool = False


# --------------------------------------------------------------------------- public entry points


def read(data: bytes, *, max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES) -> EdocPackage | StatusPackage:
    """Parse ``data`` with the hardened parser and read the package.

    Raises :class:`XmlError` for unsafe or malformed XML and :class:`EdxmlError` for XML that
    is not a readable edXML package.
    """
    return parse_package(data, max_bytes=max_bytes).package


def parse_package(data: Package, *, max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES) -> ParsedPackage:
    """Parse once and read; return the tree with the package so later checks reuse the tree.

    ``data`` is the package bytes or a :class:`~hub.edxml.source.PackageFile`; a file is read
    chunk by chunk when it is over :data:`TREE_LIMIT`. ``max_bytes`` is the caller's size limit
    (:class:`XmlError` ``xml.too_large``, naming it), checked before anything is parsed.
    """
    size = package_size(data)
    if size > max_bytes:
        raise XmlError(
            f"document of {size} bytes exceeds the cap of {max_bytes} bytes",
            message_vi=f"tài liệu {size} byte vượt giới hạn {max_bytes} byte",
            code="xml.too_large",
            details={"max_bytes": max_bytes, "size": size},
        )
    if size <= TREE_LIMIT:
        raw = data.read_all() if isinstance(data, PackageFile) else data
        root = xmlsafe.parse(raw, max_bytes=max_bytes)
        return ParsedPackage(root, read_tree(root))
    if isinstance(data, PackageFile):
        root, lengths = _stream_tree(data.chunks())
    else:
        view = memoryview(data)
        step = 1 << 20
        root, lengths = _stream_tree(bytes(view[p : p + step]) for p in range(0, size, step))
    return ParsedPackage(root, _read_tree(root, lengths), attachments_elided=True)


def read_tree(root: _Element) -> EdocPackage | StatusPackage:
    """Read a package from a root already produced by :func:`hub.xmlsafe.parse`."""
    return _read_tree(root, None)


# --------------------------------------------------------------------------- value helpers


def normalise_content_id(raw: str | None) -> str:
    """``cid:<id>``, ``<id>``, ``<cid:id>`` and ``id`` all give ``id`` (edxml.md §4)."""
    if not raw:
        return ""
    m = _CID.match(raw)
    return unicodedata.normalize("NFC", m.group(1) if m else raw.strip())


def parse_date(raw: str | None) -> EdxmlDate | None:
    """A ``yyyy/MM/dd`` date; ``None`` when absent, ``value=None`` when malformed."""
    if raw is None:
        return None
    m = _DATE.fullmatch(raw)
    value: dt.date | None = None
    if m:
        try:
            value = dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            value = None
    return EdxmlDate(raw, value)


def parse_timestamp(raw: str | None) -> EdxmlTimestamp | None:
    """A ``yyyy/MM/dd HH:mm:ss`` Vietnam-time timestamp (§8) as a UTC instant."""
    if raw is None:
        return None
    m = _TIMESTAMP.fullmatch(raw)
    utc: dt.datetime | None = None
    if m:
        try:
            y, mo, d, h, mi, se = (int(g) for g in m.groups())
            local = dt.datetime(y, mo, d, h, mi, se, tzinfo=VN_TZ)
            utc = local.astimezone(dt.UTC)
        except ValueError:
            utc = None
    return EdxmlTimestamp(raw, utc)


def format_date(value: dt.date) -> str:
    """The wire form ``yyyy/MM/dd``."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(value: dt.datetime) -> str:
    """The wire form ``yyyy/MM/dd HH:mm:ss`` in Vietnam time; ``value`` must be aware."""
    if value.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    v = value.astimezone(VN_TZ)
    return f"{format_date(v.date())} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"


_LOCAL_CACHE: dict[str, str | None] = {}
_LOCAL_CACHE_MAX = 4096  # hostile input can invent tags without end: cache only the first ones


def _local_of(tag: str) -> str | None:
    name = _LOCAL_CACHE.get(tag, "")
    if name != "":
        return name
    if tag.startswith(_NS_PREFIX):
        name = tag[_NS_LEN:]
    elif tag[0] != "{":
        name = tag
    elif tag == _DSIG_SIGNATURE:
        name = "Signature"
    else:
        name = None
    if len(_LOCAL_CACHE) < _LOCAL_CACHE_MAX:
        _LOCAL_CACHE[tag] = name
    return name


def _index(el: _Element) -> _Index:
    """Children by local name: QCVN 102 namespace or no namespace; others ignored."""
    out: _Index = {}
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # comment / processing instruction
        name = _LOCAL_CACHE.get(tag, "") or _local_of(tag)
        if name is None:
            continue
        lst = out.get(name)
        if lst is None:
            out[name] = [child]
        else:
            lst.append(child)
    return out


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _text(idx: _Index, name: str) -> str | None:
    lst = idx.get(name)
    return _clean(lst[0].text) if lst else None


def _first(idx: _Index, name: str) -> _Element | None:
    lst = idx.get(name)
    return lst[0] if lst else None


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _bool(raw: str | None) -> bool | None:
    if raw is None:
        return None
    low = raw.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    return None


def _missing(parent: _Element, name: str, what_en: str, what_vi: str) -> EdxmlError:
    return EdxmlError(
        f"not a readable edXML package: {what_en}",
        message_vi=f"không đọc được gói edXML: {what_vi}",
        code="edxml.missing",
        path=f"{xmlsafe.element_path(parent)}/{name}",
    )


def _require(parent: _Element, idx: _Index, name: str) -> _Element:
    el = _first(idx, name)
    if el is None:
        raise _missing(parent, name, f"element {name} is missing", f"thiếu phần tử {name}")
    return el


# --------------------------------------------------------------------------- element readers


def _organization(el: _Element, *, required: bool) -> Organization:
    idx = _index(el)
    organ_id = _text(idx, "OrganId")
    if organ_id is None and required:
        raise _missing(
            el,
            "OrganId",
            f"{xmlsafe.local_name(el)}/OrganId (the agency code) is missing or empty",
            f"thiếu mã định danh {xmlsafe.local_name(el)}/OrganId",
        )
    return Organization(
        organ_id=organ_id or "",
        organ_name=_text(idx, "OrganName"),
        organization_in_charge=_text(idx, "OrganizationInCharge"),
        organ_add=_text(idx, "OrganAdd"),
        email=_text(idx, "Email"),
        telephone=_text(idx, "Telephone"),
        fax=_text(idx, "Fax"),
        website=_text(idx, "Website"),
    )


def _response_for(el: _Element) -> ResponseFor | None:
    idx = _index(el)
    rf = ResponseFor(
        organ_id=_text(idx, "OrganId"),
        code=_text(idx, "Code"),
        promulgation_date=parse_date(_text(idx, "PromulgationDate")),
        document_id=_text(idx, "DocumentId"),
    )
    if (
        rf.organ_id is None
        and rf.code is None
        and rf.document_id is None
        and (rf.promulgation_date is None)
    ):
        return None
    return rf


def _staff_info(el: _Element | None) -> StaffInfo | None:
    if el is None:
        return None
    idx = _index(el)
    return StaffInfo(
        department=_text(idx, "Department"),
        staff=_text(idx, "Staff"),
        email=_text(idx, "Email"),
        mobile=_text(idx, "Mobile"),
    )


def _edoc_header(mh: _Element, idx: _Index, from_: Organization) -> EdocHeader:
    code_el = _first(idx, "Code")
    code = None
    if code_el is not None:
        ci = _index(code_el)
        code = Code(_text(ci, "CodeNumber"), _text(ci, "CodeNotation"))
    pi_el = _first(idx, "PromulgationInfo")
    promulgation = None
    if pi_el is not None:
        pi = _index(pi_el)
        promulgation = PromulgationInfo(
            _text(pi, "Place"), parse_date(_text(pi, "PromulgationDate"))
        )
    dt_el = _first(idx, "DocumentType")
    doc_type = None
    if dt_el is not None:
        di = _index(dt_el)
        type_raw = _text(di, "Type")
        doc_type = DocumentType(
            type=_int(type_raw),
            type_detail=_int(_text(di, "TypeDetail")),
            type_name=_text(di, "TypeName"),
            type_raw=type_raw,
        )
    si_el = _first(idx, "SignerInfo")
    signer = None
    if si_el is not None:
        si = _index(si_el)
        signer = SignerInfo(_text(si, "Competence"), _text(si, "Position"), _text(si, "FullName"))
    tp_el = _first(idx, "ToPlaces")
    to_places: tuple[str, ...] = ()
    if tp_el is not None:
        to_places = tuple(
            t for t in (_clean(p.text) for p in _index(tp_el).get("Place", ())) if t is not None
        )
    oi_el = _first(idx, "OtherInfo")
    other = None
    if oi_el is not None:
        oi = _index(oi_el)
        apx_el = _first(oi, "Appendixes")
        appendixes: tuple[str, ...] = ()
        if apx_el is not None:
            appendixes = tuple(
                t
                for t in (_clean(a.text) for a in _index(apx_el).get("Appendix", ()))
                if t is not None
            )
        other = OtherInfo(
            priority=_int(_text(oi, "Priority")),
            sphere_of_promulgation=_text(oi, "SphereOfPromulgation"),
            typer_notation=_text(oi, "TyperNotation"),
            promulgation_amount=_int(_text(oi, "PromulgationAmount")),
            page_amount=_int(_text(oi, "PageAmount")),
            direction=_bool(_text(oi, "Direction")),
            appendixes=appendixes,
        )
    response_for = tuple(
        rf for rf in (_response_for(e) for e in idx.get("ResponseFor", ())) if rf is not None
    )
    return EdocHeader(
        from_=from_,
        to=tuple(_organization(e, required=False) for e in idx.get("To", ())),
        document_id=_text(idx, "DocumentId"),
        code=code,
        promulgation_info=promulgation,
        document_type=doc_type,
        subject=_text(idx, "Subject"),
        content=_text(idx, "Content"),
        signer_info=signer,
        due_date=parse_date(_text(idx, "DueDate")),
        to_places=to_places,
        other_info=other,
        response_for=response_for,
        steering_type=_int(_text(idx, "SteeringType")),
    )


def _status_header(idx: _Index, from_: Organization) -> StatusHeader:
    rf_el = _first(idx, "ResponseFor")
    return StatusHeader(
        from_=from_,
        response_for=_response_for(rf_el) if rf_el is not None else None,
        staff_info=_staff_info(_first(idx, "StaffInfo")),
        status_code=_text(idx, "StatusCode"),
        description=_text(idx, "Description"),
        timestamp=parse_timestamp(_text(idx, "Timestamp")),
    )


def _bussiness(el: _Element) -> Bussiness:
    idx = _index(el)
    raw_type = _text(idx, "BussinessDocType")
    doc_type: BussinessDocType | None = None
    n = _int(raw_type)
    if n is not None and n in BussinessDocType._value2member_map_:
        doc_type = BussinessDocType(n)
    info = None
    bdi = _first(idx, "BussinessDocumentInfo")
    if bdi is not None:
        bi = _index(bdi)
        receivers: list[Receiver] = []
        rl = _first(bi, "ReceiverList")
        if rl is not None:
            for r in _index(rl).get("Receiver", ()):
                ri = _index(r)
                receivers.append(
                    Receiver(_text(ri, "OrganId") or "", _int(_text(ri, "ReceiverType")))
                )
        info = BussinessDocumentInfo(
            document_info=_int(_text(bi, "DocumentInfo")),
            document_receiver=_int(_text(bi, "DocumentReceiver")),
            receivers=tuple(receivers),
        )
    replacements: list[ReplacementInfo] = []
    ril = _first(idx, "ReplacementInfoList")
    if ril is not None:
        for r in _index(ril).get("ReplacementInfo", ()):
            ri = _index(r)
            oil = _first(ri, "OrganIdList")
            organ_ids: tuple[str, ...] = ()
            if oil is not None:
                organ_ids = tuple(
                    t for t in (_clean(o.text) for o in _index(oil).get("OrganId", ())) if t
                )
            replacements.append(ReplacementInfo(_text(ri, "DocumentId") or "", organ_ids))
    return Bussiness(
        document_id=_text(idx, "DocumentId"),
        doc_type=doc_type,
        doc_type_raw=raw_type,
        reason=_text(idx, "BussinessDocReason"),
        paper=_int(_text(idx, "Paper")),
        document_info=info,
        replacements=tuple(replacements),
        staff_info=_staff_info(_first(idx, "StaffInfo")),
    )


def _trace(el: _Element | None) -> TraceHeaderList | None:
    if el is None:
        return None
    idx = _index(el)
    headers = []
    for th in idx.get("TraceHeader", ()):
        ti = _index(th)
        ts = parse_timestamp(_text(ti, "Timestamp")) or EdxmlTimestamp("", None)
        headers.append(TraceHeader(_text(ti, "OrganId") or "", ts))
    b = _first(idx, "Bussiness")
    return TraceHeaderList(tuple(headers), _bussiness(b) if b is not None else None)


def _manifest(envelope_idx: _Index) -> tuple[ManifestReference, ...]:
    body = _first(envelope_idx, "edXMLBody")
    if body is None:
        return ()
    man = _first(_index(body), "edXMLManifest")
    if man is None:
        return ()
    refs = []
    for r in _index(man).get("Reference", ()):
        ri = _index(r)
        refs.append(
            ManifestReference(
                content_id=normalise_content_id(_text(ri, "ContentId")),
                content_type=_text(ri, "ContentType"),
                description=_text(ri, "Description"),
                attachment_name=_text(ri, "AttachmentName"),
            )
        )
    return tuple(refs)


def _attachments(
    containers: Iterable[_Element], lengths: dict[_Element, int] | None
) -> tuple[AttachmentMeta, ...]:
    out = []
    for container in containers:
        for a in _index(container).get("Attachment", ()):
            ai = _index(a)
            cte = _first(ai, "ContentTransferEncoded")
            if cte is None:
                length = 0
            elif lengths is not None and cte in lengths:
                length = lengths[cte]
            else:
                length = len(cte.text or "")
            out.append(
                AttachmentMeta(
                    content_id=normalise_content_id(_text(ai, "ContentId")),
                    attachment_name=_text(ai, "AttachmentName"),
                    description=_text(ai, "Description"),
                    content_type=_text(ai, "ContentType"),
                    encoded_length=length,
                )
            )
    return tuple(out)


def _read_tree(root: _Element, lengths: dict[_Element, int] | None) -> EdocPackage | StatusPackage:
    if root.tag != _NS_PREFIX + "edXML":
        raise EdxmlError(
            f"the root element is {root.tag!r}, not edXML in namespace {NS}",
            message_vi=f"phần tử gốc là {root.tag!r}, không phải edXML thuộc không gian tên {NS}",
            code="edxml.root",
            path="/" + xmlsafe.local_name(root),
        )
    root_idx = _index(root)
    envelope = _require(root, root_idx, "edXMLEnvelope")
    env_idx = _index(envelope)
    header = _require(envelope, env_idx, "edXMLHeader")
    hdr_idx = _index(header)
    mh = _require(header, hdr_idx, "MessageHeader")
    mh_idx = _index(mh)
    from_el = _require(mh, mh_idx, "From")
    from_ = _organization(from_el, required=True)

    sig_el = _first(hdr_idx, "Signature")
    signature = etree.tostring(sig_el, with_tail=False) if sig_el is not None else None
    trace = _trace(_first(hdr_idx, "TraceHeaderList"))

    if "StatusCode" in mh_idx and "To" not in mh_idx:
        return StatusPackage(_status_header(mh_idx, from_), signature=signature, trace=trace)
    # AttachmentEncoded stands outside the envelope (§1); accept it inside too.
    containers = root_idx.get("AttachmentEncoded", []) + env_idx.get("AttachmentEncoded", [])
    return EdocPackage(
        header=_edoc_header(mh, mh_idx, from_),
        trace=trace,
        signature=signature,
        manifest=_manifest(env_idx),
        attachments=_attachments(containers, lengths),
    )


# --------------------------------------------------------------------------- large packages


class _ElidingTreeTarget:
    """Builds a tree like the default parser, but counts ``ContentTransferEncoded`` text
    instead of keeping it (keeps memory flat and libxml2's text limit irrelevant)."""

    def __init__(self) -> None:
        self._builder: Any = etree.TreeBuilder()  # lxml-stubs lack the nsmap form of start()
        self._current: _Element | None = None
        self._in_cte = 0
        self._depth = 0
        self._count = 0
        self.lengths: dict[_Element, int] = {}

    def start(self, tag: str, attrib: dict[str, str], nsmap: dict[str | None, str]) -> None:
        self._depth += 1
        if self._depth > xmlsafe.MAX_DEPTH:
            raise xmlsafe.too_deep()
        # lxml hands the default namespace as prefix "" here; TreeBuilder wants None.
        ns = {(k or None): v for k, v in nsmap.items()}
        el: _Element = self._builder.start(tag, attrib, ns)
        if tag.rpartition("}")[2] == "ContentTransferEncoded":
            self._in_cte = 1
            self._count = 0
            self._current = el

    def end(self, tag: str) -> None:
        self._depth -= 1
        if self._in_cte and self._current is not None:
            self.lengths[self._current] = self._count
            self._in_cte = 0
        self._builder.end(tag)

    def data(self, data: str) -> None:
        if self._in_cte:
            self._count += len(data)
        else:
            self._builder.data(data)

    def comment(self, text: str) -> None:
        self._builder.comment(text)

    def pi(self, target: str, data: str | None = None) -> None:
        self._builder.pi(target, data)

    def close(self) -> Any:
        # lxml calls close() on a failed parse too; an incomplete tree must not mask the parser's
        # own error (truncation, encoding, entity) with TreeBuilder's "missing end tags".
        try:
            return self._builder.close()
        except (etree.XMLSyntaxError, AssertionError):
            return None

    def doctype(self, name: str | None, pubid: str | None, system: str | None) -> None:
        # Defence in depth: check_prolog already refuses a DOCTYPE in the first 64 KB.
        raise xmlsafe.doctype_refused()


def _stream_tree(chunks: Iterable[bytes]) -> tuple[_Element, dict[_Element, int]]:
    target = _ElidingTreeTarget()
    parser = xmlsafe.feed_parser(target)
    first = True
    try:
        for chunk in chunks:
            if first:
                xmlsafe.check_prolog(chunk[: 64 * 1024])
                first = False
            parser.feed(chunk)
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        raise xmlsafe.syntax_error(exc) from exc
    if root is None:  # pragma: no cover - the parser raised above
        raise XmlError("no root element", message_vi="không có phần tử gốc", code="xml.malformed")
    return root, target.lengths
