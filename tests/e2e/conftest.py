"""Fixtures of the end-to-end suite (the machinery is in :mod:`e2e_support`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    BACKENDS,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    SYSTEM_B,
    HubProcess,
    HubSite,
    make_site,
)

from adapters.vxp_client import VxpClient


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubSite]:
    """A hub site with systems A and B registered through the CLI (nothing started yet)."""
    backend = str(request.param)
    with make_site(request, backend, tmp_path_factory.mktemp(f"hub-{backend}")) as s:
        s.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        s.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        yield s


@pytest.fixture(scope="module")
def hub(site: HubSite) -> HubProcess:
    """``lienthong run`` (API + workers) on the module's site."""
    return site.start("run")


@pytest.fixture(scope="module")
def client_a(site: HubSite, hub: HubProcess) -> Iterator[VxpClient]:
    with site.client(SYSTEM_A, SECRET_A, hub) as c:
        yield c


@pytest.fixture(scope="module")
def client_b(site: HubSite, hub: HubProcess) -> Iterator[VxpClient]:
    with site.client(SYSTEM_B, SECRET_B, hub) as c:
        yield c
