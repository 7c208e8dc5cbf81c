"""Signing the four Nghị định 30 signatures and verifying them, with the attack corpus.

Attacks: an incremental update that changes the page after signing (the "shadow" /
incremental-update attack), bytes changed inside the signed range, a revoked signer, an impostor
certificate with the agency's exact subject, an expired signer; plus the Nghị định 30 warnings.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from io import BytesIO

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from hub.errors import InvalidRequest, SenderError
from signing.nd30 import DocumentKind, SignerClass
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier, PdfVerifyPolicy
from signing.verdicts import Trust
from tests.pki import TestPki
from tests.unit.signing.pdf.pdfkit import (
    append_update,
    make_pdf,
    seal_png,
    signature_png,
    signer_for,
)

PERSON_BOX = Box(330, 150, 510, 215)
AGENCY = "Sở Thông tin và Truyền thông tỉnh Thử Nghiệm"


def _person(svc: PdfSigningService, pdf: bytes, **kw: object) -> bytes:
    req = SignRequest(SignatureRole.PERSON, box=PERSON_BOX, image=signature_png(), **kw)  # type: ignore[arg-type]
    return svc.sign(pdf, req)


def _agency(svc: PdfSigningService, pdf: bytes) -> bytes:
    return svc.sign(pdf, SignRequest(SignatureRole.AGENCY, image=seal_png(), agency_name=AGENCY))


@pytest.fixture(scope="module")
def issued(person_service: PdfSigningService, agency_service: PdfSigningService) -> bytes:
    """A two-page issued document: the person's signature, then the agency's."""
    return _agency(agency_service, _person(person_service, make_pdf(2)))


def _widget(pdf: bytes, field: str) -> tuple[int, tuple[float, ...]]:
    """(page index, /Rect) of the signature widget named ``field``."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    for ix in range(int(reader.root["/Pages"]["/Count"])):
        page = reader.find_page_for_modification(ix)[0].get_object()
        for annot in page.get("/Annots", ()):
            obj = annot.get_object()
            if obj.get("/T") == field:
                return ix, tuple(float(v) for v in obj["/Rect"])
    raise AssertionError(f"no widget {field}")


# -- the good path ---------------------------------------------------------------------------


def test_person_then_agency_verifies(issued: bytes, verifier: PdfVerifier) -> None:
    verdict = verifier.verify(issued)
    assert verdict.bottom_line, verdict.to_dict("en")
    person, agency = verdict.signatures
    assert (person.signer_class, agency.signer_class) == (SignerClass.PERSON, SignerClass.AGENCY)
    assert person.revision < agency.revision
    assert person.coverage == "entire_revision"
    assert agency.coverage == "entire_file"
    assert person.modification_level == "form_filling"  # a later signature, nothing else
    assert not person.modified_after_signing
    assert person.level == agency.level == "PAdES-B-B"
    assert person.trust is not None
    assert person.trust.status is Trust.TRUSTED
    assert verdict.nd30_warnings == ()
    json.dumps(verdict.to_dict())  # JSON-ready


def test_seal_placement_follows_the_person_signature(issued: bytes) -> None:
    person_page, person_rect = _widget(issued, "person-1")
    agency_page, agency_rect = _widget(issued, "agency-2")
    assert person_page == agency_page == 1  # the last page
    assert person_rect == pytest.approx(PERSON_BOX.as_tuple(), abs=1)
    third = PERSON_BOX.x1 + PERSON_BOX.width / 3
    assert agency_rect[2] == pytest.approx(third, abs=1)


def test_signing_time_on_the_page_is_the_signed_time(
    agency_service: PdfSigningService, issued: bytes, verifier: PdfVerifier
) -> None:
    when = dt.datetime(2026, 3, 15, 2, 30, 5, tzinfo=dt.UTC)
    signed = agency_service.sign(
        make_pdf(1),
        SignRequest(SignatureRole.ATTACHMENT, number="12/QĐ-UBND"),
        now=when,
    )
    (sig,) = verifier.verify(signed, DocumentKind.ATTACHMENT).signatures
    assert sig.signing_time == when
    assert b"2026-03-15T09:30:05+07:00" in _appearance_text(signed)


