"""The profile check on self-made packages: one test (at least) per problem code."""

from __future__ import annotations

import base64
import datetime as dt
import io
import zipfile
from collections.abc import Callable

import pytest
from lxml import etree

from hub import xmlsafe
from hub.agency import Agency, Registry
from hub.edxml.model import DSIG_NS, NS, EdocPackage, StatusPackage
from hub.edxml.problems import Severity, ValidationReport
from hub.edxml.profile import ProfileOptions, profile_schema, validate, validate_parsed
from hub.edxml.reader import ParsedPackage, parse_package
from hub.edxml.writer import OutgoingAttachment
from hub.errors import ProfileError
from hub.resources import data_path
from tests.factories import make_edoc, make_pdf_bytes, make_status

Q = "{" + NS + "}"


def mutate(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = xmlsafe.parse(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def first(root: etree._Element, name: str) -> etree._Element:
    found = next(root.iter(Q + name, name), None)
    assert found is not None, name
    return found


def remove(name: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        el = first(root, name)
        parent = el.getparent()
        assert parent is not None
        parent.remove(el)

    return change


def set_text(name: str, text: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        first(root, name).text = text

    return change


def problem(report: ValidationReport, code: str) -> tuple[Severity, str | None, str, str]:
    found = [p for p in report.problems if p.code == code]
    assert found, f"{code} not in {report.codes()}"
    p = found[0]
    return p.severity, p.path, p.message_en, p.message_vi


# --------------------------------------------------------------------------- clean packages


def test_factory_edoc_and_status_have_no_problem() -> None:
    edoc = validate(make_edoc())
    assert edoc.problems == ()
    assert edoc.ok
    assert isinstance(edoc.package, EdocPackage)
    status = validate(make_status())
    assert status.problems == ()
    assert isinstance(status.package, StatusPackage)


def test_schema_is_loaded_once() -> None:
    assert profile_schema() is profile_schema()


def test_validate_parsed_reuses_the_one_parse() -> None:
    parsed = parse_package(make_edoc())
    report = validate_parsed(parsed)
    assert report.package is parsed.package
    assert report.ok


# --------------------------------------------------------------------------- unreadable input


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not xml at all", "xml.malformed"),
        (b"", "xml.empty"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>', "xml.doctype"),
        (b"<other xmlns='urn:x'/>", "edxml.root"),
    ],
)
def test_unreadable_bytes_give_a_report_not_an_exception(data: bytes, code: str) -> None:
    report = validate(data)
    assert not report.ok
    assert report.package is None
    assert report.codes() == [code]


# --------------------------------------------------------------------------- structure (XSD)


def test_schema_flags_unknown_element() -> None:
    def change(root: etree._Element) -> None:
        etree.SubElement(first(root, "From"), Q + "Nonsense").text = "x"

    report = validate(mutate(make_edoc(), change))
    schema = [p for p in report.problems if p.code == "edxml.schema"]
    assert len(schema) == 1
    assert schema[0].severity is Severity.ERROR
    assert schema[0].path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/Nonsense"
    assert schema[0].line
    assert "không đúng lược đồ" in schema[0].message_vi


@pytest.mark.parametrize(
    ("name", "value"),
    [("Priority", "Khẩn"), ("PageAmount", "2 trang"), ("Type", "CV"), ("Paper", "có")],
)
def test_optional_code_that_is_not_a_number_is_a_warning(name: str, value: str) -> None:
    # Was an edxml.schema error (the XSD typed it xs:integer); the value is informational and
    # the reader reads it as absent, so the package keeps its meaning.
    report = validate(mutate(make_edoc(), set_text(name, value)))
    severity, path, en, vi = problem(report, "edxml.value")
    assert severity is Severity.WARNING
    assert path is not None
    assert path.endswith(f"/{name}")
    assert value in en
    assert value in vi
    assert "edxml.schema" not in report.codes()
    assert report.ok


def test_direction_must_read_as_a_boolean() -> None:
    def change(root: etree._Element) -> None:
        etree.SubElement(first(root, "OtherInfo"), Q + "Direction").text = "đi"

    report = validate(mutate(make_edoc(), change))
    assert problem(report, "edxml.value")[1] == (
        "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/OtherInfo/Direction"
    )
    assert report.ok


def test_business_type_that_is_not_a_number_is_still_an_error() -> None:
    report = validate(mutate(make_edoc(), set_text("BussinessDocType", "moi")))
    assert "edxml.schema" in report.codes()
    assert not report.ok


def test_schema_tolerates_order_attributes_and_foreign_elements() -> None:
    def change(root: etree._Element) -> None:
        mh = first(root, "MessageHeader")
        doc_id = first(root, "DocumentId")
        mh.remove(doc_id)
        mh.insert(0, doc_id)  # DocumentId first
        first(root, "TraceHeaderList").set("mustUnderstand", "1")
        first(root, "Reference").set("{http://www.w3.org/1999/xlink}href", "")
        etree.SubElement(mh, "{urn:vendor}Extra").text = "vendor data"
        first(root, "Priority").text = ""  # an empty integer reads as absent

    report = validate(mutate(make_edoc(), change))
    assert report.problems == ()


def test_schema_still_sees_attachment_structure_in_the_skeleton() -> None:
    def change(root: etree._Element) -> None:
        etree.SubElement(first(root, "Attachment"), Q + "Bogus")

    report = validate(mutate(make_edoc(), change))
    _, path, _, _ = problem(report, "edxml.schema")
    assert path == "/edXML/AttachmentEncoded/Attachment/Bogus"


def test_payload_is_typed_string_so_the_validator_never_reads_it() -> None:
    # xs:base64Binary would make libxml2 decode every character (≈ 16 ms per MB measured);
    # xs:string is accepted unread. This pins the choice the in-place validation relies on.
    xsd = xmlsafe.parse(data_path("schemas", "edxml", "edxml-profile.xsd").read_bytes())
    xs = "{http://www.w3.org/2001/XMLSchema}element"
    [cte] = [e for e in xsd.iter(xs) if e.get("name") == "ContentTransferEncoded"]
    assert cte.get("type") == "xs:string"
    # And validation leaves the received tree untouched.
    parsed = parse_package(make_edoc())
    before = etree.tostring(parsed.root)
    validate_parsed(parsed)
    assert etree.tostring(parsed.root) == before


# --------------------------------------------------------------------------- required, duplicate


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("DocumentId", "/MessageHeader/DocumentId"),
        ("To", "/MessageHeader/To"),
    ],
)
def test_edoc_fields_without_which_it_has_no_meaning(name: str, path: str) -> None:
    report = validate(mutate(make_edoc(), remove(name)))
    severity, got, en, vi = problem(report, "edxml.required")
    assert severity is Severity.ERROR
    assert got is not None
    assert got.endswith(path)
    assert name in en or path.rsplit("/", 1)[-1] in en
    assert vi.startswith("thiếu phần tử bắt buộc")
    assert not report.ok


def test_recipient_without_organ_id_is_an_error() -> None:
    def change(root: etree._Element) -> None:
        to = first(root, "To")
        to.remove(first(to, "OrganId"))

    report = validate(mutate(make_edoc(), change))
    _, path, _, _ = problem(report, "edxml.required")
    assert path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To/OrganId"
    assert not report.ok


# Elements QCVN 102 asks for that real traffic omits (the official EdXML102 builder allows a
# package without them): each is a warning with its own code, and the package stays valid.
@pytest.mark.parametrize(
    ("name", "code", "path"),
    [
        ("Subject", "profile.subject_missing", "MessageHeader/Subject"),
        ("SignerInfo", "profile.signer_info_missing", "MessageHeader/SignerInfo"),
        ("FullName", "profile.signer_name_missing", "SignerInfo/FullName"),
        ("Position", "profile.signer_position_missing", "SignerInfo/Position"),
        ("PromulgationInfo", "profile.promulgation_missing", "MessageHeader/PromulgationInfo"),
        ("Place", "profile.issue_place_missing", "PromulgationInfo/Place"),
        (
            "PromulgationDate",
            "profile.issue_date_missing",
            "PromulgationInfo/PromulgationDate",
        ),
        ("Code", "profile.code_missing", "MessageHeader/Code"),
        ("CodeNumber", "profile.code_number_missing", "MessageHeader/Code/CodeNumber"),
        ("CodeNotation", "profile.code_notation_missing", "MessageHeader/Code/CodeNotation"),
        ("OrganName", "profile.from_name_missing", "MessageHeader/From/OrganName"),
        ("DocumentType", "profile.document_type_missing", "MessageHeader/DocumentType"),
        ("TypeName", "profile.type_name_missing", "DocumentType/TypeName"),
        ("TraceHeaderList", "profile.trace_missing", "TraceHeaderList/TraceHeader"),
    ],
)
def test_edoc_omissions_are_warnings(name: str, code: str, path: str) -> None:
    report = validate(mutate(make_edoc(), remove(name)))
    severity, got, en, vi = problem(report, code)
    assert severity is Severity.WARNING
    assert got is not None
    assert got.endswith(path), got
    assert en
    assert vi
    assert report.ok, report.codes()


def test_recipient_name_omitted_is_a_warning_at_its_position() -> None:
    def change(root: etree._Element) -> None:
        to = list(root.iter(Q + "To"))[1]
        to.remove(next(to.iter(Q + "OrganName")))

    report = validate(mutate(make_edoc(to=["000.00.00.H41", "000.00.00.H14"]), change))
    _, path, _, _ = problem(report, "profile.to_name_missing")
    assert path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganName"
    assert report.ok


def test_duplicate_singleton_in_message_header() -> None:
    def change(root: etree._Element) -> None:
        subject = first(root, "Subject")
        subject.addnext(etree.fromstring(etree.tostring(subject)))

    report = validate(mutate(make_edoc(), change))
    severity, path, _, _ = problem(report, "edxml.duplicate")
    assert severity is Severity.ERROR
    assert path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/Subject[2]"


@pytest.mark.parametrize("name", ["ResponseFor", "StatusCode", "DocumentId"])
def test_status_required_fields(name: str) -> None:
    # StatusCode is emptied, not removed: without it the reader reads an edoc (edxml.md §5).
    change = set_text(name, "") if name == "StatusCode" else remove(name)
    report = validate(mutate(make_status(), change))
    _, path, _, _ = problem(report, "edxml.required")
    assert path is not None
    assert path.endswith(name)
    assert not report.ok


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Timestamp", "profile.timestamp_missing"),
        ("StaffInfo", "profile.status_staff_missing"),
        ("Description", "profile.description_missing"),
        ("Code", "profile.response_code_missing"),
        ("PromulgationDate", "profile.response_date_missing"),
        ("OrganName", "profile.from_name_missing"),
    ],
)
def test_status_omissions_are_warnings(name: str, code: str) -> None:
    report = validate(mutate(make_status(), remove(name)))
    severity, path, _, _ = problem(report, code)
    assert severity is Severity.WARNING
    assert path is not None
    assert path.endswith(name)
    assert report.ok


