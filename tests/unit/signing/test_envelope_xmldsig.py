"""Envelope signing and verification: placement, verdict contents, policy, official samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from hub import xmlsafe
from hub.errors import XmlError
from signing.keys import LoadedKey
from signing.trust import TrustPolicy, TrustStore
from signing.verdicts import EnvelopeStatus, RevocationSource, Trust
from signing.xmldsig import (
    DS_NS,
    EDXML_NS,
    EnvelopePolicy,
    PolicySet,
    SignatureVerifier,
    sign_envelope,
)
from tests.pki import AGENCY_CODE, AGENCY_NAME, RevocationServer, TestPki
from tests.signing_fixtures import build_package

DS = f"{{{DS_NS}}}"
ED = f"{{{EDXML_NS}}}"
SENDER = AGENCY_CODE


@pytest.fixture
def verifier(trust_store: TrustStore, pki_online: TestPki) -> SignatureVerifier:
    return SignatureVerifier(trust_store)


def test_signature_sits_in_header_after_trace_list(loaded_keys: dict[str, LoadedKey]) -> None:
    signed = sign_envelope(build_package(), loaded_keys["agency"])
    root = xmlsafe.parse(signed)
    header = root.find(f"{ED}edXMLEnvelope/{ED}edXMLHeader")
    assert header is not None
    names = [etree.QName(c).localname for c in header if isinstance(c.tag, str)]
    assert names == ["MessageHeader", "TraceHeaderList", "Signature"]
    sig = header[-1]
    assert sig.tag == f"{DS}Signature"
    ref = sig.find(f"{DS}SignedInfo/{DS}Reference")
    assert ref is not None
    assert ref.get("URI") == ""
    assert sig.find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate") is not None


def test_valid_rsa_signature_verdict(
    verifier: SignatureVerifier, loaded_keys: dict[str, LoadedKey], pki: TestPki
) -> None:
    signed = sign_envelope(build_package(), loaded_keys["agency"])
    verdict = verifier.verify_envelope(signed, SENDER)
    assert verdict.status is EnvelopeStatus.VALID
    assert verdict.bottom_line
    assert verdict.signer is not None
    assert verdict.signer.fingerprint == pki.agency.fingerprint
    assert verdict.signer.uid == AGENCY_CODE
    assert verdict.signer.is_agency
    assert verdict.signature_algorithm == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert verdict.digest_algorithm == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert verdict.trust is not None
    assert verdict.trust.status is Trust.TRUSTED
    assert verdict.trust.revocation_source is RevocationSource.OCSP
    assert verdict.signed_c14n_sha256 is not None
    assert verdict.problem_en == ""
    as_json = json.loads(json.dumps(verdict.to_dict()))
    assert as_json["status"] == "valid"
    assert as_json["bottom_line"] is True
    assert as_json["signer"]["common_name"] == AGENCY_NAME


def test_valid_ecdsa_signature(
    verifier: SignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    signed = sign_envelope(build_package(), loaded_keys["agency_ec"])
    verdict = verifier.verify_envelope(signed, SENDER)
    assert verdict.status is EnvelopeStatus.VALID
    assert verdict.signature_algorithm is not None
    assert verdict.signature_algorithm.endswith("ecdsa-sha256")


def test_person_signature_is_not_agency(
    verifier: SignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    verdict = verifier.verify_envelope(
        sign_envelope(build_package(), loaded_keys["person"]), SENDER
    )
    assert verdict.bottom_line
    assert verdict.signer is not None
    assert not verdict.signer.is_agency
    assert verdict.signer.title == "Giám đốc"


def test_pre_parsed_tree_gives_the_same_verdict(
    verifier: SignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    signed = sign_envelope(build_package(), loaded_keys["agency"])
    a = verifier.verify_envelope(signed, SENDER)
    b = verifier.verify_envelope(signed, SENDER, root=xmlsafe.parse(signed))
    assert a.status is b.status is EnvelopeStatus.VALID
    assert a.signed_c14n_sha256 == b.signed_c14n_sha256


def test_bytes_are_the_authority_not_a_modified_tree(
    verifier: SignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    signed = sign_envelope(build_package(), loaded_keys["agency"])
    root = xmlsafe.parse(signed)
    subject = root.find(f".//{ED}Subject")
    assert subject is not None
    subject.text = "đã sửa sau khi nhận"
    # The tree was modified after parsing, the bytes were not: the received bytes decide.
    assert verifier.verify_envelope(signed, SENDER, root=root).bottom_line
    tampered = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert verifier.verify_envelope(tampered, SENDER).status is EnvelopeStatus.DIGEST_MISMATCH


def test_trust_is_decided_once_per_certificate(
    verifier: SignatureVerifier,
    loaded_keys: dict[str, LoadedKey],
    revocation_server: RevocationServer,
) -> None:
    before = revocation_server.hits["ocsp"]
    for n in range(5):
        signed = sign_envelope(build_package(code=f"{n}/X"), loaded_keys["person"])
        assert verifier.verify_envelope(signed, SENDER).bottom_line
    assert revocation_server.hits["ocsp"] == before + 1


def test_absent_signature(verifier: SignatureVerifier) -> None:
    verdict = verifier.verify_envelope(build_package(), SENDER)
    assert verdict.status is EnvelopeStatus.ABSENT
    assert not verdict.bottom_line


def test_sdk_signature_is_unverifiable_and_replaced_when_signing(
    verifier: SignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    sdk = build_package(sdk_signature=True)
    assert verifier.verify_envelope(sdk, SENDER).status is EnvelopeStatus.UNVERIFIABLE
    signed = sign_envelope(sdk, loaded_keys["agency"])
    root = xmlsafe.parse(signed)
    assert root.find(f".//{ED}Signature") is None
    assert verifier.verify_envelope(signed, SENDER).bottom_line


def test_policy_decides_acceptance(
    trust_store: TrustStore, loaded_keys: dict[str, LoadedKey], pki_online: TestPki
) -> None:
    strict = EnvelopePolicy(require_signature=True)
    v = SignatureVerifier(trust_store, PolicySet(by_sender={"000.00.00.G22": strict}))
    unsigned = v.verify_envelope(build_package(), "000.00.00.G22")
    assert not v.accepts(unsigned, "000.00.00.G22")
    assert v.accepts(unsigned, SENDER)
    signed = sign_envelope(build_package(), loaded_keys["agency"])
    assert v.accepts(v.verify_envelope(signed, "000.00.00.G22"), "000.00.00.G22")
    broken = v.verify_envelope(signed.replace(b"cid:1<", b"cid:2<", 1), SENDER)
    assert broken.status is EnvelopeStatus.DIGEST_MISMATCH
    assert not v.accepts(broken, SENDER)  # a real signature that fails is never tolerated
    assert PolicySet().for_sender("x") == EnvelopePolicy()
    assert EnvelopePolicy().allow_sha1 is False


def test_unknown_revocation_when_isolated_without_data(
    trust_store: TrustStore,
    loaded_keys: dict[str, LoadedKey],
    revocation_server: RevocationServer,
    pki_online: TestPki,
) -> None:
    signed = sign_envelope(build_package(), loaded_keys["agency"])
    revocation_server.available = False
    v = SignatureVerifier(
        trust_store, PolicySet(EnvelopePolicy(trust=TrustPolicy(network_timeout=2)))
    )
    verdict = v.verify_envelope(signed, SENDER)
    assert verdict.status is EnvelopeStatus.UNKNOWN_REVOCATION
    assert verdict.signer is not None


def test_non_edxml_root_is_unverifiable(
    verifier: SignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    signed = sign_envelope(build_package(), loaded_keys["agency"])
    renamed = signed.replace(b"<edXML xmlns=", b"<other xmlns=").replace(b"</edXML>", b"</other>")
    assert verifier.verify_envelope(renamed, SENDER).status is EnvelopeStatus.UNVERIFIABLE


def test_not_xml_raises_xml_error(verifier: SignatureVerifier) -> None:
    with pytest.raises(XmlError):
        verifier.verify_envelope(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", SENDER)


def _shared_samples(folder: Path | None) -> list[Path]:
    return sorted(folder.glob("*.edxml")) if folder is not None else []


def test_official_samples_never_crash(
    shared_samples: Path | None, verifier: SignatureVerifier
) -> None:
    if shared_samples is None:
        pytest.skip("official samples folder ../shared/edxml-samples is absent")
    files = _shared_samples(shared_samples)
    assert files
    seen = set()
    for path in files:
        verdict = verifier.verify_envelope(path.read_bytes(), "000.00.00.G22")
        assert verdict.status in (EnvelopeStatus.ABSENT, EnvelopeStatus.UNVERIFIABLE), path.name
        seen.add(verdict.status)
    # The SDK's edXML-namespace Signature appears in the edoc samples.
    assert EnvelopeStatus.UNVERIFIABLE in seen
