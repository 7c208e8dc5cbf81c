"""Fixtures for the PDF signature unit tests: signers, PDFs and verifiers over the test PKI.

Everything runs in-process (no network): revocation comes from a CRL file given to the trust
policy, timestamps from pyHanko's ``DummyTimeStamper`` called directly. The loopback HTTP TSA,
online OCSP/CRL, poppler's ``pdfsig`` and SoftHSM are in ``tests/integration/signing/pdf``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from signing.pdf_sign import PdfSigningService
from signing.pdf_verify import PdfVerifier, PdfVerifyPolicy
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from tests.pki import TestPki
from tests.tsa import TsaServer
from tests.unit.signing.pdf.pdfkit import make_pdf, signer_for


@pytest.fixture(scope="session")
def person_service(pki: TestPki) -> PdfSigningService:
    return PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))


@pytest.fixture(scope="session")
def agency_service(pki: TestPki) -> PdfSigningService:
    return PdfSigningService(signer_for(pki.agency, [pki.sub_ca.cert]))


@pytest.fixture(scope="session")
def tsa_authority(pki: TestPki) -> TsaServer:
    """A TSA identity under the test root (its stamper is used in-process, not served)."""
    return TsaServer((pki.root.cert, pki.root.key))


@pytest.fixture(scope="session")
def dummy_timestamper(tsa_authority: TsaServer) -> DummyTimeStamper:
    return tsa_authority._stamper


@pytest.fixture(scope="session")
def crl_file(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crl") / "sub-ca.crl"
    path.write_bytes(pki.crl_der())
    return path


@pytest.fixture(scope="session")
def root_crl_file(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root's CRL (lists the revoked sub-CA): intermediates are checked too."""
    path = tmp_path_factory.mktemp("crl") / "root.crl"
    path.write_bytes(pki.root_crl_der())
    return path


@pytest.fixture
def make_verifier(
    trust_store: TrustStore, crl_file: Path, root_crl_file: Path
) -> Callable[..., PdfVerifier]:
    """``make(policy=None, trust_policy=None, **kw)`` → a fresh verifier (fresh caches)."""

    def make(
        policy: PdfVerifyPolicy | None = None,
        trust_policy: TrustPolicy | None = None,
        store: TrustStore | None = None,
        **kw: Any,
    ) -> PdfVerifier:
        tp = trust_policy or TrustPolicy(
            allow_network=False, prefer_ocsp=False, crl_files=(crl_file, root_crl_file)
        )
        evaluator = TrustEvaluator(store or trust_store, tp)
        return PdfVerifier(evaluator, policy or PdfVerifyPolicy(), **kw)

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., PdfVerifier]) -> PdfVerifier:
    return make_verifier()


@pytest.fixture(scope="session")
def small_pdf() -> bytes:
    return make_pdf(2)
