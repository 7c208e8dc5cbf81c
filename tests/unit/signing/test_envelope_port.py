"""The hub port adapter: one parse shared with the reader, coarse statuses, JSON details."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from hub.edxml.reader import ParsedPackage, parse_package
from hub.ports import EnvelopeStatus as HubStatus
from hub.ports import Indication
from hub.ports import SignatureVerifier as HubPort
from signing.envelope_port import HubSignatureVerifier, hub_status
from signing.keys import LoadedKey
from signing.trust import TrustStore
from signing.verdicts import EnvelopeStatus, EnvelopeVerdict
from signing.xmldsig import SignatureVerifier, sign_envelope
from tests.pki import RevocationServer, TestPki
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


def test_revoked_signer_is_invalid(
    port: HubSignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    data = sign_envelope(build_package(), loaded_keys["revoked"])
    verdicts = port.verify(parse_package(data), data, SENDER)
    assert verdicts.envelope is HubStatus.INVALID
    assert verdicts.envelope_verdict is Indication.INVALID
    assert verdicts.envelope_subindication == "REVOKED"
    stored = json.loads(json.dumps(verdicts.to_dict()))
    assert stored["details"]["envelope"]["status"] == "revoked"
    assert stored["details"]["envelope"]["verdict"] == "invalid"
    assert (stored["verdict"], stored["envelope_verdict"]) == ("invalid", "invalid")


def test_unreachable_revocation_is_indeterminate_through_the_port(
    port: HubSignatureVerifier,
    loaded_keys: dict[str, LoadedKey],
    revocation_server: RevocationServer,
) -> None:
    data = sign_envelope(build_package(), loaded_keys["person"])
    revocation_server.available = False
    verdicts = port.verify(parse_package(data), data, SENDER)
    assert verdicts.envelope is HubStatus.INDETERMINATE
    assert verdicts.envelope_verdict is Indication.INDETERMINATE
    assert verdicts.envelope_subindication == "TRY_LATER"
    assert verdicts.to_dict()["verdict"] == "indeterminate"


def test_missing_signature_has_no_envelope_verdict(port: HubSignatureVerifier) -> None:
    data = build_package()
    verdicts = port.verify(parse_package(data), data, SENDER)
    assert verdicts.envelope_verdict is None
    assert verdicts.to_dict()["verdict"] is None


def test_pdf_check_hook_feeds_the_counts(
    trust_store: TrustStore, loaded_keys: dict[str, LoadedKey], pki_online: TestPki
) -> None:
    def pdf_check(
        parsed: ParsedPackage, data: bytes, sender: str
    ) -> tuple[int, int, int, Mapping[str, Any]]:
        return 3, 1, 1, {"seen": sender}

    port = HubSignatureVerifier(SignatureVerifier(trust_store), pdf_check)
    data = sign_envelope(build_package(), loaded_keys["agency"])
    verdicts = port.verify(parse_package(data), data, SENDER)
    assert (verdicts.pdf_checked, verdicts.pdf_bad) == (3, 1)
    assert (verdicts.pdf_invalid, verdicts.pdf_indeterminate) == (0, 1)
    assert not verdicts.bottom_line
    assert verdicts.verdict is Indication.INDETERMINATE
    assert verdicts.details["pdf"] == {"seen": SENDER}


@pytest.mark.parametrize(
    ("status", "present", "expected"),
    [
        (EnvelopeStatus.UNVERIFIABLE, False, HubStatus.MISSING),
        (EnvelopeStatus.UNVERIFIABLE, True, HubStatus.INVALID),
        (EnvelopeStatus.WEAK_ALGORITHM, True, HubStatus.INVALID),
        (EnvelopeStatus.UNTRUSTED, True, HubStatus.UNTRUSTED),
        (EnvelopeStatus.EXPIRED, True, HubStatus.INDETERMINATE),
        (EnvelopeStatus.NOT_YET_VALID, True, HubStatus.INDETERMINATE),
        (EnvelopeStatus.UNKNOWN_REVOCATION, True, HubStatus.INDETERMINATE),
        (EnvelopeStatus.REVOKED, True, HubStatus.INVALID),
        (EnvelopeStatus.BAD_SIGNATURE, True, HubStatus.INVALID),
    ],
)
def test_mapping_table(status: EnvelopeStatus, present: bool, expected: HubStatus) -> None:
    verdict = EnvelopeVerdict.make(status, "x", "x", xmldsig_present=present)
    assert hub_status(verdict) is expected
