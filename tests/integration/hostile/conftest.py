"""Fixtures of the hostile-input tests: a real hub on SQLite and an in-process client of its app
(helpers in ``hostile_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hostile_support import HostileHub, real_hub


@pytest.fixture
def site(tmp_path: Path) -> Iterator[HostileHub]:
    with real_hub(tmp_path / "hub") as hub:
        yield hub


@pytest.fixture
def http(site: HostileHub) -> Iterator[TestClient]:
    with TestClient(site.hub.app(), raise_server_exceptions=False) as client:
        yield client
