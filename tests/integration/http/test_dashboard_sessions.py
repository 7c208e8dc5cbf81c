"""Dashboard sessions: a new signed value per login, expiring, and ended by a logout.

The session cookie used to be a fixed HMAC of the admin token: the same value for every login,
valid forever, and still valid after "log out" for anyone who had copied it. Through a whole
hub's real ASGI app (``build_hub`` on a temporary SQLite directory, an admin token set).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters.http.admin_access import SESSION_COOKIE
from adapters.http.app import create_app
from adapters.http.console import mount_dashboard
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.ports import NullVerifier
from hub.settings import Secret, load_settings

TOKEN = "tok-7b0e55d1f3"
ORIGIN = "http://testserver"
LOOPBACK = ("127.0.0.1", 50123)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")})
    h = build_hub(
        dataclasses.replace(settings, admin_token=Secret(TOKEN)),
        verifier=NullVerifier(),
        links={},
    )
    yield h
    h.close()


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def _app(hub: Hub, clock: Clock | None = None, max_age_s: float = 600) -> FastAPI:
    app = create_app(hub.services)
    extra = {"clock": clock} if clock is not None else {}
    mount_dashboard(
        app, hub.monitor(), hub.broker, admin_token=TOKEN, session_max_age_s=max_age_s, **extra
    )
    return app


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, client=LOOPBACK, follow_redirects=False)


def _login(client: TestClient) -> str:
    r = client.post("/dashboard/login", data={"token": TOKEN}, headers={"Origin": ORIGIN})
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/"
    value = client.cookies.get(SESSION_COOKIE)
    assert value
    return value


def _use(client: TestClient, value: str) -> None:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value)


def _in(client: TestClient) -> bool:
    r = client.get("/dashboard/")
    assert r.status_code in (200, 303)
    return r.status_code == 200


def _logout(client: TestClient) -> None:
    page = client.get("/dashboard/").text
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match is not None
    r = client.post("/dashboard/logout", data={"csrf": match.group(1)}, headers={"Origin": ORIGIN})
    assert r.headers["location"] == "/dashboard/login"


def test_every_login_gets_a_new_value(hub: Hub) -> None:
    app = hub.app()
    with _client(app) as first, _client(app) as second:
        a, b = _login(first), _login(second)
        assert a != b
        assert TOKEN not in a
        assert _in(first)
        assert _in(second)


def test_logout_ends_the_session_even_for_a_copy_of_the_cookie(hub: Hub) -> None:
    app = hub.app()
    with _client(app) as client, _client(app) as other:
        value = _login(client)
        _use(other, value)  # a copy (another tab, a stolen value)
        assert _in(other)
        _logout(client)
        assert not _in(client)
        assert not _in(other)
        _use(client, value)
        assert not _in(client)
        client.cookies.clear()
        _login(client)  # a new login works again
        assert _in(client)
    assert [a.action for a in hub.monitor().audit(action="dashboard.logout")] == [
        "dashboard.logout"
    ]


def test_a_session_expires_after_its_max_age(hub: Hub) -> None:
    clock = Clock()
    with _client(_app(hub, clock, max_age_s=600)) as client:
        r = client.post("/dashboard/login", data={"token": TOKEN}, headers={"Origin": ORIGIN})
        assert "max-age=600" in r.headers["set-cookie"].lower()
        clock.now += 599
        assert _in(client)
        clock.now += 2
        assert not _in(client)


def test_a_forged_or_altered_session_is_refused(hub: Hub) -> None:
    clock = Clock()
    with _client(_app(hub, clock)) as client:
        value = _login(client)
        issued, nonce, mac = value.split(".")
        for forged in (
            f"{int(issued) + 60_000}.{nonce}.{mac}",  # pushed forward to outlive its age
            f"{issued}.{nonce}x.{mac}",
            f"{issued}.{nonce}.{'0' * len(mac)}",
            "garbage",
            "",
        ):
            _use(client, forged)
            assert not _in(client), forged
