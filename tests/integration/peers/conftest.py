"""The token-issuing LGSP gateway as a fixture for the peer tests."""

from __future__ import annotations

from tests.integration.peers.lgsp_server import lgsp_gateway

__all__ = ["lgsp_gateway"]