def _appearance_text(pdf: bytes) -> bytes:
    import zlib

    out = b""
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            out += zlib.decompress(m.group(1))
        except zlib.error:
            out += m.group(1)
    # PDF literal strings escape bytes as \\ooo (ISO 32000-1 §7.3.4.2)
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), out)


def test_attachment_and_copy_go_top_right_of_page_one(
    agency_service: PdfSigningService, verifier: PdfVerifier
) -> None:
    att = agency_service.sign(
        make_pdf(3), SignRequest(SignatureRole.ATTACHMENT, number="12/QĐ-UBND")
    )
    page, rect = _widget(att, "attachment-1")
    assert page == 0
    assert rect[2] > 500
    assert rect[3] > 780
    copy = agency_service.sign(
        make_pdf(1),
        SignRequest(SignatureRole.COPY, copy_form="SAO Y", agency_name="Văn phòng UBND tỉnh"),
    )
    assert b"SAO Y" in _appearance_text(copy)
    for pdf in (att, copy):
        verdict = verifier.verify(pdf, DocumentKind.ATTACHMENT)
        assert verdict.bottom_line
        assert verdict.nd30_warnings == ()


def test_many_signatures_each_still_verify(
    person_service: PdfSigningService, agency_service: PdfSigningService, verifier: PdfVerifier
) -> None:
    pdf = _person(person_service, make_pdf(1))
    pdf = _agency(agency_service, pdf)
    pdf = agency_service.sign(pdf, SignRequest(SignatureRole.ATTACHMENT, number="1/TB"))
    pdf = agency_service.sign(pdf, SignRequest(SignatureRole.COPY, agency_name="Sở Y"))
    verdict = verifier.verify(pdf)
    assert len(verdict.signatures) == 4
    assert all(s.bottom_line for s in verdict.signatures), verdict.to_dict("en")


def test_timestamped_signature_is_pades_b_t(
    pki: TestPki, dummy_timestamper: DummyTimeStamper, make_verifier: Callable[..., PdfVerifier]
) -> None:
    svc = PdfSigningService(
        signer_for(pki.person, [pki.sub_ca.cert]), timestamper=dummy_timestamper
    )
    signed = _person(svc, make_pdf(1))
    (sig,) = make_verifier().verify(signed).signatures
    assert sig.level == "PAdES-B-T"
    assert sig.timestamp is not None
    assert sig.timestamp_ok is True
    assert abs(sig.timestamp - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert sig.best_time == sig.timestamp


def test_timestamp_from_an_untrusted_tsa_fails(
    pki: TestPki, make_verifier: Callable[..., PdfVerifier]
) -> None:
    from tests.tsa import TsaServer

    rogue = TsaServer()  # its own root, not configured anywhere
    svc = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]), timestamper=rogue._stamper)
    (sig,) = make_verifier().verify(_person(svc, make_pdf(1))).signatures
    assert sig.timestamp_ok is False
    assert not sig.bottom_line
    trusted = make_verifier(timestamp_anchors=[rogue.root_cert])
    (sig,) = trusted.verify(_person(svc, make_pdf(1))).signatures
    assert sig.timestamp_ok is True


# -- attacks ---------------------------------------------------------------------------------


def test_incremental_update_changing_content_is_flagged(
    issued: bytes, verifier: PdfVerifier
) -> None:
    # Replace page 1's content stream (object 5 in make_pdf) in an appended revision; every
    # signed byte range is untouched, so the signatures alone still "verify".
    evil = b"BT /F1 14 Tf 72 760 Td (NOI DUNG DA BI SUA) Tj ET\n"
    attacked = append_update(
        issued, {5: b"<< /Length %d >>\nstream\n" % len(evil) + evil + b"endstream"}
    )
    verdict = verifier.verify(attacked)
    assert not verdict.bottom_line
    for sig in verdict.signatures:
        assert sig.intact
        assert sig.valid
        assert sig.trusted
        assert sig.modified_after_signing  # … but the document is not what was signed
        assert sig.modification_level == "other"
        assert "pdf.modified_after_signing" in {p.code for p in sig.problems}


