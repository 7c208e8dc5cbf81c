"""The reader against the official SDK samples (``../shared/edxml-samples``), when present."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hub.edxml import EdocPackage, StatusPackage, parse_package, read
from hub.edxml.model import BussinessDocType
from hub.errors import AttachmentError


def _samples(shared: Path | None) -> list[Path]:
    if shared is None:
        pytest.skip("../shared/edxml-samples is absent; writer-made equivalents cover this")
    return sorted(shared.glob("*.edxml"))


def test_every_shared_sample_reads(shared_samples: Path | None) -> None:
    files = _samples(shared_samples)
    assert len(files) >= 9
    for f in files:
        pkg = read(f.read_bytes())
        assert pkg.sender, f.name
        if f.name.startswith("status"):
            assert isinstance(pkg, StatusPackage), f.name
            assert pkg.header.status_code is not None
            assert pkg.header.response_for is not None
            assert pkg.header.response_for.organ_id == "000.00.00.G22"
        else:
            assert isinstance(pkg, EdocPackage), f.name


def test_complete_sample_fields(shared_samples: Path | None) -> None:
    _samples(shared_samples)
    assert shared_samples is not None
    data = (shared_samples / "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml").read_bytes()
    parsed = parse_package(data)
    pkg = parsed.package
    assert isinstance(pkg, EdocPackage)
    h = pkg.header
    assert [t.organ_id for t in h.to] == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert h.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert h.code is not None
    assert h.code.code_number == "7816"
    assert h.promulgation_info is not None
    assert h.promulgation_info.promulgation_date is not None
    assert h.promulgation_info.promulgation_date.value == dt.date(2019, 4, 11)
    assert h.document_type is not None
    assert h.document_type.type_name == "Công văn"
    assert h.other_info is not None
    assert h.other_info.direction is False
    assert h.steering_type == 1
    assert h.to_places == ("Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP")
    # Bussiness comes before TraceHeader in this sample: order must not matter.
    assert pkg.trace is not None
    assert pkg.trace.trace_headers[0].organ_id == "000.00.00.G22"
    assert pkg.trace.trace_headers[0].timestamp.utc == dt.datetime(2019, 4, 10, 17, tzinfo=dt.UTC)
    assert pkg.business_type is BussinessDocType.NEW
    assert pkg.signature is not None
    assert pkg.signature.startswith(b"<Signature")
    assert [m.content_id for m in pkg.manifest] == ["209"]
    assert pkg.attachments[0].content_id == "209"
    assert pkg.attachments[0].encoded_length > 5000
    assert parsed.root is not None
    assert not parsed.attachments_elided


def test_elided_sample_reads_but_attachment_does_not_decode(shared_samples: Path | None) -> None:
    _samples(shared_samples)
    assert shared_samples is not None
    data = (shared_samples / "edoc_new.attachment-elided.edxml").read_bytes()
    pkg = read(data)
    assert isinstance(pkg, EdocPackage)
    assert pkg.header.to[0].organ_id == "28.22.H17"
    from hub.edxml import iter_attachments

    with pytest.raises(AttachmentError) as exc:
        list(iter_attachments(data))
    assert exc.value.path is not None
    assert "Attachment" in exc.value.path
    assert "209" in exc.value.message_en


# --- writer-made equivalents of the samples: the suite still covers them without ../shared ----


@pytest.mark.parametrize("code", ["01", "02", "03", "04", "05", "06"])
def test_generated_status_equivalents(code: str) -> None:
    from tests.factories import make_status

    pkg = read(make_status(sender="000.00.00.H41", status_code=code))
    assert isinstance(pkg, StatusPackage)
    assert pkg.header.status_code == code
    assert pkg.header.response_for is not None
    assert pkg.header.response_for.organ_id == "000.00.00.G22"
    assert pkg.header.timestamp is not None
    assert pkg.header.timestamp.utc is not None


def test_generated_complete_edoc_equivalent() -> None:
    from hub.edxml import OutgoingAttachment, iter_attachments
    from tests.factories import make_edoc

    inner = b'<?xml version="1.0" encoding="UTF-8"?>\r\n<edXML/>\r\n'
    att = OutgoingAttachment(
        "209", "1896_QD-TTg_m_294779.doc", "application/zip", inner, "1896_QD-TTg_m_294779.doc"
    )
    data = make_edoc(
        to=["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"],
        attachments=[att],
        signature=(
            b'<Signature xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
            b"<SignatureValue>AAAA</SignatureValue></Signature>"
        ),
    )
    pkg = read(data)
    assert isinstance(pkg, EdocPackage)
    assert len(pkg.header.to) == 3
    assert pkg.business_type is BussinessDocType.NEW
    assert pkg.signature is not None
    [item] = list(iter_attachments(data))
    with item:
        assert item.was_zip
        assert item.read_bytes() == inner
        assert item.manifest is not None


def test_generated_elided_equivalent_gives_attachment_error() -> None:
    import re

    from hub.edxml import iter_attachments
    from tests.factories import make_edoc

    data = re.sub(
        rb"<ContentTransferEncoded>[^<]*</ContentTransferEncoded>",
        b"<ContentTransferEncoded>[ELIDED: 361100 base64 chars of a ZIP archive]"
        b"</ContentTransferEncoded>",
        make_edoc(),
    )
    assert isinstance(read(data), EdocPackage)  # the header still reads
    with pytest.raises(AttachmentError) as exc:
        list(iter_attachments(data))
    assert exc.value.code == "edxml.attachment.base64"
    assert exc.value.path == "/edXML/AttachmentEncoded/Attachment[1]"
    assert "ContentId 1" in exc.value.message_en
