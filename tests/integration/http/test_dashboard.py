"""The IT dashboard, the state gauges and the security log, over a whole hub built by
``build_hub`` on a temporary SQLite data directory (embedded broker, no signature checks)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.entrypoints.bootstrap import Hub, build_hub
from hub.entrypoints.logs import SECURITY_FILE, configure_logging, reset_logging
from hub.ports import NullVerifier
from hub.services.contracts import PushResult
from hub.settings import Secret, load_settings
from hub.vxp.wire import JSON_CT, format_timestamp, sign_headers
from tests.factories import make_edoc

UBND, UBND_SECRET = "qlvb.ubnd", "ubnd-secret-8c1f2a"
SO = "qlvb.so"
UNKNOWN_TO = "000.99.99.H41"  # in scope, hosted by nobody: undeliverable at intake
HOSTILE = "<script>alert('xss')</script> Công văn"
ORIGIN = "http://testserver"
LOOPBACK = ("127.0.0.1", 50123)
ADMIN_TOKEN = "tok-7b0e55d1f3"


def _hub(data_dir: Path, *, token: str | None = None) -> Hub:
    settings = load_settings(env={"LIENTHONG_DATA_DIR": str(data_dir)})
    if token is not None:
        settings = dataclasses.replace(settings, admin_token=Secret(token))
    hub = build_hub(settings, verifier=NullVerifier(), links={})
    hub.services.systems.add(UBND, ["000.00.00.H41"], secret=UBND_SECRET)
    hub.services.systems.add(SO, ["000.00.02.H41"], secret="so-secret-31d0")
    return hub


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    h = _hub(tmp_path / "data")
    yield h
    h.close()


@pytest.fixture
def pushed(hub: Hub) -> PushResult:
    data = make_edoc(sender="000.00.00.H41", to=["000.00.02.H41", UNKNOWN_TO], subject=HOSTILE)
    return hub.services.push(UBND, data)


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(hub.app(), client=LOOPBACK, follow_redirects=False) as c:
        yield c


def _undeliverable(result: PushResult) -> str:
    return next(r.delivery_id for r in result.recipients if r.recipient == UNKNOWN_TO)


def _csrf(html_text: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html_text)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


# ------------------------------------------------------------------------------- access


def test_root_redirects_to_the_dashboard(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 307
    assert r.headers["location"] == "/dashboard/"


def test_in_loopback_mode_other_clients_are_sent_to_the_login(hub: Hub, client: TestClient) -> None:
    assert client.get("/dashboard/").status_code == 200
    with TestClient(hub.app(), client=("192.0.2.10", 40000), follow_redirects=False) as remote:
        for path in ("/dashboard/", "/dashboard/audit", "/dashboard/users"):
            r = remote.get(path)
            assert (r.status_code, r.headers["location"]) == (303, "/dashboard/login")
        assert remote.get("/metrics").status_code == 401


def test_token_login_sets_a_strict_httponly_session(tmp_path: Path) -> None:
    hub = _hub(tmp_path / "data", token=ADMIN_TOKEN)
    try:
        # With a token, loopback is no longer enough.
        with TestClient(hub.app(), client=LOOPBACK, follow_redirects=False) as c:
            r = c.get("/dashboard/")
            assert r.status_code == 303
            assert r.headers["location"] == "/dashboard/login"

            bad = c.post("/dashboard/login", data={"token": "wrong"}, headers={"Origin": ORIGIN})
            assert bad.headers["location"] == "/dashboard/login?failed=1"
            assert c.get("/dashboard/").status_code == 303

            ok = c.post("/dashboard/login", data={"token": ADMIN_TOKEN}, headers={"Origin": ORIGIN})
            assert ok.status_code == 303
            cookie = ok.headers["set-cookie"]
            assert "HttpOnly" in cookie
            assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
            assert ADMIN_TOKEN not in cookie  # a derived session value, not the token
            page = c.get("/dashboard/")
            assert page.status_code == 200

            out = c.post(
                "/dashboard/logout", data={"csrf": _csrf(page.text)}, headers={"Origin": ORIGIN}
            )
            assert out.headers["location"] == "/dashboard/login"
            assert c.get("/dashboard/").status_code == 303

        audit = hub.monitor().audit(action="dashboard.login")
        assert [a.outcome for a in audit] == ["ok", "auth.failed"]
        assert all(a.actor == "admin-token@127.0.0.1" for a in audit)
    finally:
        hub.close()


# -------------------------------------------------------------------------------- pages


def test_pages_render_and_escape_hostile_strings(client: TestClient, pushed: PushResult) -> None:
    pages = [
        "/dashboard/",
        "/dashboard/deliveries?state=undeliverable",
        "/dashboard/deliveries?state=dead",
        "/dashboard/deliveries?state=retry_wait",
        f"/dashboard/documents?q={UBND}",
        f"/dashboard/documents/{pushed.doc_id}",
        "/dashboard/systems",
        "/dashboard/audit",
    ]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert "<script>" not in r.text, path
    listing = client.get("/dashboard/deliveries?state=undeliverable").text
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in listing
    assert _undeliverable(pushed) in listing
    timeline = client.get(f"/dashboard/documents/{pushed.doc_id}").text
    assert "&lt;script&gt;" in timeline
    assert UNKNOWN_TO in timeline


def test_search_by_doc_id_opens_the_timeline(client: TestClient, pushed: PushResult) -> None:
    r = client.get(f"/dashboard/documents?q={pushed.doc_id}")
    assert r.status_code == 303
    assert r.headers["location"] == f"/dashboard/documents/{pushed.doc_id}"
    assert "Không tìm thấy" in client.get("/dashboard/documents?q=nothing-like-it").text
    assert client.get("/dashboard/documents/nothing-like-it").status_code == 404


def test_systems_page_never_shows_a_secret(client: TestClient, pushed: PushResult) -> None:
    text = client.get("/dashboard/systems").text
    assert UBND in text
    assert SO in text
    assert UBND_SECRET not in text
    assert "gAAAA" not in text  # nor a Fernet token of it


def test_english_switch_is_remembered(client: TestClient) -> None:
    vi = client.get("/dashboard/").text
    assert "Tổng quan" in vi
    en = client.get("/dashboard/?lang=en")
    assert "Overview" in en.text
    assert '<html lang="en">' in en.text
    assert "Overview" in client.get("/dashboard/").text  # the cookie keeps English
    assert "Tổng quan" in client.get("/dashboard/?lang=vi").text


# ------------------------------------------------------------------------------ redrive


def test_redrive_moves_an_undeliverable_delivery_back_to_queued_and_audits_it(
    hub: Hub, client: TestClient, pushed: PushResult
) -> None:
    target = _undeliverable(pushed)
    page = client.get("/dashboard/deliveries?state=undeliverable").text
    r = client.post(
        "/dashboard/redrive",
        data={"id": target, "csrf": _csrf(page), "back": "undeliverable"},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/deliveries?state=undeliverable&moved=1"
    with hub.uow() as uow:
        row = uow.deliveries.get(target)
        assert row is not None
        assert row.state == "queued"
        assert uow.deliveries.events(target)[-1].reason == "redrive by loopback@127.0.0.1"
    [entry] = hub.monitor().audit(action="delivery.redrive")
    assert entry.actor == "loopback@127.0.0.1"
    assert entry.details["deliveries"] == [target]


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        pytest.param({"Origin": "http://evil.example"}, "good", id="foreign-origin"),
        pytest.param({}, "good", id="no-origin-no-referer"),
        pytest.param({"Origin": ORIGIN}, "0" * 64, id="wrong-token"),
        pytest.param({"Origin": ORIGIN}, "", id="no-token"),
    ],
)
def test_redrive_refuses_cross_site_requests(
    hub: Hub, client: TestClient, pushed: PushResult, headers: dict[str, str], token: str
) -> None:
    target = _undeliverable(pushed)
    page = client.get("/dashboard/deliveries?state=undeliverable").text
    csrf = _csrf(page) if token == "good" else token
    r = client.post("/dashboard/redrive", data={"id": target, "csrf": csrf}, headers=headers)
    assert r.status_code == 403
    with hub.uow() as uow:
        row = uow.deliveries.get(target)
        assert row is not None
        assert row.state == "undeliverable"
    assert hub.monitor().audit(action="delivery.redrive") == []
    assert [a.outcome for a in hub.monitor().audit(action="dashboard.csrf")] == ["csrf.refused"]


def test_referer_of_the_same_origin_is_accepted(
    hub: Hub, client: TestClient, pushed: PushResult
) -> None:
    page = client.get("/dashboard/deliveries?state=undeliverable").text
    r = client.post(
        "/dashboard/redrive",
        data={"id": _undeliverable(pushed), "csrf": _csrf(page)},
        headers={"Referer": f"{ORIGIN}/dashboard/deliveries?state=undeliverable"},
    )
    assert r.status_code == 303


# ------------------------------------------------------------------------------ metrics


def test_metrics_expose_delivery_gauges(client: TestClient, pushed: PushResult) -> None:
    text = client.get("/metrics").text
    assert 'lienthong_deliveries{route="none",state="undeliverable"} 1.0' in text
    assert 'lienthong_deliveries{route="local",state="available"} 1.0' in text
    assert "lienthong_documents_received_last_hour 1.0" in text
    # The first scrape ran on the server loop, which the collector reaches for queue depths.
    text = client.get("/metrics").text
    assert 'lienthong_queue_messages{queue="lienthong.dispatch",status="dead"}' in text
    assert "lienthong_broker_up 1.0" in text


# ------------------------------------------------------------------------- security log


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Leave the logging configuration as it was (other tests read stderr and caplog)."""
    root, security = logging.getLogger(), logging.getLogger("lienthong.security")
    levels = (root.level, security.level)
    yield
    reset_logging()
    root.setLevel(levels[0])
    security.setLevel(levels[1])


