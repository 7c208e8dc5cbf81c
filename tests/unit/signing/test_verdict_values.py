"""Verdict values: frozen, JSON-ready, identity read from the certificate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from signing.verdicts import (
    EnvelopeStatus,
    EnvelopeVerdict,
    RevocationSource,
    SignerIdentity,
    Trust,
    TrustStatus,
    envelope_status_for,
)
from tests.pki import AGENCY_CODE, AGENCY_NAME, PERSON_NAME, TestPki


def test_identity_of_agency_and_person(pki: TestPki) -> None:
    agency = SignerIdentity.from_certificate(pki.agency.cert)
    assert agency.common_name == AGENCY_NAME
    assert agency.organization == AGENCY_NAME
    assert agency.uid == AGENCY_CODE
    assert agency.is_agency
    assert agency.fingerprint == pki.agency.fingerprint
    assert agency.serial == format(pki.agency.cert.serial_number, "X")
    person = SignerIdentity.from_certificate(pki.person.cert)
    assert person.common_name == PERSON_NAME
    assert not person.is_agency
    assert "Cơ quan chứng thực số chuyên dùng công vụ" in person.issuer


def test_verdicts_are_frozen(pki: TestPki) -> None:
    verdict = EnvelopeVerdict.make(EnvelopeStatus.VALID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.status = EnvelopeStatus.ABSENT  # type: ignore[misc]


def test_only_valid_is_bottom_line() -> None:
    for status in EnvelopeStatus:
        assert EnvelopeVerdict.make(status).bottom_line is (status is EnvelopeStatus.VALID)


def test_trust_maps_onto_envelope_status() -> None:
    assert {envelope_status_for(t) for t in Trust} <= set(EnvelopeStatus)
    assert envelope_status_for(Trust.TRUSTED) is EnvelopeStatus.VALID
    assert envelope_status_for(Trust.REVOKED) is EnvelopeStatus.REVOKED


def test_to_dict_is_json_with_revocation_age(pki: TestPki) -> None:
    produced = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    trust = TrustStatus(
        Trust.TRUSTED,
        dt.datetime.now(dt.UTC),
        revocation_source=RevocationSource.CRL,
        revocation_produced_at=produced,
        revocation_stale=True,
    )
    verdict = EnvelopeVerdict.make(
        EnvelopeStatus.VALID,
        signer=SignerIdentity.from_certificate(pki.person.cert),
        trust=trust,
        signature_algorithm="rsa-sha256",
    )
    out = json.loads(json.dumps(verdict.to_dict()))
    assert out["trust"]["revocation_source"] == "crl"
    assert out["trust"]["revocation_stale"] is True
    assert 7100 < out["trust"]["revocation_age_seconds"] < 7300
    assert out["signer"]["common_name"] == PERSON_NAME
    assert out["problem_vi"] == ""
