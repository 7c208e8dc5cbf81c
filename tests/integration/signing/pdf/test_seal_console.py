"""The clerks' seal page (``/dashboard/seal``) through the ASGI app of a hub on SQLite: a PDF
the person signed is uploaded as a form, sealed with the agency's key (a file key of the
generated PKI) and timestamped by the loopback TSA; the result verifies (both signatures
valid); refusals are shown with their reason and audited with the operator. A clerk logs in
with its password and seals only for its own agencies: another agency's code, even forged into
the form, is refused, audited with the account and reported as a security event."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.http.admin_access import SESSION_COOKIE
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
OWN, OTHER = "000.00.02.H41", "000.00.03.H41"  # two agencies of the registry with a seal key
PASSWORD = "van-thu-so-noi-vu-7"


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


@pytest.fixture
def clerks(
    hub: Hub,
    trust_store: TrustStore,
    tsa_server: TsaServer,
    key_files: dict[str, Path],
) -> Iterator[TestClient]:
    """A console with named accounts: a clerk of ``OWN``, a clerk of no agency, an admin; seal
    keys for ``OWN`` and ``OTHER`` (the same test key: the page decides, not the key)."""
    verifier = PdfVerifier(TrustEvaluator(trust_store, TrustPolicy(check_revocation=False)))
    keys = [SealKeyConfig(c, f"file:{key_files['agency.pem']}") for c in (OWN, OTHER)]
    service = build_seal_service(hub.uow, keys, verifier, tsa_url=tsa_server.url)
    accounts = hub.accounts()
    accounts.add("van.thu", "clerk", PASSWORD, actor="cli", agencies=[OWN])
    accounts.add("thu.ky", "clerk", PASSWORD, actor="cli")
    accounts.add("an", "admin", PASSWORD, actor="cli")
    app = create_app(hub.services, sealer=service)
    mount_dashboard(
        app, hub.monitor(), hub.broker, admin_token=None, sealer=service, accounts=accounts
    )
    with TestClient(app, client=LOOPBACK, follow_redirects=False) as c:
        yield c
    service.keys.close()


def _login(c: TestClient, name: str) -> None:
    c.cookies.clear()
    r = c.post(
        "/dashboard/login", data={"name": name, "password": PASSWORD}, headers={"Origin": ORIGIN}
    )
    assert r.status_code == 303
    assert c.cookies.get(SESSION_COOKIE)


def _offered(text: str) -> list[str]:
    return re.findall(r'<option value="([^"]+)">', text)


def test_a_clerk_seals_for_its_agency_and_is_refused_another_even_forged(
    clerks: TestClient, hub: Hub, pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    _login(clerks, "van.thu")
    home = clerks.get("/dashboard/")
    assert (home.status_code, home.headers["location"]) == (303, "/dashboard/seal")
    form = clerks.get("/dashboard/seal?lang=en")
    assert form.status_code == 200
    assert _offered(form.text) == [OWN]
    signed = _person_signed(pki)
    sealed = _post(clerks, signed, OWN, _csrf(form.text))
    assert sealed.status_code == 200, sealed.text
    assert sealed.headers["content-type"] == "application/pdf"
    assert sealed.content.startswith(signed)

    with caplog.at_level(logging.INFO, logger="lienthong.security"):
        forged = _post(clerks, signed, OTHER, _csrf(form.text))
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("text/html")
    assert f"van.thu may not seal for agency {OTHER}" in forged.text
    assert _offered(forged.text) == [OWN]  # the form again, still only its own agency
    [event] = [json.loads(r.getMessage()) for r in caplog.records]
    assert (event["event"], event["category"]) == ("seal_refused", "access_refused")
    assert (event["actor"], event["agency"]) == ("van.thu", OTHER)
    assert PASSWORD not in caplog.text

    with hub.uow() as uow:
        rows = uow.audit.recent(action=AUDIT_ACTION)
    assert sorted((r.actor, r.subject, r.outcome) for r in rows) == [
        ("van.thu", OWN, "ok"),
        ("van.thu", OTHER, "seal.not_hosted"),
    ]


def test_an_admin_seals_for_every_agency_with_a_key_and_a_clerk_of_none_for_nothing(
    clerks: TestClient, hub: Hub, pki: TestPki
) -> None:
    _login(clerks, "an")
    form = clerks.get("/dashboard/seal?lang=en")
    assert _offered(form.text) == [OWN, OTHER]
    assert _post(clerks, _person_signed(pki), OTHER, _csrf(form.text)).status_code == 200

    _login(clerks, "thu.ky")
    none = clerks.get("/dashboard/seal?lang=en")
    assert none.status_code == 200
    assert "Your account is given no agency, so it may seal nothing." in none.text
    assert 'name="pdf"' not in none.text
    refused = _post(clerks, _person_signed(pki), OWN, _csrf(none.text))
    assert refused.status_code == 403
    with hub.uow() as uow:
        outcomes = {(r.actor, r.subject, r.outcome) for r in uow.audit.recent(action=AUDIT_ACTION)}
    assert outcomes == {("an", OTHER, "ok"), ("thu.ky", OWN, "seal.not_hosted")}

    hub.accounts().set_agencies("thu.ky", ["000.00.04.H41"], actor="an")  # an agency, no key
    no_key = clerks.get("/dashboard/seal?lang=en")
    assert "No seal key is configured for your agencies (000.00.04.H41)." in no_key.text


def test_a_clerk_sees_only_the_seal_page_and_is_refused_the_rest(clerks: TestClient) -> None:
    _login(clerks, "van.thu")
    page = clerks.get("/dashboard/seal?lang=en").text
    menu = re.findall(r'<a href="(/dashboard/[^"?]*)"', page.split("</header>")[0])
    assert menu == ["/dashboard/seal", "/dashboard/account"]  # its one page, its own account
    for path in ("/dashboard/deliveries?state=dead", "/dashboard/log", "/dashboard/users"):
        assert clerks.get(path).status_code == 403, path
    _login(clerks, "an")
    admin_menu = clerks.get("/dashboard/seal").text.split("</header>")[0]
    assert 'href="/dashboard/users"' in admin_menu
    assert 'href="/dashboard/"' in admin_menu
