"""Browser fixtures for the console: Playwright drives Debian's Chromium (``/usr/bin/chromium``,
installed by ``scripts/services``; Playwright's own browser download is not used) against a real
``lienthong run`` process on the embedded defaults, on a free loopback port with its own data
dir and the loopback-without-login mode OFF, so every page needs a login as in production.

* :func:`console` — a started hub with one account per role (``PEOPLE``);
  :func:`console_factory` starts more with other ``admin.*`` settings (short sessions, a low
  throttle).
* :func:`browser` — headless Chromium for the module; :func:`page` — a fresh context per test.
* :func:`shot` — a screenshot under ``test-artifacts/`` (git-ignored), named after the test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import (
    AGENCY_A,
    ROOT,
    SECRET_A,
    SYSTEM_A,
    UNKNOWN_AGENCY,
    HubProcess,
    HubSite,
    _site_env,
    edoc_for,
)
from playwright.sync_api import Browser, Page, expect, sync_playwright

from adapters.vxp_client import VxpClient
from hub.entrypoints.bootstrap import build_hub
from hub.settings import load_settings

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
PEOPLE = {
    "oanh": ("operator", "mat-khau-van-hanh-1"),
    "an": ("admin", "mat-khau-quan-tri-2"),
    "kiem": ("auditor", "mat-khau-kiem-toan-3"),
}

ConsoleFactory = Callable[..., HubProcess]


def _settings_file(
    path: Path, admin: dict[str, Any], sections: dict[str, Any] | None = None
) -> Path:
    raw = yaml.safe_load((ROOT / "config" / "settings.yaml").read_text(encoding="utf-8"))
    for name, values in (sections or {}).items():
        raw[name] = {**(raw.get(name) or {}), **values}
    raw["admin"] = {**(raw.get("admin") or {}), "loopback_without_login": False, **admin}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def add_people(site: HubSite) -> None:
    """The accounts of :data:`PEOPLE`, written to the site's database before it starts (in this
    process: ``lienthong users add`` itself is tested in ``tests/integration/test_cli_users.py``).
    """
    hub = build_hub(load_settings(site.env["LIENTHONG_SETTINGS"], env=site.env))
    try:
        accounts = hub.accounts()
        for name, (role, password) in PEOPLE.items():
            accounts.add(name, role, password, actor="cli")
    finally:
        hub.close()


@pytest.fixture(scope="module")
def console_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleFactory]:
    sites: list[HubSite] = []

    def start(sections: dict[str, Any] | None = None, **admin: Any) -> HubProcess:
        """A hub with ``admin.*`` settings ``admin`` and other settings ``sections``
        (``{"seal": {...}}``), merged into the shipped settings file."""
        data_dir = tmp_path_factory.mktemp("console")
        env = _site_env(data_dir, None, "embedded")
        settings = _settings_file(data_dir / "settings.yaml", admin, sections)
        env["LIENTHONG_SETTINGS"] = str(settings)
        env["LIENTHONG_LOOPBACK_LOGIN"] = "false"  # every page asks for a login
        site = HubSite("sqlite", data_dir, env)
        sites.append(site)
        add_people(site)
        proc = site.start("run")
        proc.site = site  # type: ignore[attr-defined]
        return proc

    yield start
    stuck = [p for s in sites for p in s.stop_all()]
    assert not stuck, [p.log()[-2000:] for p in stuck]


@pytest.fixture(scope="module")
def console(console_factory: ConsoleFactory) -> HubProcess:
    return console_factory()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # A login checks an argon2id hash (≈ 0.5 s on a loaded core): assertions wait longer than
    # Playwright's 5 s default before they fail.
    expect.set_options(timeout=20_000)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="vi-VN")
    p = context.new_page()
    p.set_default_timeout(15_000)
    yield p
    context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(p: Page, step: str) -> Path:
        path = ARTIFACTS / f"{stem}-{step}.png"
        p.screenshot(path=str(path), full_page=True)
        return path

    return take


def log_in(p: Page, base: str, name: str, password: str) -> None:
    """Fill and send the login form as a person would."""
    p.goto(f"{base}/dashboard/login?lang=en")
    p.get_by_label("Account name").fill(name)
    p.get_by_label("Password").fill(password)
    p.get_by_role("button", name="Log in").click()
    p.wait_for_load_state()


def undeliverable(console: HubProcess) -> str:
    """Push a document through the VXP façade to an agency nobody hosts; its delivery ends
    ``undeliverable``. Returns its DocId."""
    site = console.site  # type: ignore[attr-defined]
    if not getattr(site, "has_system_a", False):
        site.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        site.has_system_a = True
    _, data = edoc_for(AGENCY_A, [UNKNOWN_AGENCY])
    client = VxpClient(console.url + "/", SYSTEM_A, SECRET_A)
    try:
        doc_id = client.send_edoc(data, from_code=AGENCY_A, to_codes=[UNKNOWN_AGENCY])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            (row,) = client.get_sent_edoc_list(doc_id)
            if row["sendStatus"] == "undeliverable":
                return doc_id
            time.sleep(0.2)
    finally:
        client.close()
    raise AssertionError(f"{doc_id} did not become undeliverable")