def test_status_needs_a_route() -> None:
    report = validate(mutate(make_status(), _drop_rf_organ))
    _, path, _, _ = problem(report, "edxml.required")
    assert path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/ResponseFor/OrganId"


def _drop_rf_organ(root: etree._Element) -> None:
    rf = first(root, "ResponseFor")
    rf.remove(first(rf, "OrganId"))


def test_status_code_open_set_but_two_digits() -> None:
    assert validate(make_status(status_code="42")).ok
    assert validate(make_status(status_code="42")).problems == ()
    report = validate(make_status(status_code="OK"))
    severity, _, _, _ = problem(report, "edxml.value")
    assert severity is Severity.WARNING
    assert report.ok


# --------------------------------------------------------------------------- business types


def test_reason_omitted_for_revoke_update_replace_is_a_warning() -> None:
    path = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/BussinessDocReason"
    for kind in (1, 2, 3):
        data = mutate(make_edoc(business_type=kind), remove("BussinessDocReason"))
        report = validate(data)
        paths = [p.path for p in report.problems if p.code == "profile.bussiness_reason_missing"]
        assert paths == [path], (kind, report.codes())
        assert "edxml.required" not in report.codes() or kind == 3
    new = validate(mutate(make_edoc(business_type=0), remove("BussinessDocReason")))
    assert new.problems == ()


