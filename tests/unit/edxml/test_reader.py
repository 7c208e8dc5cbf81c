"""The reader on writer-made packages and on hand-written variants seen in real traffic."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from lxml import etree

from hub import xmlsafe
from hub.edxml import (
    NS,
    EdocPackage,
    MessageKind,
    OutgoingAttachment,
    StatusPackage,
    iter_attachments,
    parse_package,
    read,
    read_tree,
)
from hub.edxml.model import BussinessDocType
from hub.edxml.reader import TREE_LIMIT, normalise_content_id, parse_date, parse_timestamp
from hub.errors import EdxmlError, XmlError
from tests.factories import (
    edoc_package,
    make_edoc,
    make_status,
    status_package,
)


def _wrap(message_header: str, extra_header: str = "", tail: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="{NS}">'
        f'<edXML:edXMLEnvelope xmlns:edXML="{NS}"><edXML:edXMLHeader>'
        f"<edXML:MessageHeader>{message_header}</edXML:MessageHeader>{extra_header}"
        f"</edXML:edXMLHeader></edXML:edXMLEnvelope>{tail}</edXML>"
    ).encode()


FROM = "<From><OrganId>000.00.00.G22</OrganId><OrganName>VPCP</OrganName></From>"


def test_writer_made_edoc_reads_back() -> None:
    pkg = read(make_edoc())
    assert isinstance(pkg, EdocPackage)
    assert pkg.kind is MessageKind.EDOC
    expected = edoc_package()
    assert pkg.header == expected.header
    assert pkg.trace == expected.trace
    assert pkg.manifest[0].content_id == "1"
    assert pkg.attachments[0].attachment_name == "7816-VPCP-TTDT.pdf"


def test_writer_made_status_reads_back() -> None:
    pkg = read(make_status(status_code="03"))
    assert isinstance(pkg, StatusPackage)
    assert pkg == status_package(status_code="03")
    assert pkg.header.response_for is not None
    assert pkg.header.response_for.organ_id == "000.00.00.G22"


def test_kind_rule_status_code_without_to() -> None:
    assert read(_wrap(FROM + "<StatusCode>02</StatusCode>")).kind is MessageKind.STATUS
    both = FROM + "<To><OrganId>000.00.00.H41</OrganId></To><StatusCode>02</StatusCode>"
    assert read(_wrap(both)).kind is MessageKind.EDOC
    assert read(_wrap(FROM)).kind is MessageKind.EDOC  # no To: still an edoc, profile reports


def test_unknown_status_code_kept_verbatim() -> None:
    pkg = read(make_status(status_code="99"))
    assert isinstance(pkg, StatusPackage)
    assert pkg.header.status_code == "99"


def test_variants_are_tolerated() -> None:
    header = (
        "<edXML:DocumentId>X,2024/01/01,1/ABC</edXML:DocumentId>"  # DocumentId first
        + FROM
        + '<edXML:To xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<edXML:OrganId>000.00.00.H41</edXML:OrganId><xsi:Ext>ignored</xsi:Ext></edXML:To>"
        "<edXML:SteeringType>2</edXML:SteeringType><edXML:ToPlaces><edXML:Place>A</edXML:Place>"
        "</edXML:ToPlaces><edXML:ResponseFor></edXML:ResponseFor>"
        "<edXML:ResponseFor><edXML:DocumentId>Y</edXML:DocumentId></edXML:ResponseFor>"
    )
    trace = (
        '<edXML:TraceHeaderList id="t1" version="1.0" mustUnderstand="1" actor="x">'
        "<edXML:Bussiness><edXML:BussinessDocType>2</edXML:BussinessDocType></edXML:Bussiness>"
        "<edXML:TraceHeader><edXML:OrganId>000.00.00.G22</edXML:OrganId>"
        "<edXML:Timestamp>2024/01/01 07:00:00</edXML:Timestamp></edXML:TraceHeader>"
        "</edXML:TraceHeaderList>"
    )
    body = (
        '<edXML:edXMLBody><edXML:edXMLManifest version="1.0">'
        '<edXML:Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="">'
        "<edXML:ContentId>cid:a1</edXML:ContentId></edXML:Reference>"
        "</edXML:edXMLManifest></edXML:edXMLBody>"
    )
    # Attachment part in no namespace at all: accepted (documented leniency).
    tail = (
        '<AttachmentEncoded xmlns=""><Attachment><ContentId>a1</ContentId>'
        "<ContentTransferEncoded>aGVsbG8=</ContentTransferEncoded></Attachment></AttachmentEncoded>"
    )
    data = _wrap(header, trace, "").replace(
        b"</edXML:edXMLEnvelope>", body.encode() + b"</edXML:edXMLEnvelope>"
    )
    data = data.replace(b"</edXML>", tail.encode() + b"</edXML>")
    pkg = read(data)
    assert isinstance(pkg, EdocPackage)
    h = pkg.header
    assert h.document_id == "X,2024/01/01,1/ABC"
    assert [t.organ_id for t in h.to] == ["000.00.00.H41"]
    assert h.steering_type == 2
    assert [r.document_id for r in h.response_for] == ["Y"]  # the empty one is dropped
    assert pkg.business_type is BussinessDocType.UPDATE
    assert pkg.trace is not None
    assert pkg.trace.trace_headers[0].timestamp.utc == dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert pkg.manifest[0].content_id == "a1"
    assert pkg.attachments[0].content_id == "a1"
    assert pkg.attachments[0].encoded_length == 8
    [att] = list(iter_attachments(data))
    assert att.read_bytes() == b"hello"
    assert att.manifest is not None


def test_malformed_optional_fields_do_not_raise() -> None:
    header = (
        FROM + "<To><OrganId>1</OrganId></To><PromulgationInfo><PromulgationDate>2024-13-45"
        "</PromulgationDate></PromulgationInfo><DocumentType><Type>x</Type></DocumentType>"
        "<OtherInfo><Priority>high</Priority><Direction>maybe</Direction></OtherInfo>"
        "<DueDate>2024/02/30</DueDate>"
    )
    trace = (
        "<TraceHeaderList><TraceHeader><Timestamp>yesterday</Timestamp></TraceHeader>"
        "<Bussiness><BussinessDocType>9</BussinessDocType></Bussiness></TraceHeaderList>"
    )
    pkg = read(_wrap(header, trace))
    assert isinstance(pkg, EdocPackage)
    h = pkg.header
    assert h.promulgation_info is not None
    assert h.promulgation_info.promulgation_date is not None
    assert h.promulgation_info.promulgation_date.raw == "2024-13-45"
    assert h.promulgation_info.promulgation_date.value is None
    assert h.due_date is not None
    assert h.due_date.value is None  # 30 February
    assert h.document_type is not None
    assert (h.document_type.type, h.document_type.type_raw) == (None, "x")
    assert h.other_info is not None
    assert (h.other_info.priority, h.other_info.direction) == (None, None)
    assert h.document_id is None
    assert pkg.trace is not None
    assert pkg.trace.trace_headers[0].organ_id == ""
    assert pkg.trace.trace_headers[0].timestamp.utc is None
    assert pkg.trace.bussiness is not None
    assert pkg.trace.bussiness.doc_type is None
    assert pkg.trace.bussiness.doc_type_raw == "9"


def test_text_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Ủy ban nhân dân tỉnh Nghệ An")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    pkg = read(_wrap(FROM + f"<To><OrganId>1</OrganId></To><Subject>{decomposed}</Subject>"))
    assert isinstance(pkg, EdocPackage)
    assert pkg.header.subject == unicodedata.normalize("NFC", decomposed)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (b"<edXML><x/></edXML>", "/edXML"),
        (f'<other xmlns="{NS}"/>'.encode(), "/other"),
        (f'<edXML xmlns="{NS}"/>'.encode(), "/edXML/edXMLEnvelope"),
        (
            f'<edXML xmlns="{NS}"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>'.encode(),
            "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader",
        ),
        (
            _wrap("<To><OrganId>1</OrganId></To>"),
            "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From",
        ),
        (
            _wrap("<From><OrganId>  </OrganId></From>"),
            "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId",
        ),
    ],
)
def test_unreadable_structure_raises_with_path(data: bytes, path: str) -> None:
    with pytest.raises(EdxmlError) as exc:
        read(data)
    assert exc.value.path == path
    assert exc.value.message_vi != exc.value.message_en
    assert exc.value.code.startswith("edxml.")


def test_unsafe_xml_is_an_xml_error() -> None:
    with pytest.raises(XmlError):
        read(b'<!DOCTYPE x [<!ENTITY a "b">]><edXML/>')


def test_read_tree_reuses_a_parsed_root() -> None:
    data = make_edoc()
    root = xmlsafe.parse(data)
    assert read_tree(root) == read(data)
    parsed = parse_package(data)
    assert parsed.root.tag == f"{{{NS}}}edXML"
    assert parsed.package == read(data)


def test_signature_kept_as_element_bytes() -> None:
    sig = f'<Signature xmlns="{NS}"><SignatureValue>AAAA</SignatureValue></Signature>'.encode()
    pkg = read(make_edoc(signature=sig))
    assert pkg.signature is not None
    again = etree.fromstring(pkg.signature)
    assert again.tag == f"{{{NS}}}Signature"
    assert b"<SignatureValue>AAAA</SignatureValue>" in pkg.signature


def test_content_id_normalisation() -> None:
    assert normalise_content_id("cid:209") == "209"
    assert normalise_content_id(" <cid:abc@x> ") == "abc@x"
    assert normalise_content_id("CID:Z") == "Z"
    assert normalise_content_id("plain") == "plain"
    assert normalise_content_id(None) == ""


def test_dates_and_timestamps() -> None:
    d = parse_date("2019/04/11")
    assert d is not None
    assert d.value == dt.date(2019, 4, 11)
    assert parse_date(None) is None
    t = parse_timestamp("2018/09/28 17:25:11")
    assert t is not None
    assert t.utc == dt.datetime(2018, 9, 28, 10, 25, 11, tzinfo=dt.UTC)
    bad = parse_timestamp("2018/09/28 25:00:00")
    assert bad is not None
    assert (bad.raw, bad.utc) == ("2018/09/28 25:00:00", None)


def test_large_package_is_read_with_attachment_text_elided() -> None:
    payload = bytes(range(256)) * (TREE_LIMIT // 256 + 4096)  # base64 text over the limit
    att = OutgoingAttachment("big", "big.bin", "application/octet-stream", payload, zip=False)
    data = make_edoc(attachments=[att])
    assert len(data) > TREE_LIMIT
    parsed = parse_package(data)
    assert parsed.attachments_elided
    pkg = parsed.package
    assert isinstance(pkg, EdocPackage)
    assert pkg.header == edoc_package().header
    assert pkg.attachments[0].encoded_length == 4 * ((len(payload) + 2) // 3)
