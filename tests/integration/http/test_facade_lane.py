"""The façade's short way (:class:`adapters.http.app.FacadeLane`) answers exactly as the router.

Each request is sent twice through the same app: by the lane, then with the lane removed (the
FastAPI middleware stack and router); status, headers, body, metrics and security events must be
the same. The requests are idempotent, so the second answer may equal the first.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from http_fakes import G22, H41, Signer
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from adapters.http import SecurityEvent
from adapters.http.app import FacadeLane, HubApp
from hub.vxp.wire import OCTET_CT, lossy_hash_file

PACKAGE = b'<?xml version="1.0" encoding="UTF-8"?>\r\n<edXML><Subject>lane</Subject></edXML>'


def lane_of(app: FastAPI) -> FacadeLane:
    assert isinstance(app, HubApp)
    assert app.lane is not None
    return app.lane


def scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def answer(http: TestClient, method: str, path: str, headers: Any, body: bytes) -> Any:
    r = http.request(method, f"http://testserver{path}", headers=headers, content=body or None)
    return r.status_code, sorted(r.headers.items()), r.content


def requests(sign: Signer) -> list[tuple[str, str, Any, bytes]]:
    push = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "to": f'["{H41}"]'}
    pushed = sign(push, content_type=OCTET_CT, hash_file=lossy_hash_file(PACKAGE))
    listing = sign({"servicetype": "eDoc", "messagetype": "edoc"})
    return [
        ("POST", "/sendEdoc", pushed, PACKAGE + b"\r\n"),
        ("POST", "/vxp//sendEdoc", pushed, PACKAGE + b"\r\n"),  # the SDK's doubled slash
        ("POST", "/getReceivedEdocList", listing, b""),
        ("POST", "/getEdoc", sign({"docId": "nope"}), b"{}"),
        ("GET", "/downloadEdoc", sign({"docId": "nope"}), b""),
        ("POST", "/updateStatus", sign({"docId": "x", "status": "finished"}), b"{}"),
        ("POST", "/updateStatus", sign({"docId": "x"}, secret="wrong"), b"{}"),
        ("GET", "/sendEdoc", pushed, b""),  # 405
        ("POST", "/countReceiveEdoc", sign(), b"{}"),
        ("POST", "/getReceivedEdocList", listing, b"x" * (65 * 1024)),  # over the small cap
    ]


def test_lane_and_router_answer_alike(
    app: FastAPI,
    http: TestClient,
    sign: Signer,
    audit_events: list[SecurityEvent],
    registry: CollectorRegistry,
) -> None:
    lane = lane_of(app)
    for method, path, headers, body in requests(sign):
        assert lane.takes(scope(method, path)), path
        events = len(audit_events)
        by_lane = answer(http, method, path, headers, body)
        refused = len(audit_events) - events
        assert isinstance(app, HubApp)
        app.lane = None
        try:
            by_router = answer(http, method, path, headers, body)
        finally:
            app.lane = lane
        assert by_lane == by_router, path
        assert len(audit_events) - events == 2 * refused, path
    sample = registry.get_sample_value
    ok = {"api": "vxp", "operation": "sendEdoc", "outcome": "ok"}
    assert sample("lienthong_http_requests_total", ok) == 4  # two paths, each way
    refused_405 = {"api": "vxp", "operation": "sendEdoc", "outcome": "405"}
    assert sample("lienthong_http_requests_total", refused_405) == 2
    timed = {"api": "vxp", "operation": "updateStatus"}
    assert sample("lienthong_http_request_seconds_count", timed) == 4


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/sendEdoc"),  # the REST prefix: labelled by route, so the router's
        ("POST", "/no/such/operation"),
        ("TRACE", "/sendEdoc"),  # a method the catch-all does not take: the router's 405
    ],
)
def test_other_requests_keep_the_framework(app: FastAPI, method: str, path: str) -> None:
    assert not lane_of(app).takes(scope(method, path))


def test_an_earlier_route_wins_over_the_lane(app: FastAPI, http: TestClient) -> None:
    """A route added ahead of the catch-all (as the dashboard's are) keeps its path, even one
    ending in an operation name, and even after the lane has seen that path."""
    lane = lane_of(app)
    assert lane.takes(scope("GET", "/pages/getEdoc"))

    def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("a page")

    app.router.routes.insert(0, Route("/pages/getEdoc", page, methods=["GET"]))
    assert not lane.takes(scope("GET", "/pages/getEdoc"))
    assert lane.takes(scope("POST", "/pages/getEdoc"))  # the page does not take POST
    assert http.get("/pages/getEdoc").text == "a page"
