"""The console's pages at work in a real browser (headless Debian Chromium via Playwright)
against a real ``lienthong run`` fed through its VXP façade: the overview's live part updating
without a reload, the message log's filters and its CSV, redriving and discarding dead letters
(seen in the audit log by the operator's name), the language switch, and the controls each role
is shown. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browser import PEOPLE, browser, console, console_factory, log_in, page, shot, undeliverable
from e2e_support import (
    AGENCY_A,
    SECRET_A,
    SYSTEM_A,
    UNKNOWN_AGENCY,
    HubProcess,
    HubSite,
    drain,
    edoc_for,
    make_site,
    parent_env,
    wait_for,
)
from playwright.sync_api import Browser, Locator, Page, expect

from hub.edxml.model import MessageKind
from tests.factories import make_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["browser", "console", "console_factory", "page", "shot"]  # fixtures, used by name

Shot = Callable[[Page, str], Path]

G22 = "000.00.00.G22"
H41_ROOT = "000.00.00.H41"
VPCP, VPCP_SECRET = "qlvb.vpcp", "e2e-secret-of-the-ministry"
CHILD, CHILD_SECRET = "hub.h41", "e2e-secret-of-the-provincial-hub"


def _as(p: Page, console: HubProcess, name: str) -> None:
    log_in(p, console.url, name, PEOPLE[name][1])
    expect(p).to_have_url(f"{console.url}/dashboard/")


def _row(p: Page, doc_id: str) -> Locator:
    return p.locator(f'tr:has(code[title="{doc_id}"])')


def test_the_overview_updates_its_counts_without_a_reload(
    page: Page, console: HubProcess, shot: Shot
) -> None:
    undeliverable(console)
    _as(page, console, "oanh")
    page.goto(f"{console.url}/dashboard/?lang=en&refresh=2")
    expect(page.locator("#refreshed")).to_contain_text("2")
    count = page.locator('#live div.n[data-state="undeliverable"]')
    before = int(count.inner_text())
    assert before >= 1  # the push above, counted on first paint
    shot(page, "before")
    page.evaluate("window.__sameDocument = true")
    stamp = page.locator("#stamp").inner_text()
    undeliverable(console)
    undeliverable(console)
    # The overview is cached for a few seconds, then the next 2 s tick swaps the live part in.
    expect(count).to_have_text(str(before + 2), timeout=20_000)
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    assert page.locator("#stamp").inner_text() != stamp
    shot(page, "after")


def test_the_message_log_filters_and_its_csv_holds_the_same_rows(
    page: Page, console: HubProcess, shot: Shot
) -> None:
    first, second = undeliverable(console), undeliverable(console)
    _as(page, console, "oanh")
    page.goto(f"{console.url}/dashboard/log?lang=en")
    page.get_by_label("Sender (agency code / system)").fill(AGENCY_A)
    page.locator('select[name="state"]').select_option("undeliverable")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("main tbody tr")
    expect(_row(page, first)).to_have_count(1)
    expect(_row(page, second)).to_have_count(1)
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        assert cells.nth(5).inner_text() == AGENCY_A
        assert cells.nth(6).inner_text() == UNKNOWN_AGENCY
        assert cells.nth(8).locator("span.pill").get_attribute("title") == "undeliverable"
    shot(page, "sender-state")
    page.get_by_label("DocumentId / DocId").fill(first)
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(_row(page, first)).to_have_count(1)
    shot(page, "one-document")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    text = Path(download.value.path()).read_text("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert len(table) == 2, table  # the header and the one row shown
    assert first in table[1]
    assert AGENCY_A in table[1]
    assert second not in text


def test_dead_letters_are_redriven_and_discarded_with_a_reason_and_audited(
    page: Page, browser: Browser, console: HubProcess, shot: Shot
) -> None:
    again, drop = undeliverable(console), undeliverable(console)
    _as(page, console, "oanh")
    page.goto(f"{console.url}/dashboard/deliveries?state=undeliverable&lang=en")
    _row(page, again).get_by_role("button", name="Redrive").click()
    expect(page.locator("p.flash")).to_have_text("1 deliveries redriven.")
    shot(page, "redriven")
    # Still nobody hosts the agency, so it comes back to the list after a new attempt; its
    # history names the redrive and who did it.
    page.goto(f"{console.url}/dashboard/documents/{again}?lang=en")
    expect(page.locator("tr", has_text="redrive by oanh").first).to_contain_text("queued")
    page.goto(f"{console.url}/dashboard/deliveries?state=undeliverable&lang=en")

    _row(page, drop).locator('input[type="checkbox"]').check()
    reason = page.get_by_label("Reason to discard (required)")
    page.get_by_role("button", name="Discard selected").click()
    assert reason.evaluate("el => el.validity.valueMissing")  # the browser asks for it first
    reason.fill("   ")  # blank: past the browser, refused by the server with the message
    page.get_by_role("button", name="Discard selected").click()
    expect(page.locator("p.error")).to_have_text(
        "A reason is required to discard; nothing was discarded."
    )
    shot(page, "no-reason")
    page.goto(f"{console.url}/dashboard/deliveries?state=undeliverable&lang=en")
    expect(_row(page, drop)).to_have_count(1)  # nothing was discarded
    _row(page, drop).locator('input[type="checkbox"]').check()
    page.get_by_label("Reason to discard (required)").fill("Gửi nhầm nơi nhận")
    page.get_by_role("button", name="Discard selected").click()
    expect(page.locator("p.flash")).to_have_text("1 deliveries discarded.")
    expect(_row(page, drop)).to_have_count(0)  # it left the list
    shot(page, "discarded")

    auditor = browser.new_context(locale="vi-VN").new_page()
    try:
        _as(auditor, console, "kiem")
        auditor.goto(f"{console.url}/dashboard/audit?actor=oanh&lang=en")
        redrive = auditor.locator("tr", has_text="delivery.redrive")
        discard = auditor.locator("tr", has_text="delivery.discard")
        expect(redrive.first).to_contain_text("oanh")
        expect(discard.first).to_contain_text("oanh")
        expect(discard.first).to_contain_text("Gửi nhầm nơi nhận")
        shot(auditor, "audit")
    finally:
        auditor.context.close()


def test_vietnamese_by_default_english_after_the_switch_remembered_across_pages(
    page: Page, console: HubProcess, shot: Shot
) -> None:
    page.goto(f"{console.url}/dashboard/login")  # no language asked: Vietnamese
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.locator('input[name="name"]').fill("kiem")
    page.locator('input[name="password"]').fill(PEOPLE["kiem"][1])
    page.locator('input[name="password"]').press("Enter")
    expect(page).to_have_url(f"{console.url}/dashboard/")
    expect(page.get_by_role("heading", name="Tổng quan")).to_be_visible()
    shot(page, "vi")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="Message log").click()  # no lang in this link: remembered
    expect(page.get_by_role("heading", name="Message log")).to_be_visible()
    page.goto(f"{console.url}/dashboard/systems")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "en")
    page.get_by_role("link", name="Tiếng Việt").click()
    page.goto(f"{console.url}/dashboard/log")
    expect(page.get_by_role("heading", name="Nhật ký văn bản")).to_be_visible()
    shot(page, "vi-again")


@pytest.mark.parametrize(("name", "shown"), [("oanh", 1), ("kiem", 0)])
def test_the_redrive_button_is_shown_only_to_a_role_that_may_redrive(
    page: Page, console: HubProcess, shot: Shot, name: str, shown: int
) -> None:
    doc_id = undeliverable(console)
    _as(page, console, name)
    page.goto(f"{console.url}/dashboard/deliveries?state=undeliverable&lang=en")
    row = _row(page, doc_id)
    expect(row).to_have_count(1)
    expect(row.get_by_role("button", name="Redrive")).to_have_count(shown)
    page.goto(f"{console.url}/dashboard/documents/{doc_id}?lang=en")
    # the operator may not download nor export evidence; the auditor may both
    expect(page.get_by_role("link", name="Delivery evidence")).to_have_count(1 - shown)
    shot(page, "document")


@pytest.fixture(scope="module")
def two_hubs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HubSite, HubSite]]:
    """A national axis (G22, hosting a ministry's QLVB) and a provincial hub below it whose
    commune system writes to the ministry; the province's console is read from loopback."""
    with (
        make_site(request, "sqlite", tmp_path_factory.mktemp("axis")) as national,
        make_site(request, "sqlite", tmp_path_factory.mktemp("h41")) as province,
    ):
        national.env["LIENTHONG_ORGAN_ID"] = G22
        national.env["LIENTHONG_ROLE"] = "national"
        national.add_system(VPCP, [G22], VPCP_SECRET)
        national.add_system(CHILD, [H41_ROOT], CHILD_SECRET)
        parent = national.start("run")
        settings = province.data_dir / "settings.yaml"
        settings.write_text("hub: {organ_id: '000.00.00.H41', scope: [H41]}\n", encoding="utf-8")
        province.env["LIENTHONG_SETTINGS"] = str(settings)
        province.env.update(parent_env(parent.url + "/", CHILD, CHILD_SECRET))
        province.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        province.start("run")

        def registered() -> list[str]:
            systems = json.loads(national.cli("systems", "list", "--json").stdout)
            hosted = next(s["agencies"] for s in systems if s["system_id"] == CHILD)
            return [c for c in hosted if c == AGENCY_A]

        wait_for(registered, what="the commune registered at the axis", timeout=60)
        yield national, province


def test_the_document_page_shows_the_hop_to_the_axis_and_what_came_back(
    page: Page, two_hubs: tuple[HubSite, HubSite], shot: Shot
) -> None:
    national, province = two_hubs
    axis, hub = national.processes[0], province.processes[0]
    package, data = edoc_for(AGENCY_A, [G22])
    with (
        province.client(SYSTEM_A, SECRET_A, hub) as commune,
        national.client(VPCP, VPCP_SECRET, axis) as ministry,
    ):
        doc_id = commune.send_edoc(data, from_code=AGENCY_A, to_codes=[G22])
        drain(ministry, expect=1, timeout=30)
        wait_for(
            lambda: [r for r in commune.get_sent_edoc_list(doc_id) if r["sendStatus"] == "done"],
            what="the remote state 'done' on the provincial hub",
            timeout=30,
        )
        answer = make_status(
            sender=G22, response_to=AGENCY_A, document_id=package.document_id, status_code="05"
        )
        ministry.send_edoc(answer, from_code=G22, kind=MessageKind.STATUS)
        drain(commune, expect=1, kind=MessageKind.STATUS, timeout=30)

    page.goto(f"{hub.url}/dashboard/documents/{doc_id}?lang=en")
    expect(page.get_by_role("heading", name="Timeline across hops")).to_be_visible()
    timeline = page.locator("table", has=page.locator("th", has_text="Details")).first
    hop = timeline.locator("tr", has_text="national:")  # the hop: forwarded to the axis
    expect(hop.first).to_contain_text("forwarded")
    remote = timeline.locator("tr", has_text="Remote state")
    expect(remote.first).to_contain_text("done")
    expect(remote.first).to_contain_text(G22)
    expect(timeline.locator("tr", has_text="Business status").first).to_contain_text("05")
    delivery = page.locator("p.muted", has_text="Business status")
    expect(delivery.first).to_contain_text("05")  # the status the ministry sent back
    expect(page.locator("h2", has_text=G22).first).to_be_visible()
    shot(page, "timeline")
