"""Nghị định 30: signer classification from certificates, and the presence/order warnings."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signing.nd30 import (
    DocumentKind,
    SignatureFacts,
    SignerClass,
    SignerClassRule,
    classify_signer,
    presence_warnings,
)
from tests.pki import TestPki

T0 = dt.datetime(2026, 3, 15, 9, 0, tzinfo=dt.UTC)


def _cert(
    *attrs: tuple[x509.ObjectIdentifier, str], policies: tuple[str, ...] = ()
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(T0)
        .not_valid_after(T0 + dt.timedelta(days=1))
    )
    if policies:
        builder = builder.add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]
            ),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256())


def test_test_pki_person_and_agency_are_told_apart(pki: TestPki) -> None:
    assert classify_signer(pki.person.cert) is SignerClass.PERSON
    assert classify_signer(pki.agency.cert) is SignerClass.AGENCY


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        # personal identity numbers win even inside an organisation's subject
        (
            (
                (NameOID.COMMON_NAME, "Lê Văn B"),
                (NameOID.USER_ID, "CCCD:001099000001"),
                (NameOID.ORGANIZATION_NAME, "UBND tỉnh A"),
            ),
            SignerClass.PERSON,
        ),
        (
            ((NameOID.COMMON_NAME, "Công ty X"), (NameOID.USER_ID, "MST:0101234567")),
            SignerClass.AGENCY,
        ),
        (
            ((NameOID.COMMON_NAME, "Sở Tài chính"), (NameOID.USER_ID, "000.00.12.H40")),
            SignerClass.AGENCY,
        ),
        (
            ((NameOID.COMMON_NAME, "Ủy ban nhân dân xã Y"), (NameOID.ORGANIZATION_NAME, "Tỉnh Z")),
            SignerClass.AGENCY,
        ),
        (((NameOID.ORGANIZATION_NAME, "Văn phòng Chính phủ"),), SignerClass.AGENCY),
        (
            ((NameOID.COMMON_NAME, "Trần Thị C"), (NameOID.ORGANIZATION_NAME, "Bộ Nội vụ")),
            SignerClass.PERSON,
        ),
        (((NameOID.COUNTRY_NAME, "VN"),), SignerClass.UNKNOWN),
    ],
)
def test_default_rule(
    attrs: tuple[tuple[x509.ObjectIdentifier, str], ...], expected: SignerClass
) -> None:
    assert classify_signer(_cert(*attrs)) is expected


def test_policy_oids_override_the_subject() -> None:
    rule = SignerClassRule(agency_policy_oids=frozenset({"1.2.3.4.5"}))
    cert = _cert((NameOID.COMMON_NAME, "Trần Thị C"), policies=("1.2.3.4.5",))
    assert classify_signer(cert) is SignerClass.PERSON
    assert classify_signer(cert, rule) is SignerClass.AGENCY


def test_safe_default_never_guesses_agency_for_a_bare_name() -> None:
    rule = SignerClassRule(person_when_cn_only=False)
    assert classify_signer(_cert((NameOID.COMMON_NAME, "Trần Thị C")), rule) is SignerClass.UNKNOWN


P, A, U = SignerClass.PERSON, SignerClass.AGENCY, SignerClass.UNKNOWN


def _codes(facts: list[SignatureFacts], kind: DocumentKind = DocumentKind.ISSUED) -> list[str]:
    return [w.code for w in presence_warnings(facts, kind)]


def test_person_then_agency_is_clean() -> None:
    facts = [SignatureFacts(P, T0), SignatureFacts(A, T0 + dt.timedelta(minutes=5))]
    assert _codes(facts) == []


def test_missing_signatures_are_named() -> None:
    assert _codes([SignatureFacts(P, T0)]) == ["nd30.agency_missing"]
    assert _codes([SignatureFacts(A, T0)]) == ["nd30.person_missing"]
    assert _codes([]) == ["nd30.person_missing", "nd30.agency_missing"]
    # an unknown signer satisfies neither rule
    assert _codes([SignatureFacts(U, T0)]) == ["nd30.person_missing", "nd30.agency_missing"]


def test_agency_before_person_by_revision_and_by_time() -> None:
    by_order = [SignatureFacts(A, T0), SignatureFacts(P, T0 + dt.timedelta(minutes=1))]
    assert _codes(by_order) == ["nd30.agency_before_person"]
    by_time = [SignatureFacts(P, T0), SignatureFacts(A, T0 - dt.timedelta(minutes=1))]
    assert _codes(by_time) == ["nd30.agency_time_before_person"]
    unknown_time = [SignatureFacts(P, None), SignatureFacts(A, T0)]
    assert _codes(unknown_time) == []


def test_attachments_and_copies_need_only_the_agency() -> None:
    for kind in (DocumentKind.ATTACHMENT, DocumentKind.COPY):
        assert _codes([SignatureFacts(A, T0)], kind) == []
        assert _codes([SignatureFacts(P, T0)], kind) == ["nd30.agency_missing"]


def test_warnings_speak_both_languages() -> None:
    (w,) = presence_warnings([SignatureFacts(P, T0)])
    assert "cơ quan" in w.message("vi")
    assert "agency" in w.message("en")
    assert w.to_dict("en") == {"code": "nd30.agency_missing", "message": w.message_en}
