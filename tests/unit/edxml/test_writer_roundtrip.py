"""Property: ``read(write(x)) == x`` for generated packages of both kinds, and the SDK layout."""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import xmlsafe
from hub.edxml import (
    NS,
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
    OutgoingAttachment,
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
    iter_attachments,
    read,
    write_edoc,
    write_edoc_to,
    write_status,
)
from hub.edxml.reader import format_date, format_timestamp
from tests.factories import edoc_package, make_pdf_bytes, pdf_attachment

VIETNAMESE = "ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵĐƯƠ"
_chars = st.one_of(
    st.sampled_from(VIETNAMESE + VIETNAMESE.upper()),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")),
    st.sampled_from(" \n\t<>&'\"/]]>"),
)
TEXT = (
    st.text(_chars, min_size=1, max_size=30)
    .map(lambda s: unicodedata.normalize("NFC", s).strip())
    .filter(bool)
)
OPT = st.none() | TEXT
INT = st.integers(-(10**6), 10**6)
OPT_INT = st.none() | INT
CID = st.text("abcdefghijklmnopqrstuvwxyzABCDEF0123456789.@_-", min_size=1, max_size=12)
SIGNATURE = (
    f'<Signature xmlns="{NS}" xmlns:edXML="{NS}"><SignedInfo/>'
    "<SignatureValue>QUJD</SignatureValue></Signature>"
).encode()


@st.composite
def dates(draw: st.DrawFn) -> EdxmlDate:
    d = draw(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)))
    return EdxmlDate(format_date(d), d)


@st.composite
def timestamps(draw: st.DrawFn) -> EdxmlTimestamp:
    t = draw(
        st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))
    ).replace(microsecond=0)
    return EdxmlTimestamp(format_timestamp(t), t)


def orgs() -> st.SearchStrategy[Organization]:
    return st.builds(
        Organization,
        organ_id=TEXT,
        organ_name=OPT,
        organization_in_charge=OPT,
        organ_add=OPT,
        email=OPT,
        telephone=OPT,
        fax=OPT,
        website=OPT,
    )


RESPONSE_FOR = st.builds(
    ResponseFor, organ_id=OPT, code=OPT, promulgation_date=st.none() | dates(), document_id=TEXT
)
STAFF = st.builds(StaffInfo, department=OPT, staff=OPT, email=OPT, mobile=OPT)


@st.composite
def document_types(draw: st.DrawFn) -> DocumentType:
    t = draw(OPT_INT)
    return DocumentType(t, draw(OPT_INT), draw(OPT), None if t is None else str(t))


@st.composite
def bussinesses(draw: st.DrawFn) -> Bussiness:
    bt = draw(st.none() | st.sampled_from(BussinessDocType))
    return Bussiness(
        document_id=draw(OPT),
        doc_type=bt,
        doc_type_raw=None if bt is None else str(int(bt)),
        reason=draw(OPT),
        paper=draw(st.none() | st.sampled_from([0, 1])),
        document_info=draw(
            st.none()
            | st.builds(
                BussinessDocumentInfo,
                document_info=OPT_INT,
                document_receiver=OPT_INT,
                receivers=st.lists(
                    st.builds(Receiver, organ_id=TEXT, receiver_type=OPT_INT), max_size=3
                ).map(tuple),
            )
        ),
        replacements=tuple(
            draw(
                st.lists(
                    st.builds(
                        ReplacementInfo,
                        document_id=TEXT,
                        organ_ids=st.lists(TEXT, min_size=1, max_size=3).map(tuple),
                    ),
                    max_size=2,
                )
            )
        ),
        staff_info=draw(st.none() | STAFF),
    )


TRACE = st.none() | st.builds(
    TraceHeaderList,
    trace_headers=st.lists(
        st.builds(TraceHeader, organ_id=TEXT, timestamp=timestamps()), min_size=1, max_size=3
    ).map(tuple),
    bussiness=st.none() | bussinesses(),
)


@st.composite
def edoc_headers(draw: st.DrawFn) -> EdocHeader:
    return EdocHeader(
        from_=draw(orgs()),
        to=tuple(draw(st.lists(orgs(), min_size=1, max_size=3))),
        document_id=draw(OPT),
        code=draw(st.none() | st.builds(Code, code_number=OPT, code_notation=OPT)),
        promulgation_info=draw(
            st.none()
            | st.builds(PromulgationInfo, place=OPT, promulgation_date=st.none() | dates())
        ),
        document_type=draw(st.none() | document_types()),
        subject=draw(OPT),
        content=draw(OPT),
        signer_info=draw(
            st.none() | st.builds(SignerInfo, competence=OPT, position=OPT, full_name=OPT)
        ),
        due_date=draw(st.none() | dates()),
        to_places=tuple(draw(st.lists(TEXT, max_size=3))),
        other_info=draw(
            st.none()
            | st.builds(
                OtherInfo,
                priority=OPT_INT,
                sphere_of_promulgation=OPT,
                typer_notation=OPT,
                promulgation_amount=OPT_INT,
                page_amount=OPT_INT,
                direction=st.none() | st.booleans(),
                appendixes=st.lists(TEXT, max_size=3).map(tuple),
            )
        ),
        response_for=tuple(draw(st.lists(RESPONSE_FOR, max_size=3))),
        steering_type=draw(OPT_INT),
    )


