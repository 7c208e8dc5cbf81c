"""A whole hub (``build_hub``) on SQLite or PostgreSQL with the message-log scenario stored
(:mod:`tests.message_log_support`), and a loopback console client for it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.memory import ManualClock, MemoryPeer
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.ports import NATIONAL_LINK, NullVerifier
from hub.settings import load_settings
from tests.message_log_support import SO, UBND, Scenario, populate

ORIGIN = "http://testserver"
LOOPBACK = ("127.0.0.1", 50124)


@dataclass
class Populated:
    hub: Hub
    clock: ManualClock
    scenario: Scenario
    client: TestClient


@pytest.fixture
def populated(empty_db_url: str, tmp_path: Path) -> Iterator[Populated]:
    """The scenario in a hub on each backend, with a console client from loopback."""
    settings = load_settings(
        env={
            "LIENTHONG_DATA_DIR": str(tmp_path / "data"),
            "LIENTHONG_DATABASE_URL": empty_db_url,
            "LIENTHONG_LOOPBACK_LOGIN": "true",  # a console read from loopback without a login
        }
    )
    clock = ManualClock()
    peer = MemoryPeer(NATIONAL_LINK)
    hub = build_hub(settings, verifier=NullVerifier(), links={}, clock=clock)
    try:
        hub.services.systems.add(UBND, ["000.00.00.H41", "000.00.01.H41"], secret="ubnd-s3cret")
        hub.services.systems.add(SO, ["000.00.02.H41"], secret="so-s3cret")
        scenario = populate(hub.services, peer, clock)
        with TestClient(hub.app(), client=LOOPBACK, follow_redirects=False) as client:
            yield Populated(hub, clock, scenario, client)
    finally:
        hub.close()


def csrf_of(html_text: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html_text)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)
