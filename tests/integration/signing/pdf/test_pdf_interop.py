"""Our PDF signatures against independent and real services: poppler's ``pdfsig`` (NSS), an
RFC 3161 TSA over HTTP, OCSP/CRL served on loopback, and a key on a SoftHSM2 token."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.errors import PeerUnavailable
from signing.keys import LoadedKey
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest, http_timestamper
from signing.pdf_verify import PdfVerifier
from signing.trust import RevocationSource, TrustEvaluator, TrustPolicy, TrustStore
from signing.verdicts import Trust
from tests.pki import RevocationServer, TestPki
from tests.tsa import TsaServer
from tests.unit.signing.pdf.pdfkit import (
    append_update,
    make_pdf,
    seal_png,
    signature_png,
    signer_for,
)

pytestmark = pytest.mark.integration

BOX = Box(330, 150, 510, 215)


def _signed_document(pki: TestPki, tsa: TsaServer | None = None) -> bytes:
    ts = http_timestamper(tsa.url) if tsa else None
    person = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]), timestamper=ts)
    agency = PdfSigningService(signer_for(pki.agency, [pki.sub_ca.cert]), timestamper=ts)
    pdf = person.sign(
        make_pdf(2, pad_to=50_000),
        SignRequest(SignatureRole.PERSON, box=BOX, image=signature_png()),
    )
    pdf = agency.sign(pdf, SignRequest(SignatureRole.AGENCY, image=seal_png(), agency_name="Sở X"))
    return agency.sign(pdf, SignRequest(SignatureRole.ATTACHMENT, number="12/QĐ-UBND"))


def _blocks(report: str) -> list[str]:
    return re.split(r"^Signature #\d+:", report, flags=re.M)[1:]


def test_pdfsig_finds_every_signature_valid(pki: TestPki, run_pdfsig: Callable[..., str]) -> None:
    blocks = _blocks(run_pdfsig(_signed_document(pki)))
    assert len(blocks) == 3
    for block in blocks:
        assert "Signature Validation: Signature is Valid." in block
        assert "ETSI.CAdES.detached" in block


@pytest.mark.parametrize("who", ["person", "agency", "person-timestamped"])
def test_pdfsig_trusts_our_signature_given_the_root(
    who: str,
    pki_online: TestPki,
    tsa_server: TsaServer,
    run_pdfsig: Callable[..., str],
    nss_db: Path,
) -> None:
    """One signature per file: poppler 22–25 checks the certificates of several signatures
    concurrently and reports "Unknown issue" for some of them at random, so trust is checked
    per signature here (every signature's cryptographic validity is checked together above)."""
    issued = pki_online.agency if who == "agency" else pki_online.person
    ts = http_timestamper(tsa_server.url) if who.endswith("timestamped") else None
    svc = PdfSigningService(signer_for(issued, [pki_online.sub_ca.cert]), timestamper=ts)
    pdf = svc.sign(make_pdf(1), SignRequest(SignatureRole.PERSON, box=BOX, image=signature_png()))
    (block,) = _blocks(run_pdfsig(pdf, nssdir=nss_db))
    assert "Signature Validation: Signature is Valid." in block
    assert "Certificate Validation: Certificate is Trusted." in block, block


def test_pdfsig_sees_the_revoked_signer(
    pki_online: TestPki, run_pdfsig: Callable[..., str], nss_db: Path
) -> None:
    svc = PdfSigningService(signer_for(pki_online.revoked, [pki_online.sub_ca.cert]))
    pdf = svc.sign(make_pdf(1), SignRequest(SignatureRole.PERSON, box=BOX))
    (block,) = _blocks(run_pdfsig(pdf, nssdir=nss_db))
    assert "Signature Validation: Signature is Valid." in block
    assert "Certificate Validation: Certificate has been Revoked." in block, block


def test_pdfsig_rejects_bytes_changed_inside_a_signature(
    pki: TestPki, run_pdfsig: Callable[..., str]
) -> None:
    pdf = _signed_document(pki).replace(b"Van ban thu nghiem", b"Van ban THU NGHIEM", 1)
    first = _blocks(run_pdfsig(pdf))[0]
    assert "Signature is Valid." not in first


def test_incremental_update_passes_pdfsig_but_not_us(
    pki: TestPki, run_pdfsig: Callable[..., str], trust_store: TrustStore
) -> None:
    """The reason the difference analysis exists: the byte ranges are untouched, so a plain
    CMS check (pdfsig) still says "valid"; our verdict flags the change."""
    evil = b"BT /F1 14 Tf 72 760 Td (DA BI SUA) Tj ET\n"
    pdf = append_update(
        _signed_document(pki),
        {5: b"<< /Length %d >>\nstream\n" % len(evil) + evil + b"endstream"},
    )
    for block in _blocks(run_pdfsig(pdf)):
        assert "Signature is Valid." in block
    verifier = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(check_revocation=False)))
    verdict = verifier.verify(pdf)
    assert all(s.modified_after_signing for s in verdict.signatures)
    assert not verdict.bottom_line


