"""Fixtures for the peer tests: the token-issuing LGSP gateway (``lgsp_server.py``), and for
peers of kind ``soap`` a legacy eDoc SOAP hub (spyne, loopback) and the hub's adapter connected
to it.

Who is who on the service, and this hub's settings for it: ``soap_world.py``; the service:
``soap_service.py`` (uniquely named modules, as test modules import them by name).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from soap_service import SoapHubServer
from soap_world import REMOTE_SECRET, REMOTE_SYSTEM, peer_settings, seed

from adapters.peers import build_peer
from adapters.peers.soap import SoapHubClient
from hub.ports import Peer
from tests.integration.peers.lgsp_server import lgsp_gateway

__all__ = ["lgsp_gateway"]


@pytest.fixture
def soap_server() -> Iterator[SoapHubServer]:
    """A fresh service: an empty store but for the accounts and organizations of ``seed``."""
    server = SoapHubServer()
    seed(server.store)
    yield server
    server.stop()


@pytest.fixture
def soap_peer(soap_server: SoapHubServer) -> Iterator[Peer]:
    """This hub's peer, built through the kind registry as the composition root builds it."""
    peer = build_peer(peer_settings(soap_server))
    yield peer
    peer.close()


@pytest.fixture
def remote(soap_server: SoapHubServer) -> Iterator[SoapHubClient]:
    """The SOAP province's own document system, on the same service."""
    client = SoapHubClient(
        soap_server.endpoint, name="h14-qlvb", username=REMOTE_SYSTEM, secret=REMOTE_SECRET
    )
    yield client
    client.close()
