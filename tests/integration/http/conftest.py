"""Fixtures for the HTTP layer's tests: an app over :class:`http_fakes.FakeHub`, a frozen clock,
a signing helper, and the hub's own VXP client wired to the app in-process.

(The fake lives in ``http_fakes.py``, a uniquely named module: test modules import it by name,
which a second ``conftest`` elsewhere in the tree could shadow.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from http_fakes import G22, H41, SECRET, SYSTEM, Clock, FakeHub, Signer
from prometheus_client import CollectorRegistry

from adapters.http import ApiSettings, SecurityEvent, create_app
from adapters.vxp_client import VxpClient
from hub.services.contracts import SystemCredentials
from hub.vxp.wire import JSON_CT, format_timestamp, sign_headers
from tests.integration.http.console_support import populated  # noqa: F401 - a fixture


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub(
        systems={
            SYSTEM: SystemCredentials(SYSTEM, (SECRET,), True, 900, "UTC"),
            "other.system": SystemCredentials("other.system", ("other-secret",), True, 900, "UTC"),
        },
        hosts={SYSTEM: {G22, H41}, "other.system": {"000.00.00.X99"}},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def audit_events() -> list[SecurityEvent]:
    return []


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(max_package_bytes=64 * 1024, max_small_body_bytes=4096, zone="UTC")


@pytest.fixture
def ready() -> dict[str, Any]:
    return {"value": True}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def app(
    hub: FakeHub,
    clock: Clock,
    audit_events: list[SecurityEvent],
    settings: ApiSettings,
    ready: dict[str, Any],
    registry: CollectorRegistry,
) -> FastAPI:
    def readiness() -> bool:
        if isinstance(ready["value"], Exception):
            raise ready["value"]
        return bool(ready["value"])

    return create_app(
        hub,
        settings,
        clock=clock,
        audit=audit_events.append,
        readiness=readiness,
        registry=registry,
    )


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def vxp_client(http: TestClient, clock: Clock) -> VxpClient:
    return VxpClient("http://testserver", SYSTEM, SECRET, zone="UTC", http=http, clock=clock)


@pytest.fixture
def sign(clock: Clock) -> Signer:
    """Headers for a request signed now by demo.system (override any argument)."""

    def signer(
        params: dict[str, str] | None = None,
        *,
        system_id: str = SYSTEM,
        secret: str = SECRET,
        content_type: str = JSON_CT,
        hash_file: str | None = None,
        timestamp: str | None = None,
    ) -> list[tuple[str, str]]:
        return sign_headers(
            system_id=system_id,
            secret=secret,
            timestamp=timestamp or format_timestamp(clock(), "UTC"),
            content_type=content_type,
            params=params or {},
            hash_file=hash_file,
        )

    return signer


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    """The app behind uvicorn on a free loopback port; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
