"""``/healthz``, ``/readyz`` and ``/metrics`` follow the dashboard's access rule.

Through a whole hub's real ASGI app (``build_hub`` on a temporary SQLite directory): without an
admin token only loopback clients see ``/metrics`` and ``/readyz``'s reason; with a token,
``Authorization: Bearer <token>`` (or a dashboard session) is needed, from anywhere. ``/healthz``
stays open and says nothing internal; ``/readyz`` tells anyone ready / not ready.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.entrypoints.bootstrap import Hub, build_hub
from hub.errors import StoreUnavailable
from hub.ports import NullVerifier
from hub.settings import Secret, load_settings

LOOPBACK = ("127.0.0.1", 50123)
REMOTE = ("192.0.2.10", 40000)
TOKEN = "tok-metrics-5e1d07"
#: What a failing probe may say: nothing of it must reach an anonymous client.
INTERNAL = "connection to db-primary.internal:5432 refused for user lienthong_rw"


@contextmanager
def _hub(data_dir: Path, *, token: str | None = None, failing: bool = False) -> Iterator[Hub]:
    settings = load_settings(env={"LIENTHONG_DATA_DIR": str(data_dir)})
    if token is not None:
        settings = dataclasses.replace(settings, admin_token=Secret(token))
    hub = build_hub(settings, verifier=NullVerifier(), links={})
    if failing:

        def ready() -> bool:
            raise StoreUnavailable(INTERNAL)

        hub.ready = ready  # type: ignore[method-assign]
    try:
        yield hub
    finally:
        hub.close()


@contextmanager
def _client(hub: Hub, address: tuple[str, int]) -> Iterator[TestClient]:
    with TestClient(hub.app(), client=address, follow_redirects=False) as client:
        yield client


def test_healthz_is_open_and_says_nothing_internal(tmp_path: Path) -> None:
    with _hub(tmp_path, failing=True) as hub, _client(hub, REMOTE) as remote:
        r = remote.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-token", "token"])
def test_readyz_tells_anyone_only_whether_it_is_ready(tmp_path: Path, token: str | None) -> None:
    with _hub(tmp_path, token=token, failing=True) as hub, _client(hub, REMOTE) as remote:
        r = remote.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "not ready"}
    assert "db-primary" not in r.text


def test_readyz_reason_for_loopback_without_a_token(tmp_path: Path) -> None:
    with _hub(tmp_path, failing=True) as hub, _client(hub, LOOPBACK) as local:
        r = local.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "not ready"
    assert "db-primary" in r.json()["reason"]


def test_readyz_reason_with_a_token_needs_the_bearer(tmp_path: Path) -> None:
    with _hub(tmp_path, token=TOKEN, failing=True) as hub, _client(hub, LOOPBACK) as local:
        assert local.get("/readyz").json() == {"status": "not ready"}  # loopback is not enough
        wrong = local.get("/readyz", headers={"Authorization": "Bearer not-" + TOKEN})
        assert wrong.json() == {"status": "not ready"}
        r = local.get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert "db-primary" in r.json()["reason"]


def test_a_ready_hub_says_ready_to_anyone(tmp_path: Path) -> None:
    with _hub(tmp_path, token=TOKEN) as hub, _client(hub, REMOTE) as remote:
        r = remote.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready"})


def test_metrics_without_a_token_answer_loopback_only_in_loopback_mode(tmp_path: Path) -> None:
    with _hub(tmp_path) as hub:
        with _client(hub, REMOTE) as remote:
            refused = remote.get("/metrics")
        with _client(hub, LOOPBACK) as local:
            ok = local.get("/metrics")
    assert refused.status_code == 401  # accounts exist: a session or the Bearer token
    assert "lienthong_" not in refused.text
    assert ok.status_code == 200
    assert "lienthong_deliveries" in ok.text


def test_metrics_with_a_token_need_the_bearer_from_anywhere(tmp_path: Path) -> None:
    with _hub(tmp_path, token=TOKEN) as hub:
        with _client(hub, LOOPBACK) as local:
            bare = local.get("/metrics")
            wrong = local.get("/metrics", headers={"Authorization": "Bearer not-" + TOKEN})
            basic = local.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        with _client(hub, REMOTE) as remote:
            ok = remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    for r in (bare, wrong, basic):
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "lienthong_" not in r.text
    assert ok.status_code == 200
    assert "lienthong_deliveries" in ok.text