@st.composite
def outgoing(draw: st.DrawFn) -> list[OutgoingAttachment]:
    cids = draw(st.lists(CID, max_size=3, unique=True))
    return [
        OutgoingAttachment(
            content_id=cid,
            attachment_name=draw(TEXT),
            content_type=draw(TEXT),
            data=draw(st.binary(max_size=300)),
            description=draw(OPT),
            zip=draw(st.booleans()),
        )
        for cid in cids
    ]


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    header=edoc_headers(),
    trace=TRACE,
    signature=st.none() | st.just(SIGNATURE),
    atts=outgoing(),
)
def test_edoc_roundtrip(
    header: EdocHeader,
    trace: TraceHeaderList | None,
    signature: bytes | None,
    atts: list[OutgoingAttachment],
) -> None:
    data = write_edoc(EdocPackage(header, trace, signature), atts)
    got = read(data)
    assert isinstance(got, EdocPackage)
    extracted = list(iter_attachments(data))
    assert [e.content_id for e in extracted] == [a.content_id for a in atts]
    for e, a in zip(extracted, atts, strict=True):
        assert e.read_bytes() == a.data
        assert e.was_zip is a.zip
        e.close()
    expected = EdocPackage(
        header,
        trace,
        signature,
        manifest=tuple(
            ManifestReference(a.content_id, a.content_type, a.description, a.attachment_name)
            for a in atts
        ),
        attachments=tuple(
            AttachmentMeta(
                a.content_id,
                a.attachment_name,
                a.description,
                a.content_type,
                4 * ((e.payload_size + 2) // 3),
            )
            for a, e in zip(atts, extracted, strict=True)
        ),
    )
    assert got == expected


@SETTINGS
@given(
    from_=orgs(),
    rf=st.none() | RESPONSE_FOR,
    staff=st.none() | STAFF,
    code=OPT,
    description=OPT,
    ts=st.none() | timestamps(),
    trace=TRACE,
)
def test_status_roundtrip(
    from_: Organization,
    rf: ResponseFor | None,
    staff: StaffInfo | None,
    code: str | None,
    description: str | None,
    ts: EdxmlTimestamp | None,
    trace: TraceHeaderList | None,
) -> None:
    pkg = StatusPackage(
        StatusHeader(from_, rf, staff, code or "01", description, ts), signature=None, trace=trace
    )
    assert read(write_status(pkg)) == pkg


def test_sdk_layout() -> None:
    data = write_edoc(edoc_package(), [pdf_attachment("Quyết định.pdf")])
    text = data.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="' + NS)
    assert f'<edXML:edXMLEnvelope xmlns:edXML="{NS}">' in text
    assert "<edXML:MessageHeader>" in text
    assert "<AttachmentEncoded>\n    <Attachment>" in text
    root = xmlsafe.parse(data)
    envelope, encoded = list(root)
    assert envelope.prefix == "edXML"
    assert encoded.prefix is None
    assert encoded.tag == f"{{{NS}}}AttachmentEncoded"
    mh = envelope[0][0]
    order = [xmlsafe.local_name(c) for c in mh]
    assert order == [
        "From",
        "To",
        "Code",
        "PromulgationInfo",
        "DocumentType",
        "Subject",
        "SignerInfo",
        "ToPlaces",
        "OtherInfo",
        "DocumentId",
    ]
    assert "<edXML:PromulgationDate>2024/03/15</edXML:PromulgationDate>" in text


def test_zip_has_one_uuid_entry_with_the_extension() -> None:
    pdf = make_pdf_bytes()
    [e] = list(iter_attachments(write_edoc(edoc_package(), [pdf_attachment("a.pdf", data=pdf)])))
    assert e.was_zip
    assert e.entry_name is not None
    assert e.entry_name.endswith(".pdf")
    assert len(e.entry_name) == 36 + 4
    assert e.read_bytes() == pdf


def test_streaming_writer_reads_payload_from_a_file_object() -> None:
    payload = bytes(range(256)) * 5000
    out = io.BytesIO()
    att = OutgoingAttachment("x", "x.bin", "application/octet-stream", io.BytesIO(payload))
    write_edoc_to(out, edoc_package(), [att])
    [e] = list(iter_attachments(out.getvalue()))
    assert e.read_bytes() == payload
    # The ZIP is produced without seeking (data descriptors): still a valid archive.
    raw = io.BytesIO()
    pkg = read(out.getvalue())
    assert isinstance(pkg, EdocPackage)
    with zipfile.ZipFile(io.BytesIO(_decoded(out.getvalue()))) as zf:
        assert zf.testzip() is None
        raw.write(zf.read(zf.namelist()[0]))
    assert raw.getvalue() == payload


def _decoded(data: bytes) -> bytes:
    import base64

    root = xmlsafe.parse(data)
    text = root.findtext(f".//{{{NS}}}ContentTransferEncoded")
    assert text is not None
    return base64.b64decode(text)
