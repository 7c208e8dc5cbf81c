"""The console's access rule as the pages use it (``AdminAccess.operator`` / ``may``), through a
whole hub's ASGI app on SQLite with named accounts: who a request acts as (a person's session,
the Bearer admin token, the loopback mode, nobody), what each role may do to a redrive, two
API processes sharing sessions, CSRF tokens and logouts through the database."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from adapters.http import admin_access
from adapters.http.admin_access import SESSION_COOKIE, Operator
from adapters.http.app import create_app
from adapters.http.console import mount_dashboard
from adapters.passwords import FAST, Argon2Hasher
from adapters.store.operators import SqlOperatorStore
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.ports import NullVerifier
from hub.services.accounts import AccountPolicy, Accounts
from hub.settings import ConsoleSettings, Secret, load_settings
from tests.factories import make_edoc

TOKEN = "tok-3f9a0c71"
ORIGIN = "http://testserver"
LOOPBACK = ("127.0.0.1", 50123)
REMOTE = ("192.0.2.10", 40000)
UNKNOWN_TO = "000.99.99.H41"
PEOPLE = {"oanh": "operator", "kiem": "auditor", "an": "admin"}
PASSWORD = "mat-khau-chung-9"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")})
    settings = dataclasses.replace(
        settings,
        admin_token=Secret(TOKEN),
        console=ConsoleSettings(loopback_without_login=False),
    )
    h = build_hub(settings, verifier=NullVerifier(), links={})
    h.services.systems.add("qlvb.ubnd", ["000.00.00.H41"], secret="ubnd-secret-0a9c")
    accounts = h.accounts()
    for name, role in PEOPLE.items():
        accounts.add(name, role, PASSWORD, actor="cli")
    yield h
    h.close()


def _process(hub: Hub) -> FastAPI:
    """One API process: its own app, access rule and session cache (none, to see at once)."""
    app = create_app(hub.services)
    accounts = Accounts(
        SqlOperatorStore(hub.engine),
        Argon2Hasher(**FAST),
        hub.clock,
        hub.monitor().record,
        AccountPolicy(cache_s=0),
        registry=hub.services.deps.registry,
    )
    mount_dashboard(app, hub.monitor(), hub.broker, admin_token=TOKEN, accounts=accounts)
    return app


def _client(app: FastAPI, peer: tuple[str, int] = LOOPBACK) -> TestClient:
    return TestClient(app, client=peer, follow_redirects=False)


def _login(client: TestClient, name: str) -> str:
    r = client.post(
        "/dashboard/login", data={"name": name, "password": PASSWORD}, headers={"Origin": ORIGIN}
    )
    assert (r.status_code, r.headers["location"]) == (303, "/dashboard/")
    value = client.cookies.get(SESSION_COOKIE)
    assert value
    assert "." not in value  # a person's session, not an admin-token one
    return value


def _csrf(text: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', text)
    assert match is not None
    return match.group(1)


def test_who_a_request_acts_as(hub: Hub) -> None:
    app = _process(hub)
    access = admin_access.of(app)
    with _client(app) as c:
        value = _login(c, "kiem")

    def who(headers: dict[str, str], peer: tuple[str, int] = LOOPBACK) -> Operator | None:
        scope = {
            "type": "http",
            "app": app,
            "client": peer,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            "path": "/dashboard/",
            "query_string": b"",
        }
        return access.operator(Request(scope))

    assert who({"cookie": f"{SESSION_COOKIE}={value}"}) == Operator("kiem", "auditor")
    assert who({"authorization": f"Bearer {TOKEN}"}, REMOTE) == Operator("admin-token", "admin")
    assert who({"authorization": "Bearer wrong"}) is None
    assert who({}) is None  # loopback mode off: loopback alone is nobody
    assert who({"cookie": f"{SESSION_COOKIE}=forged-value"}) is None
    assert access.may(Operator("kiem", "auditor"), "audit")
    assert not access.may(Operator("kiem", "auditor"), "redrive")


@pytest.mark.parametrize(("name", "moved"), [("oanh", True), ("kiem", False), ("an", True)])
def test_redrive_needs_the_redrive_right_and_is_audited_by_name(
    hub: Hub, name: str, moved: bool
) -> None:
    data = make_edoc(sender="000.00.00.H41", to=[UNKNOWN_TO])
    [target] = [r.delivery_id for r in hub.services.push("qlvb.ubnd", data).recipients]
    app = _process(hub)
    with _client(app) as c:
        _login(c, name)
        page = c.get("/dashboard/deliveries?state=undeliverable")
        assert page.status_code == 200
        r = c.post(
            "/dashboard/redrive",
            data={"id": target, "csrf": _csrf(page.text), "back": "undeliverable"},
            headers={"Origin": ORIGIN},
        )
    with hub.uow() as uow:
        row = uow.deliveries.get(target)
    assert row is not None
    audit = hub.monitor().audit(action="delivery.redrive")
    if moved:
        assert r.status_code == 303
        assert row.state == "queued"
        assert [a.actor for a in audit] == [name]
    else:
        assert r.status_code == 403
        assert row.state == "undeliverable"
        assert audit == []


def test_two_processes_share_sessions_csrf_tokens_and_logouts(hub: Hub) -> None:
    one, two = _process(hub), _process(hub)
    with _client(one) as c1, _client(two) as c2:
        value = _login(c1, "an")
        c2.cookies.set(SESSION_COOKIE, value)
        form = c1.get("/dashboard/users")  # rendered by one process …
        assert form.status_code == 200
        added = c2.post(  # … posted to the other
            "/dashboard/users",
            data={
                "csrf": _csrf(form.text),
                "do": "add",
                "name": "moi",
                "role": "operator",
                "password": PASSWORD,
            },
            headers={"Origin": ORIGIN},
        )
        assert (added.status_code, added.headers["location"]) == (303, "/dashboard/users?saved=1")
        assert c2.get("/metrics").status_code == 200  # a session opens the metrics too
        out = c1.post(
            "/dashboard/logout",
            data={"csrf": _csrf(c1.get("/dashboard/").text)},
            headers={"Origin": ORIGIN},
        )
        assert out.headers["location"] == "/dashboard/login"
        assert c2.get("/dashboard/").status_code == 303  # ended in the other process too
    newest = hub.monitor().audit(action="account.add")[0]
    assert (newest.actor, newest.subject) == ("an", "moi")


def test_the_login_form_is_refused_cross_origin_and_throttled(hub: Hub) -> None:
    app = _process(hub)
    with _client(app, REMOTE) as c:
        cross = c.post(
            "/dashboard/login",
            data={"name": "an", "password": PASSWORD},
            headers={"Origin": "http://evil.example"},
        )
        assert cross.status_code == 403
        assert c.cookies.get(SESSION_COOKIE) is None
        for _ in range(5):
            bad = c.post(
                "/dashboard/login",
                data={"name": "an", "password": "wrong-password"},
                headers={"Origin": ORIGIN},
            )
            assert bad.headers["location"] == "/dashboard/login?failed=1"
        locked = c.post(
            "/dashboard/login",
            data={"name": "an", "password": PASSWORD},
            headers={"Origin": ORIGIN},
        )
        assert locked.headers["location"].startswith("/dashboard/login?wait=")
        assert c.cookies.get(SESSION_COOKIE) is None


def test_the_accounts_page_names_a_refusal_and_never_echoes_the_url(hub: Hub) -> None:
    app = _process(hub)
    with _client(app) as c:
        _login(c, "an")
        page = c.get("/dashboard/users?lang=en")
        weak = c.post(
            "/dashboard/users",
            data={"csrf": _csrf(page.text), "do": "add", "name": "x", "role": "operator"},
            headers={"Origin": ORIGIN},
        )
        assert weak.headers["location"] == "/dashboard/users?error=accounts.weak_password"
        shown = c.get(weak.headers["location"] + "&lang=en").text
        assert "Password: at least 10 characters." in shown
        forged = c.get("/dashboard/users?lang=en&error=Visit+evil.example+now").text
        assert "evil.example" not in forged
        assert "Not done." in forged
    assert [r.name for r in hub.accounts().list()] == ["an", "kiem", "oanh"]


@pytest.mark.parametrize(
    ("name", "redrive", "download", "evidence", "seal"),
    [
        ("oanh", True, False, False, False),
        ("kiem", False, True, True, False),
        ("an", True, True, True, True),
    ],
)
def test_each_role_is_shown_only_the_controls_it_may_use(
    hub: Hub, name: str, redrive: bool, download: bool, evidence: bool, seal: bool
) -> None:
    data = make_edoc(sender="000.00.00.H41", to=[UNKNOWN_TO])
    result = hub.services.push("qlvb.ubnd", data)
    app = _process(hub)
    with _client(app) as c:
        _login(c, name)
        listing = c.get("/dashboard/deliveries?state=undeliverable").text
        document = c.get(f"/dashboard/documents/{result.doc_id}").text
        package = c.get(f"/dashboard/documents/{result.doc_id}/package")
        proof = c.get(f"/dashboard/documents/{result.doc_id}/evidence")
        home = c.get("/dashboard/deliveries?state=undeliverable&lang=en")
        discard = c.post(
            "/dashboard/discard",
            data={
                "id": result.recipients[0].delivery_id,
                "csrf": _csrf(home.text),
                "reason": "thử",
                "back": "undeliverable",
            },
            headers={"Origin": ORIGIN},
        )
    assert (discard.status_code == 403) is not redrive
    assert result.recipients[0].delivery_id in listing  # the row itself is shown to everyone
    assert ('action="/dashboard/redrive"' in listing) is redrive
    assert ('name="id"' in listing) is redrive  # no selection box without an action for it
    assert ('name="reason"' in listing) is redrive  # the discard right goes with redrive here
    assert ("/package" in document, "/attachments" in document) == (download, download)
    assert ("/evidence" in document) is evidence
    assert ('href="/dashboard/seal"' in document) is seal
    # Hidden is not the only guard: the server still refuses what the role may not do.
    assert (package.status_code == 403) is not download
    assert (proof.status_code == 403) is not evidence


def test_an_admin_gives_a_clerk_its_agencies_on_the_accounts_page(hub: Hub) -> None:
    app = _process(hub)
    with _client(app) as c:
        _login(c, "an")
        page = c.get("/dashboard/users?lang=en")
        csrf = _csrf(page.text)

        def post(**data: str) -> httpx.Response:
            return c.post(
                "/dashboard/users?lang=en", data={"csrf": csrf, **data}, headers={"Origin": ORIGIN}
            )

        added = post(do="add", name="van.thu", role="clerk", password=PASSWORD, agencies="H41.02")
        assert added.headers["location"] == "/dashboard/users?saved=1"
        assert hub.accounts().agencies_of("van.thu") == ("000.00.02.H41",)
        shown = c.get("/dashboard/users?lang=en").text
        assert 'name="agencies" value="000.00.02.H41"' in shown

        changed = post(do="agencies", name="van.thu", agencies="000.00.03.H41, 000.00.04.H41")
        assert changed.headers["location"] == "/dashboard/users?saved=1"
        assert hub.accounts().agencies_of("van.thu") == ("000.00.03.H41", "000.00.04.H41")

        unknown = post(do="agencies", name="van.thu", agencies="000.00.03.H41 000.00.99.H41")
        assert unknown.status_code == 400
        assert "unknown agency code &#x27;000.00.99.H41&#x27;" in unknown.text
        assert 'role="alert"' in unknown.text
        assert hub.accounts().agencies_of("van.thu") == ("000.00.03.H41", "000.00.04.H41")

        wrong_role = post(do="agencies", name="oanh", agencies="000.00.03.H41")
        assert wrong_role.headers["location"] == "/dashboard/users?error=accounts.agencies_role"
        assert (
            "Only clerk accounts are given agencies."
            in c.get(wrong_role.headers["location"] + "&lang=en").text
        )

        no_token = c.post(
            "/dashboard/users",
            data={"do": "agencies", "name": "van.thu", "agencies": ""},
            headers={"Origin": ORIGIN},
        )
        assert no_token.status_code == 403
        _login(c, "oanh")  # an operator may not manage accounts
        page = c.get("/dashboard/")
        refused = c.post(
            "/dashboard/users",
            data={"csrf": _csrf(page.text), "do": "agencies", "name": "van.thu", "agencies": ""},
            headers={"Origin": ORIGIN},
        )
        assert refused.status_code == 403
    assert hub.accounts().agencies_of("van.thu") == ("000.00.03.H41", "000.00.04.H41")
    audit = hub.monitor().audit(action="account.agencies")
    assert [(a.actor, a.subject) for a in audit] == [("an", "van.thu")]


def test_a_person_changes_their_own_password_on_the_account_page(hub: Hub) -> None:
    app = _process(hub)
    with _client(app) as c, _client(app) as other:
        _login(c, "oanh")
        old = _login(other, "oanh")
        page = c.get("/dashboard/account")
        assert page.status_code == 200
        assert 'href="/dashboard/account"' in page.text  # the menu names the account
        assert "<code>oanh</code>" in page.text
        assert "operator" in page.text
        token = _csrf(page.text)
        form = {"csrf": token, "current": PASSWORD, "password": "moi-mat-khau-77"}

        def post(**data: str) -> httpx.Response:
            return c.post("/dashboard/account", data=data, headers={"Origin": ORIGIN})

        differ = post(**{**form, "repeat": "other-mat-khau"})
        assert differ.status_code == 400
        assert "differ" in differ.text or "không khớp" in differ.text
        wrong = {**form, "current": "not-it-1234", "repeat": "moi-mat-khau-77"}
        refused = post(**wrong)
        assert refused.status_code == 400
        assert "mật khẩu hiện tại không đúng" in refused.text
        no_csrf = post(**{**form, "csrf": "", "repeat": form["password"]})
        assert no_csrf.status_code == 403
        done = post(**{**form, "repeat": "moi-mat-khau-77"})
        assert (done.status_code, done.headers["location"]) == (303, "/dashboard/account?saved=1")
        assert c.get("/dashboard/account?saved=1").status_code == 200  # the new session works
        other.cookies.set(SESSION_COOKIE, old)
        assert other.get("/dashboard/account").headers["location"] == "/dashboard/login"
    audit = hub.monitor().audit(action="account.passwd")
    assert [(a.actor, a.outcome) for a in audit] == [
        ("oanh", "ok"),
        ("oanh@127.0.0.1", "auth.failed"),
    ]
    with _client(app, REMOTE) as token_client:
        as_token = token_client.get(
            "/dashboard/account", headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert as_token.status_code == 200
        assert "no account" in as_token.text or "không thuộc tài khoản" in as_token.text
