"""A clerk seals a document through the console in Chromium (Playwright + Debian's Chromium)
against a real ``lienthong run``: two agencies have a seal key (``seal.keys``, a file key of
the generated PKI), the person's signature is checked against the PKI's anchors and CRLs, and
the clerk is given one of the two agencies.

The clerk logs in, lands on the seal page (its whole menu), picks the PDF the competent person
signed, and downloads the sealed PDF, which then verifies with both signatures. A form whose
agency list was edited in the page (the other agency, forged) is refused by the server with the
reason, and the attempt is audited under the clerk's name."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from browser import browser, console_factory, log_in, page, shot
from e2e_support import HubProcess
from playwright.sync_api import Page, expect

from hub.entrypoints.bootstrap import build_hub
from hub.settings import load_settings
from signing.nd30 import SignerClass
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from tests.pki import build_pki, write_key_files
from tests.unit.signing.pdf.pdfkit import make_pdf, signature_png, signer_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["browser", "console_factory", "page", "shot"]  # fixtures, used by name

OWN, OTHER = "000.00.02.H41", "000.00.03.H41"
CLERK, PASSWORD = "van.thu", "mat-khau-van-thu-4"
T = TypeVar("T")


def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Playwright's sync API keeps an event loop running on this thread; signing and verifying
    run their own, so they run on another thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture(scope="module")
def sealing(
    console_factory: Callable[..., HubProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[HubProcess, bytes, TrustStore]:
    """The hub with two seal keys and a clerk of ``OWN``; a PDF the person signed; the anchors."""
    pki = build_pki()
    keys = write_key_files(pki, tmp_path_factory.mktemp("keys"))
    sections = {
        "signatures": {
            "trust_anchors": [str(keys["anchors.pem"])],
            "crl_files": [str(keys["sub-ca.crl"]), str(keys["root.crl"])],
        },
        "seal": {"keys": {code: {"key": f"file:{keys['agency.pem']}"} for code in (OWN, OTHER)}},
    }
    hub = console_factory(sections)
    site = hub.site  # type: ignore[attr-defined]
    built = build_hub(load_settings(site.env["LIENTHONG_SETTINGS"], env=site.env))
    try:
        built.accounts().add(CLERK, "clerk", PASSWORD, actor="cli", agencies=[OWN])
    finally:
        built.close()
    person = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))
    request = SignRequest(SignatureRole.PERSON, box=Box(330, 150, 510, 215), image=signature_png())
    signed = _off_loop(person.sign, make_pdf(1, pad_to=20_000), request)
    return hub, signed, TrustStore([pki.root.cert])


def test_a_clerk_seals_for_its_agency_and_downloads_the_sealed_pdf(
    page: Page,
    sealing: tuple[HubProcess, bytes, TrustStore],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    hub, signed, anchors = sealing
    log_in(page, hub.url, CLERK, PASSWORD)
    expect(page).to_have_url(f"{hub.url}/dashboard/seal")  # a clerk lands on its one page
    menu = page.locator("header a")
    expect(menu.filter(has_text="Overview")).to_have_count(0)
    expect(page.locator('select[name="agency"] option')).to_have_count(1)
    expect(page.locator('select[name="agency"] option')).to_have_attribute("value", OWN)
    source = tmp_path / "công văn.pdf"
    source.write_bytes(signed)
    page.locator('input[type="file"]').set_input_files(str(source))
    shot(page, "form")
    with page.expect_download() as download:
        page.get_by_role("button", name="Seal and download").click()
    target = tmp_path / "sealed.pdf"
    download.value.save_as(target)
    sealed = target.read_bytes()
    assert sealed.startswith(signed)  # an incremental update: the person's bytes untouched
    verifier = PdfVerifier(TrustEvaluator(anchors, TrustPolicy(check_revocation=False)))
    verdict = _off_loop(verifier.verify, sealed)
    person, agency = verdict.signatures
    assert (person.signer_class, agency.signer_class) == (SignerClass.PERSON, SignerClass.AGENCY)
    assert person.bottom_line, verdict.to_dict("en")
    assert agency.bottom_line, verdict.to_dict("en")


def test_a_forged_agency_is_refused_by_the_server_and_audited(
    page: Page,
    sealing: tuple[HubProcess, bytes, TrustStore],
    tmp_path: Path,
) -> None:
    hub, signed, _ = sealing
    log_in(page, hub.url, CLERK, PASSWORD)
    expect(page).to_have_url(f"{hub.url}/dashboard/seal")
    # What a clerk could do with the browser's developer tools: offer itself the other agency.
    page.locator('select[name="agency"]').evaluate(
        f"s => {{ s.add(new Option('{OTHER}', '{OTHER}')); s.value = '{OTHER}'; }}"
    )
    source = tmp_path / "forged.pdf"
    source.write_bytes(signed)
    page.locator('input[type="file"]').set_input_files(str(source))
    page.get_by_role("button", name="Seal and download").click()
    page.wait_for_load_state()
    expect(page.locator('[role="alert"]')).to_contain_text(OTHER)
    site = hub.site  # type: ignore[attr-defined]
    built = build_hub(load_settings(site.env["LIENTHONG_SETTINGS"], env=site.env))
    try:
        refused = [a for a in built.monitor().audit() if a.actor == CLERK and a.outcome != "ok"]
    finally:
        built.close()
    assert refused, "the forged seal request left no audit row under the clerk's name"
    assert "access_refused" in (site.data_dir / "security.jsonl").read_text(encoding="utf-8")
