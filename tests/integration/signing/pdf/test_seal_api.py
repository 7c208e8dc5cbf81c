"""``POST /api/v1/sign/seal`` through the real ASGI app of a hub on a temporary SQLite store,
with the agency key on a SoftHSM2 token, the generated PKI, the loopback RFC 3161 TSA, and
poppler's ``pdfsig`` as the independent validator of the result."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.http.app import create_app
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.entrypoints.seal import build_seal_service
from hub.ports import NullVerifier
from hub.settings import load_settings
from hub.vxp.wire import format_timestamp, sign_headers
from signing.keys import LoadedKey
from signing.nd30 import SignerClass
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier
from signing.seal_service import AUDIT_ACTION, SealKeyConfig, SealService
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from tests.pki import AGENCY_CODE, KEY_PASSWORD, TestPki
from tests.tsa import TsaServer
from tests.unit.signing.pdf.pdfkit import make_pdf, seal_png, signature_png, signer_for

pytestmark = pytest.mark.integration

SEALER, SEALER_SECRET = "qlvb.so-tttt", "sealer-secret-5d2e91"
OTHER, OTHER_SECRET = "qlvb.so-noi-vu", "other-secret-77a0c4"
PIN_VAR = "LIENTHONG_TEST_SEAL_PIN"
#: The token and PIN of this directory's ``softhsm_agency_key`` fixture (conftest.py).
TOKEN, PIN = "lienthong-pdf", "112233"
BOX = Box(330, 150, 510, 215)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    h = build_hub(
        load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")}),
        verifier=NullVerifier(),
        links={},
    )
    h.services.systems.add(SEALER, [AGENCY_CODE], secret=SEALER_SECRET)
    h.services.systems.add(OTHER, ["000.00.02.H41"], secret=OTHER_SECRET)
    yield h
    h.close()


def _sealer(
    hub: Hub, trust_store: TrustStore, tmp_path: Path, tsa: TsaServer | None
) -> SealService:
    image = tmp_path / "seal.png"
    image.write_bytes(seal_png())
    verifier = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(check_revocation=False)))
    key = SealKeyConfig(
        AGENCY_CODE, f"pkcs11:token={TOKEN};object=agency", seal_image=image, pin_env=PIN_VAR
    )
    return build_seal_service(
        hub.uow, [key], verifier, tsa_url=tsa.url if tsa else None, env={PIN_VAR: PIN}
    )


@pytest.fixture
def client(
    hub: Hub,
    trust_store: TrustStore,
    tmp_path: Path,
    tsa_server: TsaServer,
    softhsm_agency_key: LoadedKey,  # the token, its SOFTHSM2_CONF and login
) -> Iterator[TestClient]:
    sealer = _sealer(hub, trust_store, tmp_path, tsa_server)
    with TestClient(create_app(hub.services, sealer=sealer)) as c:
        yield c
    sealer.keys.close()


def _seal(
    client: TestClient,
    pdf: bytes,
    agency: str = AGENCY_CODE,
    system: str = SEALER,
    secret: str = SEALER_SECRET,
) -> Any:
    path = f"/api/v1/sign/seal?agency={agency}"
    headers = sign_headers(
        system_id=system,
        secret=secret,
        timestamp=format_timestamp(dt.datetime.now(dt.UTC)),
        content_type="application/pdf",
        params={"method": "POST", "path": path},
        hash_file=hashlib.sha256(pdf).hexdigest(),
    )
    return client.post(path, headers=headers, content=pdf)


def _person_signed(pki: TestPki) -> bytes:
    person = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))
    return person.sign(
        make_pdf(1, pad_to=20_000),
        SignRequest(SignatureRole.PERSON, box=BOX, image=signature_png()),
    )


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    err = response.json()["error"]
    assert err["code"] == code, err
    return str(err["message"])


def _audit(hub: Hub) -> list[Any]:
    with hub.uow() as uow:
        return list(uow.audit.recent(action=AUDIT_ACTION))


def test_seal_appends_a_timestamped_agency_signature_after_the_persons(
    client: TestClient,
    hub: Hub,
    pki: TestPki,
    trust_store: TrustStore,
    run_pdfsig: Callable[..., str],
) -> None:
    signed = _person_signed(pki)
    r = _seal(client, signed)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-seal-level"] == "PAdES-B-T"
    sealed = r.content
    assert sealed.startswith(signed)  # an incremental update: the person's bytes untouched
    assert r.headers["x-sha256-out"] == hashlib.sha256(sealed).hexdigest()

    verdict = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(check_revocation=False))).verify(
        sealed
    )
    person, agency = verdict.signatures
    assert (person.signer_class, agency.signer_class) == (SignerClass.PERSON, SignerClass.AGENCY)
    assert agency.revision > person.revision
    assert person.bottom_line, verdict.to_dict("en")
    assert agency.bottom_line, verdict.to_dict("en")
    assert agency.level == "PAdES-B-T"
    assert agency.timestamp_ok
    assert agency.signer is not None
    assert agency.signer.subject == pki.agency.cert.subject.rfc4514_string()
    assert not verdict.nd30_warnings

    blocks = re.split(r"^Signature #\d+:", run_pdfsig(sealed), flags=re.M)[1:]
    assert len(blocks) == 2
    for block in blocks:
        assert "Signature Validation: Signature is Valid." in block

    (row,) = _audit(hub)
    assert (row.actor, row.subject, row.outcome) == (f"system:{SEALER}", AGENCY_CODE, "ok")
    assert row.details["sha256_in"] == hashlib.sha256(signed).hexdigest()
    assert row.details["sha256_out"] == hashlib.sha256(sealed).hexdigest()
    assert row.details["level"] == "PAdES-B-T"


def test_a_system_may_not_seal_for_an_agency_it_does_not_host(
    client: TestClient, hub: Hub, pki: TestPki
) -> None:
    refused = _seal(client, _person_signed(pki), system=OTHER, secret=OTHER_SECRET)
    message = _error(refused, 403, "seal.not_hosted")
    assert AGENCY_CODE in message
    (row,) = _audit(hub)
    assert (row.actor, row.outcome) == (f"system:{OTHER}", "seal.not_hosted")


def test_an_agency_without_a_key_is_404(client: TestClient, hub: Hub, pki: TestPki) -> None:
    refused = _seal(
        client, _person_signed(pki), agency="000.00.02.H41", system=OTHER, secret=OTHER_SECRET
    )
    _error(refused, 404, "seal.no_key")


def test_a_pdf_without_the_persons_signature_is_refused(client: TestClient, hub: Hub) -> None:
    _error(_seal(client, make_pdf(1)), 422, "seal.no_person_signature")
    (row,) = _audit(hub)
    assert row.outcome == "seal.no_person_signature"
    assert "sha256_out" not in row.details


def test_a_tampered_person_signature_is_refused(client: TestClient, pki: TestPki) -> None:
    tampered = _person_signed(pki).replace(b"Van ban thu nghiem", b"Van ban THU NGHIEM", 1)
    _error(_seal(client, tampered), 422, "seal.person_signature_invalid")


def test_a_person_signature_that_cannot_be_trusted_is_indeterminate(
    client: TestClient, pki: TestPki
) -> None:
    # Intact and valid, but made with a certificate that had already expired.
    expired = PdfSigningService(signer_for(pki.expired, [pki.sub_ca.cert]))
    pdf = expired.sign(make_pdf(1), SignRequest(SignatureRole.PERSON, box=BOX))
    message = _error(_seal(client, pdf), 422, "seal.person_signature_indeterminate")
    assert "expired" in message or "hết hạn" in message or "expired" in message.lower()


def test_a_sealed_pdf_is_not_sealed_twice(client: TestClient, pki: TestPki) -> None:
    first = _seal(client, _person_signed(pki))
    assert first.status_code == 200, first.text
    _error(_seal(client, first.content), 409, "seal.already_sealed")


def test_bytes_that_are_no_pdf_are_refused(client: TestClient) -> None:
    _error(_seal(client, b"not a pdf at all"), 422, "seal.unreadable")


def test_the_hub_serves_the_seal_its_settings_configure(
    tmp_path: Path, pki: TestPki, key_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The composition root: ``seal.keys`` with a PKCS#12 file key, its password from the
    variable the entry names, no TSA → PAdES B-B through ``Hub.app()``; the person's
    signature checked against the configured anchors and CRL (revocation is required)."""
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(
        'hub:\n  organ_id: "000.00.00.H41"\n  scope: ["H41", "H99"]\n'
        f"signatures:\n  trust_anchors: [{key_files['anchors.pem']}]\n"
        # the sub-CA is checked against the root's CRL too (intermediates' revocation)
        f"  crl_files: [{key_files['sub-ca.crl']}, {key_files['root.crl']}]\n"
        f'seal:\n  keys:\n    "{AGENCY_CODE}":\n'
        f"      key: file:{key_files['agency.p12']}\n"
        f"      pin_env: {PIN_VAR}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(PIN_VAR, KEY_PASSWORD)
    hub = build_hub(
        load_settings(settings_file, env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")}),
        verifier=NullVerifier(),
        links={},
    )
    try:
        hub.services.systems.add(SEALER, [AGENCY_CODE], secret=SEALER_SECRET)
        with TestClient(hub.app()) as client:
            r = _seal(client, _person_signed(pki))
        assert r.status_code == 200, r.text
        assert r.headers["x-seal-level"] == "PAdES-B-B"
        assert [row.outcome for row in _audit(hub)] == ["ok"]
    finally:
        hub.close()


def test_openapi_documents_the_raw_pdf_body_and_the_refusals(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    op = spec["paths"]["/api/v1/sign/seal"]["post"]
    assert list(op["requestBody"]["content"]) == ["application/pdf"]
    assert "application/pdf" in op["responses"]["200"]["content"]
    assert {"403", "404", "409", "422"} <= set(op["responses"])
    assert [p["name"] for p in op["parameters"]] == ["agency"]