def test_shadow_page_added_after_signing_is_flagged(issued: bytes, verifier: PdfVerifier) -> None:
    # Point the page tree at a new page: the classic "shadow" swap of visible content.
    attacked = append_update(
        issued,
        {
            2: b"<< /Type /Pages /Kids [90 0 R] /Count 1 >>",
            90: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 91 0 R >>",
            91: b"<< /Length 0 >>\nstream\n\nendstream",
        },
    )
    verdict = verifier.verify(attacked)
    assert not verdict.bottom_line
    assert all(s.modified_after_signing for s in verdict.signatures)


def test_bytes_changed_inside_the_signed_range_break_integrity(
    person_service: PdfSigningService, verifier: PdfVerifier
) -> None:
    signed = _person(person_service, make_pdf(1))
    tampered = signed.replace(b"Van ban thu nghiem", b"Van ban THU NGHIEM", 1)
    assert tampered != signed
    (sig,) = verifier.verify(tampered).signatures
    assert not sig.intact
    assert not sig.bottom_line
    assert "pdf.digest_mismatch" in {p.code for p in sig.problems}


def test_revoked_signer_is_not_trusted(pki: TestPki, verifier: PdfVerifier) -> None:
    svc = PdfSigningService(signer_for(pki.revoked, [pki.sub_ca.cert]))
    (sig,) = verifier.verify(_person(svc, make_pdf(1))).signatures
    assert sig.intact
    assert sig.valid
    assert sig.revoked
    assert not sig.trusted
    assert not sig.bottom_line
    assert sig.trust is not None
    assert sig.trust.revoked_at is not None


def test_impostor_with_the_agency_subject_is_not_trusted(
    pki: TestPki, person_service: PdfSigningService, verifier: PdfVerifier
) -> None:
    impostor = PdfSigningService(signer_for(pki.impostor, [pki.sub_ca.cert]))
    pdf = _agency(impostor, _person(person_service, make_pdf(1)))
    verdict = verifier.verify(pdf)
    person, agency = verdict.signatures
    assert person.bottom_line
    assert agency.signer is not None
    assert agency.signer.subject == pki.agency.cert.subject.rfc4514_string()
    assert agency.valid  # a genuine signature … by the wrong key
    assert not agency.trusted
    assert agency.trust is not None
    assert agency.trust.status is Trust.UNTRUSTED
    # the untrusted "agency" does not count for Nghị định 30
    assert [w.code for w in verdict.nd30_warnings] == ["nd30.agency_missing"]


def test_expired_signer_is_not_trusted(pki: TestPki, verifier: PdfVerifier) -> None:
    svc = PdfSigningService(signer_for(pki.expired, [pki.sub_ca.cert]))
    (sig,) = verifier.verify(_person(svc, make_pdf(1))).signatures
    assert sig.trust is not None
    assert sig.trust.status is Trust.EXPIRED
    assert not sig.bottom_line


def test_sha1_is_refused_by_default(pki: TestPki, verifier: PdfVerifier) -> None:
    svc = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]), md_algorithm="sha1")
    (sig,) = verifier.verify(_person(svc, make_pdf(1))).signatures
    assert sig.intact
    assert sig.valid
    assert "pdf.weak_digest" in {p.code for p in sig.problems}
    assert not sig.bottom_line


# -- Nghị định 30 warnings -------------------------------------------------------------------


def test_missing_agency_signature_warns(
    person_service: PdfSigningService, verifier: PdfVerifier
) -> None:
    verdict = verifier.verify(_person(person_service, make_pdf(1)))
    assert verdict.bottom_line  # warnings inform, they do not fail the signatures
    assert [w.code for w in verdict.nd30_warnings] == ["nd30.agency_missing"]