def _drop_bussiness_document_id(root: etree._Element) -> None:
    b = first(root, "Bussiness")
    b.remove(first(b, "DocumentId"))


def test_document_id_omitted_for_update_and_replace_is_a_warning() -> None:
    # The intake falls back to MessageHeader/DocumentId for the document acted on.
    for kind, expected in ((1, False), (2, True), (3, True)):
        report = validate(mutate(make_edoc(business_type=kind), _drop_bussiness_document_id))
        found = [p for p in report.problems if p.code == "profile.bussiness_docid_missing"]
        assert bool(found) is expected, (kind, report.codes())
        assert all(p.path and p.path.endswith("Bussiness/DocumentId") for p in found)
        assert "edxml.required" not in report.codes() or kind == 3


def test_bussiness_staff_info_and_doc_type_omitted_are_warnings() -> None:
    report = validate(mutate(make_edoc(business_type=1), remove("StaffInfo")))
    assert problem(report, "profile.bussiness_staff_missing")[0] is Severity.WARNING
    assert report.ok
    report = validate(mutate(make_edoc(), remove("BussinessDocType")))
    severity, path, _, _ = problem(report, "profile.bussiness_type_missing")
    assert severity is Severity.WARNING
    assert path is not None
    assert path.endswith("Bussiness/BussinessDocType")
    assert report.ok


