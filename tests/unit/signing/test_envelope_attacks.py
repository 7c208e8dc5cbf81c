"""The attack corpus (data/xml-attacks/corpus.json): every case must be reported not valid,
with the status the corpus names. Signatures are made fresh with the generated PKI."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner

from hub import xmlsafe
from signing.keys import LoadedKey, load_key
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
from tests.pki import KEY_PASSWORD, Issued, TestPki, write_key_files
from tests.signing_fixtures import build_package

DATA = Path(__file__).parent / "data" / "xml-attacks"
CORPUS = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))["cases"]
DS = f"{{{DS_NS}}}"
ED = f"{{{EDXML_NS}}}"


def _sig(root: etree._Element) -> etree._Element:
    found = root.find(f".//{DS}Signature")
    assert found is not None
    return found


def _first(root: etree._Element, local: str) -> etree._Element:
    found = root.find(f".//{ED}{local}")
    assert found is not None, local
    return found


def move_signature(root: etree._Element, to: str) -> None:
    sig = _sig(root)
    sig.getparent().remove(sig)  # type: ignore[union-attr]
    (root if to == "root" else _first(root, to)).append(sig)


def duplicate_message_header(root: etree._Element, position: str) -> None:
    mh = _first(root, "MessageHeader")
    forged = copy.deepcopy(mh)
    _first(forged, "Subject").text = "Văn bản giả mạo"
    if position == "before":
        mh.addprevious(forged)
    else:
        mh.addnext(forged)


def wrap_original_in_object(root: etree._Element) -> None:
    sig = _sig(root)
    obj = etree.SubElement(sig, f"{DS}Object")
    obj.append(copy.deepcopy(_first(root, "MessageHeader")))
    _first(root, "Subject").text = "Nội dung bị thay thế"


def reference_to_copy(root: etree._Element) -> None:
    mh = _first(root, "MessageHeader")
    mh.set("Id", "orig")
    ref = _sig(root).find(f"{DS}SignedInfo/{DS}Reference")
    assert ref is not None
    ref.set("URI", "#orig")


def add_second_signature(root: etree._Element) -> None:
    _first(root, "edXMLBody").append(copy.deepcopy(_sig(root)))


def insert_comment(root: etree._Element, **kw: str) -> None:
    el = _first(root, kw["in"])
    text = el.text or ""
    el.text = text[:5]
    comment = etree.Comment(" x ")
    comment.tail = text[5:]
    el.append(comment)


def insert_pi(root: etree._Element) -> None:
    _first(root, "MessageHeader").append(etree.ProcessingInstruction("hub", "route=elsewhere"))


def edit_text(root: etree._Element, element: str, **kw: str) -> None:
    el = (
        _first(root, element)
        if element != "ContentTransferEncoded"
        else root.find(f".//{ED}ContentTransferEncoded")
    )
    assert el is not None
    if "append" in kw:
        el.text = (el.text or "") + kw["append"]
    else:
        assert kw["replace_first"] in (el.text or "")
        el.text = (el.text or "").replace(kw["replace_first"], kw["with"], 1)


def whitespace_in_signed_info(root: etree._Element) -> None:
    si = _sig(root).find(f"{DS}SignedInfo")
    assert si is not None
    si.text = (si.text or "") + "\n  "


def append_trace(root: etree._Element) -> None:
    thl = _first(root, "TraceHeaderList")
    th = etree.SubElement(thl, f"{ED}TraceHeader")
    etree.SubElement(th, f"{ED}OrganId").text = "000.00.00.G22"


def _flip_b64(el: etree._Element) -> None:
    raw = bytearray(base64.b64decode(el.text or ""))
    raw[len(raw) // 2] ^= 0x01
    el.text = base64.b64encode(bytes(raw)).decode()


def flip_signature_value(root: etree._Element) -> None:
    el = _sig(root).find(f"{DS}SignatureValue")
    assert el is not None
    _flip_b64(el)


def flip_digest_value(root: etree._Element) -> None:
    el = _sig(root).find(f".//{DS}DigestValue")
    assert el is not None
    _flip_b64(el)


def add_transform(root: etree._Element, algorithm: str) -> None:
    tr = _sig(root).find(f".//{DS}Transforms")
    assert tr is not None
    etree.SubElement(tr, f"{DS}Transform", Algorithm=algorithm)


def remove_certificate(root: etree._Element) -> None:
    ki = _sig(root).find(f"{DS}KeyInfo")
    assert ki is not None
    _sig(root).remove(ki)


def swap_certificate(root: etree._Element, pki: TestPki, **kw: str) -> None:
    el = _sig(root).find(f".//{DS}X509Certificate")
    assert el is not None
    der = getattr(pki, kw["with"]).cert.public_bytes(serialization.Encoding.DER)
    el.text = base64.b64encode(der).decode()


class _LegacySha1Signer(XMLSigner):
    """What legacy SDK senders produce (rsa-sha1); signxml refuses SHA-1 unless told."""

    def check_deprecated_methods(self) -> None:
        return None


def sign_legacy_sha1(package: bytes, key: LoadedKey) -> bytes:
    """An rsa-sha1 / sha1 enveloped signature at the edXML place (legacy traffic)."""
    root = xmlsafe.parse(package)
    trace = _first(root, "TraceHeaderList")
    placeholder = etree.Element(f"{DS}Signature", nsmap={"ds": DS_NS}, Id="placeholder")
    trace.addnext(placeholder)
    signer = _LegacySha1Signer(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA1,
        digest_algorithm=DigestAlgorithm.SHA1,
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    signed = signer.sign(root, key=key.signxml_key(), cert=[key.certificate])
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def test_sha1_is_valid_only_for_a_sender_whose_policy_allows_it(
    signer_keys: dict[str, LoadedKey], trust_store: TrustStore, pki_online: TestPki
) -> None:
    legacy = sign_legacy_sha1(build_package(), signer_keys["agency"])
    policies = PolicySet(by_sender={"000.00.00.H41": EnvelopePolicy(allow_sha1=True)})
    verifier = SignatureVerifier(trust_store, policies)
    allowed = verifier.verify_envelope(legacy, "000.00.00.H41")
    assert allowed.status is EnvelopeStatus.VALID
    assert allowed.signature_algorithm == SignatureMethod.RSA_SHA1.value
    refused = verifier.verify_envelope(legacy, "000.00.31.H99")
    assert refused.status is EnvelopeStatus.WEAK_ALGORITHM
    # The legacy signature is still checked: tampering is caught under the permissive policy.
    tampered = legacy.replace(b"cid:1<", b"cid:9<", 1)
    assert verifier.verify_envelope(tampered, "000.00.00.H41").status is (
        EnvelopeStatus.DIGEST_MISMATCH
    )


OPS: dict[str, Callable[..., None]] = {
    "swap_certificate": swap_certificate,
    "move_signature": move_signature,
    "duplicate_message_header": duplicate_message_header,
    "wrap_original_in_object": wrap_original_in_object,
    "reference_to_copy": reference_to_copy,
    "add_second_signature": add_second_signature,
    "insert_comment": insert_comment,
    "insert_pi": insert_pi,
    "edit_text": edit_text,
    "whitespace_in_signed_info": whitespace_in_signed_info,
    "append_trace": append_trace,
    "flip_signature_value": flip_signature_value,
    "flip_digest_value": flip_digest_value,
    "add_transform": add_transform,
    "remove_certificate": remove_certificate,
}


@pytest.fixture(scope="module")
def signer_keys(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, LoadedKey]:
    files = write_key_files(pki, tmp_path_factory.mktemp("attack-keys"))
    keys: dict[str, LoadedKey] = {}
    for role in ("agency", "revoked", "expired"):
        keys[role] = load_key(
            f"file:{files[role + '.p12']}", pin=KEY_PASSWORD, check_validity=False
        )
    for role in ("not_yet_valid", "impostor"):
        issued: Issued = getattr(pki, role)
        path = files["anchors.pem"].parent / f"{role}.pem"
        path.write_bytes(issued.key_pem + issued.cert_pem)
        keys[role] = load_key(f"file:{path}", check_validity=False)
    return keys


@pytest.fixture(scope="module")
def verifier(trust_store: TrustStore) -> SignatureVerifier:
    return SignatureVerifier(trust_store)


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_attack_is_not_valid(
    case: dict[str, Any],
    signer_keys: dict[str, LoadedKey],
    verifier: SignatureVerifier,
    pki_online: TestPki,
) -> None:
    if case["op"] == "file":
        data = (DATA / case["args"]["file"]).read_bytes()
    else:
        args = dict(case["args"])
        digest = args.pop("digest", "sha256")
        key = signer_keys[case["signer"]]
        signed = (
            sign_legacy_sha1(build_package(), key)
            if digest == "sha1"
            else sign_envelope(build_package(), key)
        )
        if case["op"] == "none":
            data = signed
        else:
            root = xmlsafe.parse(signed)
            op = OPS[case["op"]]
            if op is swap_certificate:
                op(root, pki_online, **args)
            else:
                op(root, **args)
            data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    verdict = verifier.verify_envelope(data, "000.00.31.H99")
    assert not verdict.bottom_line
    assert verdict.status is EnvelopeStatus(case["expect"]), verdict.problem_en
    assert verdict.outcome.indication.value == case["verdict"], verdict.problem_en
    assert verdict.outcome.subindication == case["subindication"]
    assert verdict.to_dict()["verdict"] == case["verdict"]
    assert verdict.problem_en
    assert verdict.problem_vi
    # Only the SDK look-alike (no XML-DSig at all) may pass a sender without a requirement.
    assert verifier.accepts(verdict, "000.00.31.H99") is (case["op"] == "file")
    # Without mutation the same signer's package would be valid: the attack, not the setup,
    # is what the verdict reports.
    if case["signer"] == "agency" and case["op"] != "none":
        clean = sign_envelope(build_package(), signer_keys["agency"])
        assert verifier.verify_envelope(clean, "000.00.31.H99").bottom_line