def test_agency_signature_before_the_person_warns(
    person_service: PdfSigningService, agency_service: PdfSigningService, verifier: PdfVerifier
) -> None:
    pdf = agency_service.sign(
        make_pdf(1),
        SignRequest(SignatureRole.AGENCY, box=PERSON_BOX, image=seal_png(), agency_name=AGENCY),
    )
    pdf = _person(person_service, pdf)
    codes = [w.code for w in verifier.verify(pdf).nd30_warnings]
    assert codes == ["nd30.agency_before_person"]


def test_agency_signing_time_earlier_than_person_warns(
    person_service: PdfSigningService, agency_service: PdfSigningService, verifier: PdfVerifier
) -> None:
    now = dt.datetime.now(dt.UTC)
    pdf = person_service.sign(
        make_pdf(1), SignRequest(SignatureRole.PERSON, box=PERSON_BOX), now=now
    )
    pdf = agency_service.sign(
        pdf, SignRequest(SignatureRole.AGENCY, agency_name=AGENCY), now=now - dt.timedelta(hours=1)
    )
    codes = [w.code for w in verifier.verify(pdf).nd30_warnings]
    assert codes == ["nd30.agency_time_before_person"]


# -- inputs, cache ---------------------------------------------------------------------------


def test_unsigned_and_unreadable_pdfs_are_verdicts(verifier: PdfVerifier) -> None:
    unsigned = verifier.verify(make_pdf(1))
    assert not unsigned.bottom_line
    assert [p.code for p in unsigned.problems] == ["pdf.unsigned"]
    junk = verifier.verify(b"%PDF-1.7\nnot really a pdf")
    assert not junk.bottom_line
    assert [p.code for p in junk.problems] == ["pdf.unreadable"]


def test_signing_refuses_bad_input(agency_service: PdfSigningService) -> None:
    with pytest.raises(SenderError):
        agency_service.sign(b"hello", SignRequest(SignatureRole.ATTACHMENT))
    with pytest.raises(InvalidRequest):  # no person signature to put the seal on
        agency_service.sign(make_pdf(1), SignRequest(SignatureRole.AGENCY))
    with pytest.raises(InvalidRequest):
        agency_service.sign(make_pdf(1), SignRequest(SignatureRole.ATTACHMENT, page=3))


def test_verdicts_are_cached_by_digest_and_kind(
    issued: bytes, make_verifier: Callable[..., PdfVerifier]
) -> None:
    v = make_verifier()
    first = v.verify(issued)
    assert v.verify(issued) is first
    assert v.verify(bytearray(issued)).sha256 == first.sha256
    other_kind = v.verify(issued, DocumentKind.ATTACHMENT)
    assert other_kind is not first
    assert other_kind.kind is DocumentKind.ATTACHMENT
    expired = make_verifier(PdfVerifyPolicy(cache_ttl=dt.timedelta(0)))
    assert expired.verify(issued) is not expired.verify(issued)
    small = make_verifier(PdfVerifyPolicy(cache_size=1))
    a = small.verify(issued)
    small.verify(make_pdf(1))
    assert small.cached(a.sha256, DocumentKind.ISSUED) is None


def test_too_little_reserved_room_grows_and_still_signs(
    pki: TestPki, verifier: PdfVerifier
) -> None:
    svc = PdfSigningService(signer_for(pki.agency, [pki.sub_ca.cert]))
    svc.bytes_reserved = 1000
    signed = svc.sign(make_pdf(1), SignRequest(SignatureRole.ATTACHMENT, number="1/TB"))
    assert svc.bytes_reserved > 1000
    assert verifier.verify(signed, DocumentKind.ATTACHMENT).bottom_line


