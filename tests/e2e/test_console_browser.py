"""The console's people and access in a real browser (headless Debian Chromium via Playwright)
against a real ``lienthong run``: login per role, wrong passwords refused then throttled, what
each role may and may not do, logout ending the session, an expired session sent to the login
page, a form post without its CSRF token refused. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from browser import (
    PEOPLE,
    ConsoleFactory,
    browser,
    console,
    console_factory,
    log_in,
    page,
    shot,
    undeliverable,
)
from e2e_support import HubProcess
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["browser", "console", "console_factory", "page", "shot"]  # fixtures, used by name

Shot = Callable[[Page, str], Path]


def _as(p: Page, console: HubProcess, name: str) -> None:
    log_in(p, console.url, name, PEOPLE[name][1])
    expect(p).to_have_url(f"{console.url}/dashboard/")


def _open_undeliverable(p: Page, console: HubProcess, doc_id: str) -> None:
    p.goto(f"{console.url}/dashboard/deliveries?state=undeliverable&lang=en")
    expect(p.locator(f'tr:has(code[title="{doc_id}"])')).to_have_count(1)


@pytest.mark.parametrize("name", list(PEOPLE))
def test_each_role_logs_in_and_sees_the_overview(
    page: Page, console: HubProcess, shot: Shot, name: str
) -> None:
    page.goto(f"{console.url}/dashboard/")
    expect(page).to_have_url(f"{console.url}/dashboard/login")  # nobody is let in unasked
    shot(page, "login")
    _as(page, console, name)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    shot(page, "overview")


def test_wrong_passwords_are_refused_then_throttled(
    page: Page, console_factory: ConsoleFactory, shot: Shot
) -> None:
    hub = console_factory(login_max_failures=3, login_lock_s=60)
    for _ in range(3):
        log_in(page, hub.url, "oanh", "not-the-password")
        expect(page.get_by_role("alert")).to_have_text("Wrong account name or password.")
    shot(page, "refused")
    log_in(page, hub.url, "oanh", PEOPLE["oanh"][1])  # the right password, but locked now
    expect(page.get_by_role("alert")).to_contain_text("Too many failed logins")
    expect(page).to_have_url(re.compile(r".*/dashboard/login\?wait=(59|60)$"))
    shot(page, "throttled")
    events = (hub.site.data_dir / "security.jsonl").read_text("utf-8")  # type: ignore[attr-defined]
    assert events.count('"event": "login_failed"') == 3
    assert '"event": "login_throttled"' in events
    assert PEOPLE["oanh"][1] not in events
    assert "not-the-password" not in events


def test_operator_redrives_but_may_not_open_the_accounts_page(
    page: Page, console: HubProcess, shot: Shot
) -> None:
    doc_id = undeliverable(console)
    _as(page, console, "oanh")
    _open_undeliverable(page, console, doc_id)
    expect(page.get_by_role("link", name="Accounts")).to_have_count(0)  # not in the menu
    row = page.locator(f'tr:has(code[title="{doc_id}"])')
    row.get_by_role("button", name="Redrive").click()
    expect(page.locator("p.flash")).to_have_text("1 deliveries redriven.")
    shot(page, "redriven")
    page.goto(f"{console.url}/dashboard/users?lang=en")
    expect(page.get_by_role("alert")).to_contain_text("may not do this")
    shot(page, "users-refused")
    page.goto(f"{console.url}/dashboard/audit")
    expect(page.get_by_role("alert")).to_be_visible()  # the audit log is the auditor's


def test_auditor_may_not_redrive_but_reads_the_audit_log(
    page: Page, console: HubProcess, shot: Shot
) -> None:
    doc_id = undeliverable(console)
    _as(page, console, "kiem")
    _open_undeliverable(page, console, doc_id)
    row = page.locator(f'tr:has(code[title="{doc_id}"])')
    expect(row.get_by_role("button", name="Redrive")).to_have_count(0)  # not offered
    expect(page.get_by_role("button", name="Discard selected")).to_have_count(0)
    shot(page, "no-redrive-button")
    # The server refuses it all the same when it is posted by hand.
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    delivery = row.locator("td").nth(1).locator("code").get_attribute("title")
    assert token
    assert delivery
    refused = page.request.post(
        f"{console.url}/dashboard/redrive",
        form={"id": delivery, "csrf": token, "back": "undeliverable"},
        headers={"Origin": console.url},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "may not do this" in refused.text()
    _open_undeliverable(page, console, doc_id)  # still there: nothing was moved
    page.goto(f"{console.url}/dashboard/audit?actor=kiem&lang=en")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("tr", has_text="dashboard.login").first).to_be_visible()  # by name
    shot(page, "audit")


def test_admin_adds_an_account_from_the_page_and_disables_it(
    page: Page, browser: object, console: HubProcess, shot: Shot
) -> None:
    _as(page, console, "an")
    page.goto(f"{console.url}/dashboard/?lang=en")
    page.get_by_role("link", name="Accounts").click()  # the admin's menu has the page
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    form = page.locator("form", has=page.locator('input[name="do"][value="add"]'))
    form.get_by_label("Account name").fill("moi.nguoi")
    form.get_by_label("Role").select_option("auditor")
    form.get_by_label("Password").fill("mot-mat-khau-moi-4")
    form.get_by_role("button", name="Add account").click()
    expect(page.locator("p.flash")).to_have_text("Saved.")
    expect(page.locator("tr", has_text="moi.nguoi")).to_contain_text("auditor")
    shot(page, "added")
    other = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        newcomer = other.new_page()
        log_in(newcomer, console.url, "moi.nguoi", "mot-mat-khau-moi-4")
        expect(newcomer).to_have_url(f"{console.url}/dashboard/")
        # Disabling the account ends the session it has open.
        page.locator("tr", has_text="moi.nguoi").get_by_role("button", name="Disable").click()
        expect(page.locator("tr", has_text="moi.nguoi")).to_contain_text("disabled")
        newcomer.goto(f"{console.url}/dashboard/systems")
        expect(newcomer).to_have_url(f"{console.url}/dashboard/login")
        shot(page, "disabled")
    finally:
        other.close()


def test_logout_ends_the_session_even_for_a_copied_cookie(
    page: Page, console: HubProcess, shot: Shot
) -> None:
    _as(page, console, "oanh")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "lienthong_admin"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{console.url}/dashboard/login")
    shot(page, "logged-out")
    replay = httpx.get(
        f"{console.url}/dashboard/",
        cookies={"lienthong_admin": cookie["value"]},
        follow_redirects=False,
    )
    assert (replay.status_code, replay.headers["location"]) == (303, "/dashboard/login")


def test_an_expired_session_is_sent_to_the_login_page(
    page: Page, console_factory: ConsoleFactory, shot: Shot
) -> None:
    hub = console_factory(session_max_s=4)
    log_in(page, hub.url, "kiem", PEOPLE["kiem"][1])
    expect(page).to_have_url(f"{hub.url}/dashboard/")
    time.sleep(4 + 5 + 0.5)  # the absolute limit, plus the process' session cache
    page.goto(f"{hub.url}/dashboard/systems")
    expect(page).to_have_url(f"{hub.url}/dashboard/login")
    shot(page, "expired")


def test_a_form_post_without_its_csrf_token_is_refused(
    page: Page, console: HubProcess, shot: Shot
) -> None:
    _as(page, console, "an")
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    assert token
    origin = {"Origin": console.url}
    add = {"do": "add", "name": "ke.gian", "role": "admin", "password": "mat-khau-ke-gian-5"}
    bare = page.request.post(
        f"{console.url}/dashboard/users", form=add, headers=origin, max_redirects=0
    )
    forged = page.request.post(
        f"{console.url}/dashboard/users",
        form={**add, "csrf": token},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )
    assert (bare.status, forged.status) == (403, 403)
    page.goto(f"{console.url}/dashboard/users?lang=en")
    expect(page.locator("tr", has_text="ke.gian")).to_have_count(0)
    shot(page, "no-account-added")