def test_replacement_info_required_for_replace() -> None:
    report = validate(make_edoc(business_type=3))
    _, path, _, _ = problem(report, "edxml.required")
    assert path is not None
    assert path.endswith("Bussiness/ReplacementInfoList/ReplacementInfo")

    def add(root: etree._Element) -> None:
        b = first(root, "Bussiness")
        lst = etree.SubElement(b, Q + "ReplacementInfoList")
        info = etree.SubElement(lst, Q + "ReplacementInfo")
        etree.SubElement(info, Q + "DocumentId").text = "000.00.00.G22,2024/03/01,7000/VPCP"
        ids = etree.SubElement(info, Q + "OrganIdList")
        etree.SubElement(ids, Q + "OrganId").text = "000.00.00.H41"

    assert validate(mutate(make_edoc(business_type=3), add)).ok


def test_update_without_document_info_is_a_warning() -> None:
    report = validate(make_edoc(business_type=2))
    severity, path, _, _ = problem(report, "profile.bussiness_info_missing")
    assert severity is Severity.WARNING
    assert path is not None
    assert path.endswith("BussinessDocumentInfo")
    assert report.ok


def test_unknown_business_type() -> None:
    report = validate(mutate(make_edoc(), set_text("BussinessDocType", "7")))
    severity, path, _, _ = problem(report, "edxml.value")
    assert severity is Severity.ERROR
    assert path is not None
    assert path.endswith("BussinessDocType")


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("name", "value", "severity"),
    [
        ("PromulgationDate", "15/03/2024", Severity.ERROR),
        ("PromulgationDate", "2024/02/30", Severity.ERROR),
        ("PromulgationDate", "2024/3/5", Severity.WARNING),
        ("Timestamp", "2024-03-15T09:30:00", Severity.ERROR),
        ("Timestamp", "2024/03/15 9:30:00", Severity.WARNING),
    ],
)
def test_date_formats(name: str, value: str, severity: Severity) -> None:
    report = validate(mutate(make_edoc(), set_text(name, value)))
    got, path, en, _ = problem(report, "edxml.date_format")
    assert got is severity
    assert path is not None
    assert path.endswith(name)
    assert value in en


def test_status_timestamp_format() -> None:
    report = validate(mutate(make_status(), set_text("Timestamp", "yesterday")))
    assert problem(report, "edxml.date_format")[0] is Severity.ERROR


# --------------------------------------------------------------------------- trace, agencies


def test_missing_trace_is_a_warning() -> None:
    report = validate(make_edoc(trace=[]))
    assert problem(report, "profile.trace_missing")[1] == (
        "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader"
    )
    assert report.ok


def test_trace_sender_mismatch() -> None:
    when = dt.datetime(2024, 3, 15, 9, 0, tzinfo=dt.UTC)
    report = validate(make_edoc(trace=[("000.00.00.H14", when)]))
    severity, _, en, _ = problem(report, "trace.sender_mismatch")
    assert severity is Severity.WARNING
    assert "000.00.00.H14" in en


