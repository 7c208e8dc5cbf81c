"""The hub port adapter: one parse shared with the reader, coarse statuses, JSON details."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from hub.edxml.reader import ParsedPackage, parse_package
from hub.ports import EnvelopeStatus as HubStatus
from hub.ports import SignatureVerifier as HubPort
from signing.envelope_port import HubSignatureVerifier, hub_status
from signing.keys import LoadedKey
from signing.trust import TrustStore
from signing.verdicts import EnvelopeStatus, EnvelopeVerdict
from signing.xmldsig import SignatureVerifier, sign_envelope
from tests.pki import TestPki
from tests.signing_fixtures import build_package

SENDER = "000.00.31.H99"


@pytest.fixture
def port(trust_store: TrustStore, pki_online: TestPki) -> HubSignatureVerifier:
    return HubSignatureVerifier(SignatureVerifier(trust_store))


def test_adapter_satisfies_the_hub_port(port: HubSignatureVerifier) -> None:
    as_port: HubPort = port
    assert callable(as_port.verify)


def test_valid_package_through_the_port(
    port: HubSignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    data = sign_envelope(build_package(), loaded_keys["agency"])
    verdicts = port.verify(parse_package(data), data, SENDER)
    assert verdicts.envelope is HubStatus.VALID
    assert json.loads(json.dumps(verdicts.to_dict()))["details"]["envelope"]["status"] == "valid"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d, HubStatus.VALID),
        (lambda d: d.replace(b"cid:1<", b"cid:5<", 1), HubStatus.INVALID),
    ],
)
def test_statuses(
    port: HubSignatureVerifier,
    loaded_keys: dict[str, LoadedKey],
    mutate: Any,
    expected: HubStatus,
) -> None:
    data = mutate(sign_envelope(build_package(), loaded_keys["agency"]))
    assert port.verify(parse_package(data), data, SENDER).envelope is expected


def test_missing_and_sdk_layout_are_missing(port: HubSignatureVerifier) -> None:
    for data in (build_package(), build_package(sdk_signature=True)):
        assert port.verify(parse_package(data), data, SENDER).envelope is HubStatus.MISSING


def test_revoked_signer_is_untrusted(
    port: HubSignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    data = sign_envelope(build_package(), loaded_keys["revoked"])
    verdicts = port.verify(parse_package(data), data, SENDER)
    assert verdicts.envelope is HubStatus.UNTRUSTED
    assert verdicts.details["envelope"]["status"] == "revoked"


def test_pdf_check_hook_feeds_the_counts(
    trust_store: TrustStore, loaded_keys: dict[str, LoadedKey], pki_online: TestPki
) -> None:
    def pdf_check(
        parsed: ParsedPackage, data: bytes, sender: str
    ) -> tuple[int, int, Mapping[str, Any]]:
        return 2, 1, {"seen": sender}

    port = HubSignatureVerifier(SignatureVerifier(trust_store), pdf_check)
    data = sign_envelope(build_package(), loaded_keys["agency"])
    verdicts = port.verify(parse_package(data), data, SENDER)
    assert (verdicts.pdf_checked, verdicts.pdf_bad) == (2, 1)
    assert not verdicts.bottom_line
    assert verdicts.details["pdf"] == {"seen": SENDER}


@pytest.mark.parametrize(
    ("status", "present", "expected"),
    [
        (EnvelopeStatus.UNVERIFIABLE, False, HubStatus.MISSING),
        (EnvelopeStatus.UNVERIFIABLE, True, HubStatus.INVALID),
        (EnvelopeStatus.WEAK_ALGORITHM, True, HubStatus.INVALID),
        (EnvelopeStatus.EXPIRED, True, HubStatus.UNTRUSTED),
        (EnvelopeStatus.UNKNOWN_REVOCATION, True, HubStatus.UNTRUSTED),
        (EnvelopeStatus.BAD_SIGNATURE, True, HubStatus.INVALID),
    ],
)
def test_mapping_table(status: EnvelopeStatus, present: bool, expected: HubStatus) -> None:
    verdict = EnvelopeVerdict.make(status, "x", "x", xmldsig_present=present)
    assert hub_status(verdict) is expected
