"""The envelope check of packages over the reader's tree limit (attachment text elided).

An unsigned one is judged from the elided tree alone: its bytes are not read again. A signed
one is parsed again with no size cap of the verifier's own (the one limit is the intake's,
``limits.max_package_bytes``); where libxml2's text-node limit stops that parse, the answer is
a verdict (unverifiable) — never an exception that would refuse the push as malformed XML.
"""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from hub.edxml.reader import TREE_LIMIT, parse_package
from hub.edxml.source import PackageFile
from hub.ports import EnvelopeStatus as HubStatus
from signing.envelope_port import HubSignatureVerifier
from signing.keys import LoadedKey
from signing.trust import TrustStore
from signing.xmldsig import SignatureVerifier, sign_envelope
from tests.pki import TestPki
from tests.signing_fixtures import build_package

SENDER = "000.00.31.H99"
_CTE = re.compile(rb"(<ContentTransferEncoded>)[^<]*(</ContentTransferEncoded>)")


@pytest.fixture
def port(trust_store: TrustStore, pki_online: TestPki) -> HubSignatureVerifier:
    return HubSignatureVerifier(SignatureVerifier(trust_store))


def _enlarged(data: bytes) -> bytes:
    """``data`` with its attachment text replaced by more than the tree limit of base64."""
    big = b"QUFB" * (TREE_LIMIT // 4 + 1024 * 1024)
    out = _CTE.sub(lambda m: m.group(1) + big + m.group(2), data, count=1)
    assert len(out) > TREE_LIMIT + 4 * 1024 * 1024
    return out


class _Counting(io.BytesIO):
    reads = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads += 1
        return super().read(size)


def test_an_unsigned_large_package_is_judged_without_reading_it_again(
    port: HubSignatureVerifier,
) -> None:
    data = _enlarged(build_package())
    f = _Counting(data)
    pf = PackageFile(f, len(data), hashlib.sha256(data).hexdigest())
    parsed = parse_package(pf, max_bytes=len(data))
    assert parsed.attachments_elided
    f.reads = 0
    assert port.verify(parsed, pf, SENDER).envelope is HubStatus.MISSING
    assert f.reads == 0


def test_a_signed_large_package_is_a_verdict_not_a_refusal(
    port: HubSignatureVerifier, loaded_keys: dict[str, LoadedKey]
) -> None:
    signed = sign_envelope(build_package(), loaded_keys["agency"])
    data = _enlarged(signed)
    pf = PackageFile(io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())
    verdicts = port.verify(parse_package(pf, max_bytes=len(data)), pf, SENDER)
    assert verdicts.envelope is HubStatus.INVALID  # a real signature that cannot be checked
    envelope = verdicts.details["envelope"]
    assert envelope["status"] == "unverifiable"
    assert "cannot be loaded" in envelope["problem_en"]