@pytest.mark.parametrize("code", ["01.02.G22", "999.010.01.H22", "vxp.saas.03"])
def test_malformed_agency_codes_are_warnings(code: str) -> None:
    report = validate(make_edoc(to=[code]))
    severity, path, en, vi = problem(report, "agency.malformed")
    assert severity is Severity.WARNING
    assert path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To/OrganId"
    assert code in en
    assert code in vi
    assert report.ok


def test_registry_unknown_and_closed_codes() -> None:
    registry = Registry(
        [
            Agency(code="000.00.00.G22", name="Văn phòng Chính phủ"),
            Agency(code="000.00.00.H41", name="UBND tỉnh Nghệ An"),
            Agency(
                code="000.00.21.H41",
                name="UBND huyện Nghi Lộc",
                valid_to=dt.date(2025, 7, 1),
                successor_code="000.00.65.H41",
            ),
            Agency(code="000.00.65.H41", name="UBND xã Nghi Lộc"),
        ]
    )
    options = ProfileOptions(registry=registry, on=dt.date(2025, 8, 1))
    report = validate(make_edoc(to=["000.00.21.H41", "000.00.99.H41"]), options)
    closed = problem(report, "agency.closed")
    assert closed[0] is Severity.WARNING
    assert "000.00.65.H41" in closed[2]
    unknown = problem(report, "agency.unknown")
    assert unknown[1] == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId"
    before = ProfileOptions(registry=registry, on=dt.date(2025, 6, 30))
    assert "agency.closed" not in validate(make_edoc(to=["000.00.21.H41"]), before).codes()


# --------------------------------------------------------------------------- attachments


def _zip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.pdf", data)
    return buf.getvalue()


def test_no_attachment_is_a_warning() -> None:
    report = validate(make_edoc(attachments=[]))
    assert problem(report, "profile.attachments_missing")[1] == (
        "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference"
    )
    assert report.ok


def test_manifest_entry_without_attachment() -> None:
    report = validate(mutate(make_edoc(), remove("AttachmentEncoded")))
    assert problem(report, "attachment.missing")[0] is Severity.ERROR


def test_attachment_not_in_manifest_and_duplicate_ids() -> None:
    unlisted = validate(mutate(make_edoc(), set_text("ContentId", "cid:other")))
    assert problem(unlisted, "attachment.missing")[0] is Severity.ERROR
    att = validate(mutate(make_edoc(), _retag_attachment_cid))
    assert problem(att, "attachment.unlisted")[1] == (
        "/edXML/AttachmentEncoded/Attachment/ContentId"
    )
    two = [
        OutgoingAttachment("1", "a.pdf", "application/pdf", make_pdf_bytes("a")),
        OutgoingAttachment("1", "b.pdf", "application/pdf", make_pdf_bytes("b")),
    ]
    dup = validate(make_edoc(attachments=two))
    assert problem(dup, "attachment.duplicate_id")[0] is Severity.ERROR


def _retag_attachment_cid(root: etree._Element) -> None:
    att = first(root, "Attachment")
    first(att, "ContentId").text = "cid:elsewhere"


def test_cid_prefix_dropped_on_one_side_still_matches() -> None:
    report = validate(mutate(make_edoc(), _strip_cid_prefix))
    assert report.problems == ()


def _strip_cid_prefix(root: etree._Element) -> None:
    att = first(root, "Attachment")
    first(att, "ContentId").text = "1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[ELIDED: 361100 base64 chars]", "character '['"),
        ("", "no data"),
        ("QUJDRA=", "truncated"),
        ("QU=JDRA=", "padding"),
        ("QUJDRAé=", "character 'é'"),
    ],
)
def test_undecodable_payloads(text: str, fragment: str) -> None:
    report = validate(mutate(make_edoc(), set_text("ContentTransferEncoded", text)))
    severity, path, en, vi = problem(report, "attachment.undecodable")
    assert severity is Severity.ERROR
    assert path == "/edXML/AttachmentEncoded/Attachment/ContentTransferEncoded"
    assert fragment in en
    assert vi
    assert not report.ok


def test_line_wrapped_base64_is_accepted() -> None:
    def wrap(root: etree._Element) -> None:
        cte = first(root, "ContentTransferEncoded")
        text = cte.text or ""
        cte.text = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))

    report = validate(mutate(make_edoc(), wrap), ProfileOptions(decode_attachments=True))
    assert report.problems == ()


