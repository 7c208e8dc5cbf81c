"""The clerks' seal page (``/dashboard/seal``) through the ASGI app of a hub on SQLite: a PDF
the person signed is uploaded as a form, sealed with the agency's key (a file key of the
generated PKI) and timestamped by the loopback TSA; the result verifies (both signatures
valid); refusals are shown with their reason and audited with the operator."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.http.app import create_app
from adapters.http.console import mount_dashboard
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.entrypoints.seal import build_seal_service
from hub.ports import NullVerifier
from hub.settings import load_settings
from signing.nd30 import SignerClass
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier
from signing.seal_service import AUDIT_ACTION, SealKeyConfig, SealService
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from tests.pki import AGENCY_CODE, TestPki
from tests.tsa import TsaServer
from tests.unit.signing.pdf.pdfkit import make_pdf, seal_png, signature_png, signer_for

ORIGIN = "http://testserver"
LOOPBACK = ("127.0.0.1", 50126)
BOX = Box(330, 150, 510, 215)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    h = build_hub(
        load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")}),
        verifier=NullVerifier(),
        links={},
    )
    yield h
    h.close()


@pytest.fixture
def sealer(
    hub: Hub,
    trust_store: TrustStore,
    tmp_path: Path,
    tsa_server: TsaServer,
    key_files: dict[str, Path],
) -> Iterator[SealService]:
    image = tmp_path / "seal.png"
    image.write_bytes(seal_png())
    verifier = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(check_revocation=False)))
    key = SealKeyConfig(AGENCY_CODE, f"file:{key_files['agency.pem']}", seal_image=image)
    service = build_seal_service(hub.uow, [key], verifier, tsa_url=tsa_server.url)
    yield service
    service.keys.close()


@pytest.fixture
def client(hub: Hub, sealer: SealService) -> Iterator[TestClient]:
    app = create_app(hub.services, sealer=sealer)
    mount_dashboard(app, hub.monitor(), hub.broker, admin_token=None, sealer=sealer)
    with TestClient(app, client=LOOPBACK, follow_redirects=False) as c:
        yield c


def _person_signed(pki: TestPki) -> bytes:
    person = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))
    return person.sign(
        make_pdf(1, pad_to=20_000),
        SignRequest(SignatureRole.PERSON, box=BOX, image=signature_png()),
    )


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', text)
    assert found is not None
    return found.group(1)


def _post(c: TestClient, pdf: bytes, agency: str, csrf: str, lang: str = "en") -> httpx.Response:
    return c.post(
        f"/dashboard/seal?lang={lang}",
        data={"csrf": csrf, "agency": agency},
        files={"pdf": ("công văn.pdf", pdf, "application/pdf")},
        headers={"Origin": ORIGIN},
    )


def test_the_seal_page_returns_a_sealed_pdf_that_verifies(
    client: TestClient, hub: Hub, pki: TestPki, trust_store: TrustStore
) -> None:
    form = client.get("/dashboard/seal?lang=en")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    assert f'<option value="{AGENCY_CODE}">' in form.text
    signed = _person_signed(pki)
    r = _post(client, signed, AGENCY_CODE, _csrf(form.text))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    sealed = r.content
    assert sealed.startswith(signed)  # an incremental update: the person's bytes untouched
    verdict = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(check_revocation=False))).verify(
        sealed
    )
    person, agency = verdict.signatures
    assert (person.signer_class, agency.signer_class) == (SignerClass.PERSON, SignerClass.AGENCY)
    assert person.bottom_line, verdict.to_dict("en")
    assert agency.bottom_line, verdict.to_dict("en")
    assert agency.level == "PAdES-B-T"
    with hub.uow() as uow:
        (row,) = uow.audit.recent(action=AUDIT_ACTION)
    assert (row.actor, row.subject, row.outcome) == ("loopback@127.0.0.1", AGENCY_CODE, "ok")


def test_refusals_are_shown_with_their_reason_and_audited(
    client: TestClient, hub: Hub, pki: TestPki
) -> None:
    csrf = _csrf(client.get("/dashboard/seal").text)
    unsigned = _post(client, make_pdf(1, pad_to=5_000), AGENCY_CODE, csrf)
    assert unsigned.status_code == 422
    assert "Not sealed:" in unsigned.text
    assert 'role="alert"' in unsigned.text
    vi = _post(client, make_pdf(1, pad_to=5_000), AGENCY_CODE, csrf, lang="vi")
    assert "Không đóng dấu được:" in vi.text
    other = _post(client, _person_signed(pki), "000.00.99.H41", csrf)
    assert other.status_code == 403
    assert "000.00.99.H41" in other.text
    forged = client.post(
        "/dashboard/seal",
        data={"csrf": "0" * 64, "agency": AGENCY_CODE},
        files={"pdf": ("a.pdf", b"%PDF-1.7", "application/pdf")},
        headers={"Origin": ORIGIN},
    )
    assert forged.status_code == 403
    not_multipart = client.post(
        "/dashboard/seal", data={"csrf": csrf, "agency": AGENCY_CODE}, headers={"Origin": ORIGIN}
    )
    assert not_multipart.status_code == 400
    with hub.uow() as uow:
        outcomes = [(r.actor, r.outcome) for r in uow.audit.recent(action=AUDIT_ACTION)]
    assert ("loopback@127.0.0.1", "seal.not_hosted") in outcomes
    assert sum(1 for _a, o in outcomes if o.startswith("seal.no_person")) == 2