def test_hostile_bytes_give_verdicts_not_exceptions(
    person_service: PdfSigningService, verifier: PdfVerifier
) -> None:
    signed = _person(person_service, make_pdf(1))
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    # a CMS container that is not DER any more
    broken_cms = signed[:start] + b"ff" * 40 + signed[start + 80 :]
    truncated = signed[: len(signed) // 2]
    for pdf in (broken_cms, truncated, signed.replace(b"/ByteRange [", b"/ByteRange [9", 1)):
        verdict = verifier.verify(pdf)
        assert not verdict.bottom_line
        assert verdict.problems or all(s.problems for s in verdict.signatures)


def test_ecdsa_agency_key_signs_and_verifies(pki: TestPki, verifier: PdfVerifier) -> None:
    svc = PdfSigningService(signer_for(pki.agency_ec, [pki.sub_ca.cert]))
    signed = svc.sign(make_pdf(1), SignRequest(SignatureRole.COPY, agency_name="Sở X"))
    (sig,) = verifier.verify(signed, DocumentKind.COPY).signatures
    assert sig.signature_algorithm is not None
    assert "ecdsa" in sig.signature_algorithm
    assert sig.bottom_line
    assert sig.signer_class is SignerClass.AGENCY


def test_async_verify_inside_an_event_loop(issued: bytes, verifier: PdfVerifier) -> None:
    import asyncio

    async def main() -> bool:
        verdict = await verifier.async_verify(issued)
        return verdict.bottom_line

    assert asyncio.run(main())


def test_embedded_font_keeps_vietnamese_and_gets_its_widths_right(
    pki: TestPki, verifier: PdfVerifier, tmp_path: pytest.TempPathFactory
) -> None:
    from pathlib import Path

    from fontTools.ttLib import TTFont

    from signing.pdf_layout import LayoutStyle, font_for_pdf
    from tests.unit.signing.pdf.pdfkit import make_ttf

    name = "Văn phòng Ủy ban nhân dân tỉnh Đắk Lắk"
    font = Path(str(tmp_path)) / "test-2048.ttf"
    make_ttf(str(font), upem=2048, text=name + "SAO Yý")
    scaled = font_for_pdf(font, Path(str(tmp_path)))
    assert TTFont(str(scaled))["head"].unitsPerEm == 1000
    assert font_for_pdf(scaled, Path(str(tmp_path))) == scaled  # already 1000: used as is

    svc = PdfSigningService(
        signer_for(pki.agency, [pki.sub_ca.cert]), style=LayoutStyle(font_file=font)
    )
    signed = svc.sign(make_pdf(1), SignRequest(SignatureRole.COPY, agency_name=name))
    widths = re.search(rb"/W \[(.*?)\]\s*\]", signed, re.S)
    assert widths is not None
    numbers = {int(n) for n in re.findall(rb"\d+", re.sub(rb"^\s*\d+\s*\[", b"", widths.group(1)))}
    assert 500 in numbers  # half an em, in PDF's thousandths — not 1024 font units
    assert 1024 not in numbers
    # every Vietnamese letter reached the page (the ToUnicode map knows it)
    text = _appearance_text(signed)
    for letter in "ăâĐỦắỉ":
        assert f"{ord(letter):04X}".encode() in text.upper(), letter
    assert verifier.verify(signed, DocumentKind.COPY).bottom_line


def test_signed_attributes_are_those_of_pades_with_the_signers_own_certificate(
    issued: bytes, agency_service: PdfSigningService, pki: TestPki
) -> None:
    """signing-certificate-v2 is encoded once per key: it must still name this certificate,
    and the signer handed in is left as it was (it may make CAdES signatures elsewhere)."""
    from asn1crypto import tsp
    from pyhanko.sign.general import as_signing_certificate_v2

    reader = PdfFileReader(BytesIO(issued), strict=False)
    agency_sig = reader.embedded_regular_signatures[-1]
    attrs = agency_sig.signer_info["signed_attrs"]
    assert [a["type"].native for a in attrs] == [
        "content_type",
        "message_digest",
        "signing_certificate_v2",
    ]
    (value,) = next(a for a in attrs if a["type"].native == "signing_certificate_v2")["values"]
    expected = as_signing_certificate_v2(agency_service.signer.signing_cert)
    assert value.dump() == tsp.SigningCertificateV2.load(expected.dump()).dump()
    handed_in = signer_for(pki.agency, [pki.sub_ca.cert])
    service = PdfSigningService(handed_in)
    assert handed_in.signed_attr_prov_spec is None
    assert service.signer is not handed_in
    assert PdfSigningService(service.signer).signer is service.signer  # no second copy