def test_content_type_and_name_mismatch_are_warnings() -> None:
    def change(root: etree._Element) -> None:
        att = first(root, "Attachment")
        first(att, "ContentType").text = "application/zip"
        first(att, "AttachmentName").text = "khac.pdf"

    report = validate(mutate(make_edoc(), change))
    assert problem(report, "attachment.content_type_mismatch")[0] is Severity.WARNING
    assert problem(report, "attachment.name_mismatch")[0] is Severity.WARNING
    assert report.ok


def test_declared_zip_without_zip_magic() -> None:
    raw = OutgoingAttachment("1", "a.zip", "application/zip", b"%PDF-1.7 not a zip", zip=False)
    report = validate(make_edoc(attachments=[raw]))
    assert problem(report, "attachment.not_zip")[0] is Severity.WARNING


def test_corrupt_zip_found_only_with_full_decode() -> None:
    good = bytearray(_zip(b"%PDF-1.7 " + b"x" * 2000))
    good[60] ^= 0xFF  # inside the stored entry's data: the CRC no longer matches
    text = base64.b64encode(bytes(good)).decode()
    data = mutate(make_edoc(), set_text("ContentTransferEncoded", text))
    assert "attachment.corrupt" not in validate(data).codes()
    report = validate(data, ProfileOptions(decode_attachments=True))
    severity, _, en, _ = problem(report, "attachment.corrupt")
    assert severity is Severity.ERROR
    assert "a.pdf" in en or "ZIP" in en


def test_elided_tree_payloads_streamed_from_bytes_or_flagged_unchecked() -> None:
    bad = mutate(make_edoc(), set_text("ContentTransferEncoded", "[ELIDED]"))
    parsed = parse_package(bad)
    elided = ParsedPackage(parsed.root, parsed.package, attachments_elided=True)
    streamed = validate_parsed(elided, data=bad)
    assert problem(streamed, "attachment.undecodable")[0] is Severity.ERROR
    unchecked = validate_parsed(elided)
    assert problem(unchecked, "attachment.unchecked")[0] is Severity.WARNING
    good = make_edoc()
    ok = parse_package(good)
    assert validate_parsed(ParsedPackage(ok.root, ok.package, True), data=good).problems == ()


# --------------------------------------------------------------------------- envelope signature

SDK_SIGNATURE = b"""<Signature xmlns="%s"><SignedInfo>
<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>
<Reference URI=""><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>
<DigestValue>AAAA</DigestValue></Reference></SignedInfo><SignatureValue>AAAA</SignatureValue>
<KeyInfo><X509Data><X509Certificate>MIIFqTCCBJG</X509Certificate></X509Data></KeyInfo>
</Signature>"""


def test_sdk_style_signature_warnings() -> None:
    report = validate(make_edoc(signature=SDK_SIGNATURE % NS.encode()))
    assert {"signature.not_xmldsig", "signature.weak_algorithm", "signature.placeholder"} <= set(
        report.codes()
    )
    assert all(p.severity is Severity.WARNING for p in report.problems)
    assert report.ok


def test_xmldsig_namespace_signature_is_not_flagged_as_foreign() -> None:
    sig = (SDK_SIGNATURE % DSIG_NS.encode()).replace(b"rsa-sha1", b"rsa-sha256")
    sig = sig.replace(b"xmldsig#sha1", b"xmlenc#sha256")
    report = validate(make_edoc(signature=sig))
    assert "signature.not_xmldsig" not in report.codes()
    assert "signature.weak_algorithm" not in report.codes()
    assert report.codes() == ["signature.placeholder"]


# --------------------------------------------------------------------------- the report


def test_report_values_and_raise_for_errors() -> None:
    report = validate(mutate(make_edoc(), remove("DocumentId")))
    assert report.errors
    as_dict = report.to_dict("en")
    assert as_dict["ok"] is False
    assert as_dict["problems"][0]["severity"] == "error"
    assert "required element DocumentId" in as_dict["problems"][0]["message"]
    assert "thiếu phần tử" in report.to_dict()["problems"][0]["message"]
    with pytest.raises(ProfileError) as err:
        report.raise_for_errors()
    assert err.value.problems == report.problems
    assert err.value.path == report.errors[0].path
    validate(make_edoc()).raise_for_errors()  # ok: no exception
