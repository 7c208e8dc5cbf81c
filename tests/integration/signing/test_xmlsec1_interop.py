"""Interop with xmlsec1 (libxmlsec1/OpenSSL): it verifies what we sign, we verify what it signs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from hub import xmlsafe
from signing.keys import LoadedKey
from signing.trust import TrustStore
from signing.verdicts import EnvelopeStatus
from signing.xmldsig import (
    DS_NS,
    EDXML_NS,
    EnvelopePolicy,
    PolicySet,
    SignatureVerifier,
    sign_envelope,
)
from tests.pki import Issued, TestPki
from tests.signing_fixtures import build_package

pytestmark = pytest.mark.integration

DS = f"{{{DS_NS}}}"
SENDER = "000.00.31.H99"


@pytest.fixture(scope="module")
def xmlsec1() -> str:
    exe = shutil.which("xmlsec1")
    if exe is None:
        pytest.fail("xmlsec1 is not installed (scripts/services installs it)")
    return exe


def _files(tmp: Path, pki: TestPki, signer: Issued) -> dict[str, Path]:
    out = {
        "root": tmp / "root.pem",
        "sub": tmp / "sub.pem",
        "key": tmp / "key.pem",
        "cert": tmp / "cert.pem",
    }
    out["root"].write_bytes(pki.root.cert_pem)
    out["sub"].write_bytes(pki.sub_ca.cert_pem)
    out["key"].write_bytes(signer.key_pem)
    out["cert"].write_bytes(signer.cert_pem)
    return out


@pytest.mark.parametrize("include_chain", [True, False])
def test_xmlsec1_verifies_our_envelopes(
    xmlsec1: str,
    loaded_keys: dict[str, LoadedKey],
    pki: TestPki,
    tmp_path: Path,
    include_chain: bool,
) -> None:
    files = _files(tmp_path, pki, pki.agency)
    signed = tmp_path / "signed.edxml"
    signed.write_bytes(
        sign_envelope(build_package(), loaded_keys["agency"], include_chain=include_chain)
    )
    args = [xmlsec1, "--verify", "--trusted-pem", str(files["root"])]
    args += ["--untrusted-pem", str(files["sub"])]
    run = subprocess.run([*args, str(signed)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "OK" in run.stdout + run.stderr
    # and it notices tampering
    tampered = tmp_path / "tampered.edxml"
    tampered.write_bytes(signed.read_bytes().replace(b"cid:1<", b"cid:7<", 1))
    bad = subprocess.run([*args, str(tampered)], capture_output=True, text=True, check=False)
    assert bad.returncode != 0


def test_xmlsec1_rejects_our_envelope_without_the_ca(
    xmlsec1: str, loaded_keys: dict[str, LoadedKey], tmp_path: Path
) -> None:
    signed = tmp_path / "signed.edxml"
    signed.write_bytes(sign_envelope(build_package(), loaded_keys["agency"]))
    run = subprocess.run([xmlsec1, "--verify", str(signed)], capture_output=True, check=False)
    assert run.returncode != 0


def _template(package: bytes, signature_method: str, digest_method: str) -> bytes:
    """An xmlsec1 signing template at the edXML place (edxml.md §6)."""
    root = xmlsafe.parse(package)
    trace = root.find(f".//{{{EDXML_NS}}}TraceHeaderList")
    assert trace is not None
    sig = etree.Element(f"{DS}Signature", nsmap={"ds": DS_NS})
    si = etree.SubElement(sig, f"{DS}SignedInfo")
    etree.SubElement(
        si,
        f"{DS}CanonicalizationMethod",
        Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    )
    etree.SubElement(si, f"{DS}SignatureMethod", Algorithm=signature_method)
    ref = etree.SubElement(si, f"{DS}Reference", URI="")
    trs = etree.SubElement(ref, f"{DS}Transforms")
    etree.SubElement(
        trs, f"{DS}Transform", Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    )
    etree.SubElement(ref, f"{DS}DigestMethod", Algorithm=digest_method)
    etree.SubElement(ref, f"{DS}DigestValue")
    etree.SubElement(sig, f"{DS}SignatureValue")
    x509_data = etree.SubElement(etree.SubElement(sig, f"{DS}KeyInfo"), f"{DS}X509Data")
    etree.SubElement(x509_data, f"{DS}X509Certificate")
    trace.addnext(sig)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _xmlsec_sign(xmlsec1: str, tmp: Path, files: dict[str, Path], template: bytes) -> bytes:
    tmpl = tmp / "template.edxml"
    out = tmp / "xmlsec-signed.edxml"
    tmpl.write_bytes(template)
    key_arg = f"{files['key']},{files['cert']}"
    run = subprocess.run(
        [xmlsec1, "--sign", "--privkey-pem", key_arg, "--output", str(out), str(tmpl)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return out.read_bytes()


def test_we_verify_xmlsec1_rsa_sha256(
    xmlsec1: str, pki_online: TestPki, trust_store: TrustStore, tmp_path: Path
) -> None:
    files = _files(tmp_path, pki_online, pki_online.agency)
    template = _template(
        build_package(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    )
    signed = _xmlsec_sign(xmlsec1, tmp_path, files, template)
    verifier = SignatureVerifier(trust_store)
    verdict = verifier.verify_envelope(signed, SENDER)
    assert verdict.status is EnvelopeStatus.VALID, verdict.problem_en
    assert verdict.signer is not None
    assert verdict.signer.fingerprint == pki_online.agency.fingerprint
    tampered = signed.replace(b"cid:1<", b"cid:3<", 1)
    assert verifier.verify_envelope(tampered, SENDER).status is EnvelopeStatus.DIGEST_MISMATCH


def test_we_verify_legacy_xmlsec1_rsa_sha1_only_when_allowed(
    xmlsec1: str, pki_online: TestPki, trust_store: TrustStore, tmp_path: Path
) -> None:
    files = _files(tmp_path, pki_online, pki_online.agency)
    template = _template(
        build_package(),
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    )
    signed = _xmlsec_sign(xmlsec1, tmp_path, files, template)
    legacy = PolicySet(by_sender={"000.00.00.H41": EnvelopePolicy(allow_sha1=True)})
    verifier = SignatureVerifier(trust_store, legacy)
    assert verifier.verify_envelope(signed, SENDER).status is EnvelopeStatus.WEAK_ALGORITHM
    assert verifier.verify_envelope(signed, "000.00.00.H41").status is EnvelopeStatus.VALID


def test_xmlsec1_signature_by_revoked_certificate(
    xmlsec1: str, pki_online: TestPki, trust_store: TrustStore, tmp_path: Path
) -> None:
    files = _files(tmp_path, pki_online, pki_online.revoked)
    template = _template(
        build_package(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    )
    signed = _xmlsec_sign(xmlsec1, tmp_path, files, template)
    verdict = SignatureVerifier(trust_store).verify_envelope(signed, SENDER)
    assert verdict.status is EnvelopeStatus.REVOKED
    assert verdict.trust is not None
    assert verdict.trust.revoked_at is not None