def test_timestamps_from_the_http_tsa(
    pki: TestPki, tsa_server: TsaServer, trust_store: TrustStore, run_pdfsig: Callable[..., str]
) -> None:
    before = tsa_server.hits
    pdf = _signed_document(pki, tsa_server)
    assert tsa_server.hits - before == 3
    verifier = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(check_revocation=False)))
    verdict = verifier.verify(pdf)
    assert verdict.bottom_line, verdict.to_dict("en")
    assert {s.level for s in verdict.signatures} == {"PAdES-B-T"}
    assert all(s.timestamp_ok for s in verdict.signatures)
    for block in _blocks(run_pdfsig(pdf)):
        assert "Signature is Valid." in block


def test_tsa_outage_fails_the_signing(pki: TestPki, tsa_server: TsaServer) -> None:
    svc = PdfSigningService(
        signer_for(pki.agency, [pki.sub_ca.cert]), timestamper=http_timestamper(tsa_server.url)
    )
    tsa_server.available = False
    try:
        with pytest.raises(PeerUnavailable):
            svc.sign(make_pdf(1), SignRequest(SignatureRole.ATTACHMENT, number="1"))
    finally:
        tsa_server.available = True


def test_revocation_answered_online(
    pki_online: TestPki, revocation_server: RevocationServer, trust_store: TrustStore
) -> None:
    verifier = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(network_timeout=2.0)))
    good = PdfSigningService(signer_for(pki_online.person, [pki_online.sub_ca.cert]))
    bad = PdfSigningService(signer_for(pki_online.revoked, [pki_online.sub_ca.cert]))
    req = SignRequest(SignatureRole.PERSON, box=BOX)
    before = revocation_server.hits["ocsp"]
    (ok,) = verifier.verify(good.sign(make_pdf(1), req)).signatures
    (revoked,) = verifier.verify(bad.sign(make_pdf(1), req)).signatures
    assert revocation_server.hits["ocsp"] > before
    assert ok.trusted
    assert ok.trust is not None
    assert ok.trust.revocation_source is RevocationSource.OCSP
    assert revoked.revoked
    assert revoked.trust is not None
    assert revoked.trust.status is Trust.REVOKED
    assert not revoked.bottom_line


def test_agency_signature_made_on_a_softhsm_token(
    pki: TestPki,
    softhsm_agency_key: LoadedKey,
    trust_store: TrustStore,
    run_pdfsig: Callable[..., str],
) -> None:
    person = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))
    token = PdfSigningService(softhsm_agency_key.pyhanko_signer())
    pdf = person.sign(make_pdf(1), SignRequest(SignatureRole.PERSON, box=BOX))
    pdf = token.sign(pdf, SignRequest(SignatureRole.AGENCY, image=seal_png(), agency_name="Sở X"))
    verifier = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(check_revocation=False)))
    verdict = verifier.verify(pdf)
    assert verdict.bottom_line
    assert verdict.nd30_warnings == ()
    for block in _blocks(run_pdfsig(pdf)):
        assert "Signature is Valid." in block