@pytest.mark.usefixtures("restored_logging")
def test_bad_hmac_push_is_a_json_security_line_without_the_secret(
    hub: Hub, client: TestClient
) -> None:
    path = configure_logging(hub.settings.data_dir)
    try:
        headers = sign_headers(
            system_id=UBND,
            secret="not-" + UBND_SECRET,
            timestamp=format_timestamp(dt.datetime.now(dt.UTC), "UTC"),
            content_type=JSON_CT,
            params={},
        )
        body = make_edoc(sender="000.00.00.H41", to=["000.00.02.H41"])
        r = client.post("/sendEdoc", content=body, headers=dict(headers))
        assert r.status_code in (401, 403)
    finally:
        reset_logging()  # flush and close the file before reading it

    assert path.name == SECURITY_FILE
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    refused = [x for x in lines if x.get("event") == "request_refused"]
    assert len(refused) == 1
    event = refused[0]
    assert event["system_id"] == UBND
    assert event["logger"] == "lienthong.security"
    assert event["http_status"] in (401, 403)
    assert event["remote"] == "127.0.0.1"
    for f in hub.settings.data_dir.glob("*.jsonl*"):
        text = f.read_text("utf-8", errors="replace")
        assert UBND_SECRET not in text
        assert "Công văn" not in text  # nor anything of the package body


def test_admin_token_comes_from_the_environment_and_is_null_by_default(tmp_path: Path) -> None:
    env = {"LIENTHONG_DATA_DIR": str(tmp_path)}
    assert load_settings(env=env).admin_token is None
    configured = load_settings(env={**env, "LIENTHONG_ADMIN_TOKEN": ADMIN_TOKEN}).admin_token
    assert configured is not None
    assert configured.reveal() == ADMIN_TOKEN
    assert ADMIN_TOKEN not in repr(configured)
