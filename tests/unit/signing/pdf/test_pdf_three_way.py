"""PDF signatures judged three ways (valid / invalid / indeterminate, ETSI EN 319 102-1).

Each case is a real signature over the generated PKI; the sub-indication is what the verifier
found: a revoked sub-CA (invalid REVOKED), its CRL unreachable (indeterminate TRY_LATER), an
expired signer with and without a timestamp taken before expiry (B-T: judged at the timestamp),
changed bytes, an unknown chain, a refused digest. The CLI cases check JSON, text and exit status.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from hub.ports import Indication
from signing.pdf_sign import PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier
from signing.trust import TrustPolicy, TrustStore
from signing.verdicts import SubIndication, Trust
from tests.pki import Issued, RevocationServer, TestPki
from tests.tsa import TsaServer
from tests.unit.signing.pdf.pdfkit import make_pdf, signer_for


def _sign(signer: Issued, chain: list[Issued], stamper: DummyTimeStamper | None = None) -> bytes:
    svc = PdfSigningService(signer_for(signer, [c.cert for c in chain]), timestamper=stamper)
    return svc.sign(make_pdf(1), SignRequest(SignatureRole.ATTACHMENT, number="7/UBND"))


def _stamper_at(tsa: TsaServer, moment: dt.datetime) -> DummyTimeStamper:
    """The test TSA, answering with ``moment`` as genTime (a timestamp taken back then)."""
    live = tsa._stamper
    return DummyTimeStamper(
        tsa_cert=live.tsa_cert,
        tsa_key=live.tsa_key,
        certs_to_embed=live.certs_to_embed,
        fixed_dt=moment,
    )


def _outcome(verifier: PdfVerifier, pdf: bytes) -> tuple[Indication, SubIndication | None]:
    verdict = verifier.verify(pdf)
    (sig,) = verdict.signatures
    assert verdict.outcome == sig.outcome  # one signature: the file says what it says
    return sig.outcome.indication, sig.outcome.subindication


def test_valid_signature_is_valid(pki: TestPki, verifier: PdfVerifier) -> None:
    assert _outcome(verifier, _sign(pki.person, [pki.sub_ca])) == (Indication.VALID, None)


def test_revoked_sub_ca_makes_its_signers_invalid(pki: TestPki, verifier: PdfVerifier) -> None:
    assert pki.revoked_ca is not None
    assert pki.revoked_ca_leaf is not None
    pdf = _sign(pki.revoked_ca_leaf, [pki.revoked_ca])
    verdict = verifier.verify(pdf)
    (sig,) = verdict.signatures
    assert (sig.intact, sig.valid) == (True, True)
    assert sig.outcome.indication is Indication.INVALID
    assert sig.outcome.subindication is SubIndication.REVOKED
    assert sig.trust is not None
    assert sig.trust.status is Trust.REVOKED
    assert pki.revoked_ca.cert.subject.rfc4514_string() in sig.trust.detail


def test_sub_ca_revocation_unknown_is_indeterminate(
    pki: TestPki,
    make_verifier: Callable[..., PdfVerifier],
    crl_file: Path,
) -> None:
    # The signer's CRL is at hand, the root's (about the sub-CA) is not: isolated network.
    only_leaf = TrustPolicy(allow_network=False, prefer_ocsp=False, crl_files=(crl_file,))
    verifier = make_verifier(trust_policy=only_leaf)
    pdf = _sign(pki.person, [pki.sub_ca])
    assert _outcome(verifier, pdf) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    # Intermediates unchecked by policy: the same signature is valid.
    lax = TrustPolicy(
        allow_network=False, prefer_ocsp=False, crl_files=(crl_file,), check_ca_revocation=False
    )
    assert _outcome(make_verifier(trust_policy=lax), pdf) == (Indication.VALID, None)


def test_no_revocation_data_at_all_is_try_later(
    pki: TestPki, make_verifier: Callable[..., PdfVerifier]
) -> None:
    verifier = make_verifier(trust_policy=TrustPolicy(allow_network=False))
    pdf = _sign(pki.person, [pki.sub_ca])
    assert _outcome(verifier, pdf) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)


def test_expired_signer_without_timestamp_is_out_of_bounds(
    pki: TestPki, verifier: PdfVerifier
) -> None:
    pdf = _sign(pki.expired, [pki.sub_ca])
    assert _outcome(verifier, pdf) == (
        Indication.INDETERMINATE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
    )


def test_expired_signer_timestamped_before_expiry_is_valid(
    pki: TestPki, tsa_authority: TsaServer, verifier: PdfVerifier
) -> None:
    before = pki.expired.cert.not_valid_after_utc - dt.timedelta(days=30)
    pdf = _sign(pki.expired, [pki.sub_ca], _stamper_at(tsa_authority, before))
    (sig,) = verifier.verify(pdf).signatures
    assert sig.level == "PAdES-B-T"
    assert sig.timestamp_ok is True
    assert sig.timestamp == before
    assert sig.outcome.indication is Indication.VALID, sig.outcome.reason_en
    assert sig.bottom_line
    assert sig.trust is not None
    assert sig.trust.status is Trust.TRUSTED
    assert "signature timestamp" in sig.trust.detail


def test_timestamped_expired_signer_online_and_without_revocation_data(
    pki_online: TestPki,
    tsa_authority: TsaServer,
    make_verifier: Callable[..., PdfVerifier],
    revocation_server: RevocationServer,
) -> None:
    """The CRLs for the past judgement come through the evaluator's fetch layer; with none to
    be had, the answer is TRY_LATER, not a chain failure."""
    before = pki_online.expired.cert.not_valid_after_utc - dt.timedelta(days=30)
    pdf = _sign(pki_online.expired, [pki_online.sub_ca], _stamper_at(tsa_authority, before))
    hits = dict(revocation_server.hits)
    online = make_verifier(trust_policy=TrustPolicy(network_timeout=2.0))
    assert _outcome(online, pdf) == (Indication.VALID, None)
    assert revocation_server.hits["crl"] == hits["crl"] + 1
    assert revocation_server.hits["root"] == hits["root"] + 1
    isolated = make_verifier(trust_policy=TrustPolicy(allow_network=False))
    assert _outcome(isolated, pdf) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)


def test_b_lt_carries_its_own_revocation_data(
    pki: TestPki, tsa_authority: TsaServer, make_verifier: Callable[..., PdfVerifier]
) -> None:
    """The CRLs added to the document's DSS (PAdES B-LT) let an isolated verifier judge the
    expired signer at its timestamp; without them it cannot (TRY_LATER, above)."""
    before = pki.expired.cert.not_valid_after_utc - dt.timedelta(days=30)
    pdf = _sign(pki.expired, [pki.sub_ca], _stamper_at(tsa_authority, before))
    crls = [asn1_crl.CertificateList.load(der) for der in (pki.crl_der(), pki.root_crl_der())]
    out = BytesIO(pdf)
    DocumentSecurityStore.add_dss(out, None, crls=crls)
    isolated = make_verifier(trust_policy=TrustPolicy(allow_network=False))
    (sig,) = isolated.verify(out.getvalue()).signatures
    assert sig.level == "PAdES-B-LT"
    assert not sig.modified_after_signing  # adding validation data is a legitimate update
    assert (sig.outcome.indication, sig.outcome.subindication) == (Indication.VALID, None)


def test_expired_signer_timestamped_after_expiry_stays_out_of_bounds(
    pki: TestPki, tsa_authority: TsaServer, verifier: PdfVerifier
) -> None:
    after = pki.expired.cert.not_valid_after_utc + dt.timedelta(days=30)
    pdf = _sign(pki.expired, [pki.sub_ca], _stamper_at(tsa_authority, after))
    assert _outcome(verifier, pdf) == (
        Indication.INDETERMINATE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
    )


def test_changed_bytes_and_unknown_chain_and_weak_digest(
    pki: TestPki, verifier: PdfVerifier, make_verifier: Callable[..., PdfVerifier]
) -> None:
    pdf = _sign(pki.person, [pki.sub_ca])
    at = pdf.index(b"7/UBND") if b"7/UBND" in pdf else pdf.index(b"/Type /Page") + 1
    tampered = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]
    indication, sub = _outcome(verifier, tampered)
    assert indication is Indication.INVALID
    assert sub in (SubIndication.HASH_FAILURE, SubIndication.FORMAT_FAILURE)
    foreign = make_verifier(store=TrustStore.from_pem(pki.impostor.cert_pem))
    assert _outcome(foreign, pdf) == (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    )
    svc = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]), md_algorithm="sha1")
    sha1 = svc.sign(make_pdf(1), SignRequest(SignatureRole.ATTACHMENT, number="8/UBND"))
    assert _outcome(verifier, sha1) == (
        Indication.INDETERMINATE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
    )


def test_a_file_is_as_bad_as_its_worst_signature(
    pki: TestPki, verifier: PdfVerifier, agency_service: PdfSigningService
) -> None:
    expired = PdfSigningService(signer_for(pki.expired, [pki.sub_ca.cert]))
    once = expired.sign(make_pdf(1), SignRequest(SignatureRole.ATTACHMENT, number="9/UBND"))
    twice = agency_service.sign(once, SignRequest(SignatureRole.COPY, agency_name="Sở"))
    verdict = verifier.verify(twice)
    assert [s.outcome.indication for s in verdict.signatures] == [
        Indication.INDETERMINATE,
        Indication.VALID,
    ]
    assert verdict.outcome.indication is Indication.INDETERMINATE
    assert verdict.to_dict()["verdict"] == "indeterminate"
    assert verdict.to_dict()["subindication"] == "OUT_OF_BOUNDS_NO_POE"


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def three(pki: TestPki, tmp_path: Path, key_files: dict[str, Path]) -> dict[str, Path]:
    """A valid, an invalid (revoked sub-CA) and an indeterminate (expired, no timestamp) PDF."""
    assert pki.revoked_ca is not None
    assert pki.revoked_ca_leaf is not None
    out = {
        "valid": tmp_path / "valid.pdf",
        "invalid": tmp_path / "invalid.pdf",
        "indeterminate": tmp_path / "indeterminate.pdf",
    }
    out["valid"].write_bytes(_sign(pki.person, [pki.sub_ca]))
    out["invalid"].write_bytes(_sign(pki.revoked_ca_leaf, [pki.revoked_ca]))
    out["indeterminate"].write_bytes(_sign(pki.expired, [pki.sub_ca]))
    return out


def _verify(key_files: dict[str, Path], *files: Path) -> list[str]:
    return [
        "verify",
        *map(str, files),
        "--trust",
        str(key_files["anchors.pem"]),
        "--intermediates",
        str(key_files["intermediates.pem"]),
        "--crl",
        str(key_files["sub-ca.crl"]),
        "--crl",
        str(key_files["root.crl"]),
        "--offline",
    ]


def test_cli_exit_status_tells_the_three_apart(
    three: dict[str, Path], key_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.entrypoints.cli import main

    assert main(_verify(key_files, three["valid"])) == 0
    assert "KẾT LUẬN: HỢP LỆ" in capsys.readouterr().out
    assert main(_verify(key_files, three["invalid"])) == 1
    out = capsys.readouterr().out
    assert "KẾT LUẬN: KHÔNG HỢP LỆ" in out
    assert "KHÔNG HỢP LỆ (REVOKED)" in out
    assert main(_verify(key_files, three["indeterminate"])) == 3
    out = capsys.readouterr().out
    assert "KẾT LUẬN: CHƯA XÁC ĐỊNH ĐƯỢC" in out
    assert "CHƯA XÁC ĐỊNH ĐƯỢC (OUT_OF_BOUNDS_NO_POE)" in out
    assert main(["--lang", "en", *_verify(key_files, three["indeterminate"])]) == 3
    assert "RESULT: INDETERMINATE" in capsys.readouterr().out
    # several files: invalid wins over indeterminate, indeterminate over valid
    assert main(_verify(key_files, three["valid"], three["indeterminate"])) == 3
    assert main(_verify(key_files, *three.values())) == 1


def test_cli_json_carries_verdicts_at_every_level(
    three: dict[str, Path], key_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.entrypoints.cli import main

    capsys.readouterr()
    assert main([*_verify(key_files, *three.values()), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    got = [
        (
            e["verdict"],
            e["subindication"],
            e["pdfs"][0]["verdict"],
            e["pdfs"][0]["signatures"][0]["verdict"],
            e["pdfs"][0]["signatures"][0]["subindication"],
        )
        for e in report
    ]
    assert got == [
        ("valid", None, "valid", "valid", None),
        ("invalid", "REVOKED", "invalid", "invalid", "REVOKED"),
        (
            "indeterminate",
            "OUT_OF_BOUNDS_NO_POE",
            "indeterminate",
            "indeterminate",
            "OUT_OF_BOUNDS_NO_POE",
        ),
    ]
