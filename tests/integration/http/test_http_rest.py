"""The REST API /api/v1, health, readiness and metrics over the in-memory service."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from http_fakes import G22, H41, SYSTEM, Clock, FakeHub, Signer
from prometheus_client import CollectorRegistry

from adapters.http import SecurityEvent
from hub.errors import StoreUnavailable

PACKAGE = b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML><To>000.00.00.H41</To></edXML>'


def rest(
    http: TestClient,
    sign: Signer,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    signed_path: str | None = None,
    **kw: Any,
) -> Any:
    params = {"method": method, "path": signed_path or path}
    headers = sign(params, hash_file=hashlib.sha256(body).hexdigest() if body else None, **kw)
    return http.request(method, path, headers=headers, content=body or None)


def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    err = response.json()["error"]
    assert isinstance(err["message"], str)
    if code is not None:
        assert err["code"] == code
    return err


def test_push_inbox_fetch_ack_sent_timeline(http: TestClient, sign: Signer) -> None:
    r = rest(http, sign, "POST", "/api/v1/packages", body=PACKAGE)
    assert r.status_code == 201, r.text
    pushed = r.json()
    assert pushed["kind"] == "edoc"
    assert pushed["digest"] == hashlib.sha256(PACKAGE).hexdigest()
    assert pushed["duplicate"] is False
    (recipient,) = pushed["recipients"]
    assert recipient["route"] == "local"

    again = rest(http, sign, "POST", "/api/v1/packages", body=PACKAGE)
    assert again.status_code == 200
    assert again.json()["doc_id"] == pushed["doc_id"]
    assert again.json()["duplicate"] is True

    inbox = rest(http, sign, "GET", "/api/v1/inbox?kind=edoc").json()
    assert [i["delivery_id"] for i in inbox] == [recipient["delivery_id"]]
    assert inbox[0]["created_at"].startswith("2026-11-21T05:05:45")
    assert rest(http, sign, "GET", "/api/v1/inbox?kind=status").json() == []
    assert rest(http, sign, "GET", "/api/v1/inbox/count").json() == {"kind": "edoc", "count": 1}

    pkg = rest(http, sign, "GET", f"/api/v1/inbox/{recipient['delivery_id']}/package")
    assert pkg.status_code == 200
    assert pkg.content == PACKAGE
    assert pkg.headers["content-type"] == "application/xml"
    assert pkg.headers["x-delivery-id"] == recipient["delivery_id"]

    ack = rest(
        http,
        sign,
        "POST",
        f"/api/v1/inbox/{recipient['delivery_id']}/ack",
        body=b'{"status":"done"}',
    )
    assert ack.json() == {"delivery_id": recipient["delivery_id"], "status": "done"}
    assert rest(http, sign, "GET", "/api/v1/inbox").json() == []

    sent = rest(http, sign, "GET", "/api/v1/sent").json()
    assert [(s["doc_id"], s["from_code"], s["to_code"]) for s in sent] == [
        (pushed["doc_id"], G22, H41)
    ]
    one = rest(http, sign, "GET", f"/api/v1/sent/{pushed['doc_id']}").json()
    assert one == sent
    assert rest(http, sign, "GET", f"/api/v1/sent?doc_id={pushed['doc_id']}").json() == sent
    timeline = rest(http, sign, "GET", f"/api/v1/documents/{pushed['doc_id']}/timeline").json()
    assert [e["event"] for e in timeline] == ["queued→available"]


def test_unknown_ids_are_404(http: TestClient, sign: Signer) -> None:
    error(rest(http, sign, "GET", "/api/v1/sent/nope"), 404, "not_found")
    error(rest(http, sign, "GET", "/api/v1/documents/nope/timeline"), 404)
    error(rest(http, sign, "GET", "/api/v1/inbox/nope/package"), 404)


def test_timeline_is_for_the_sender_only(http: TestClient, sign: Signer) -> None:
    doc_id = rest(http, sign, "POST", "/api/v1/packages", body=PACKAGE).json()["doc_id"]
    other = {"system_id": "other.system", "secret": "other-secret"}
    error(rest(http, sign, "GET", f"/api/v1/documents/{doc_id}/timeline", **other), 404)


def test_agencies(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    codes = [a["code"] for a in rest(http, sign, "GET", "/api/v1/agencies").json()]
    assert codes == [G22, H41]
    body = json.dumps({"code": "000.03.00.H41", "name": "Sở Tư pháp", "mobile": "1"}).encode()
    r = rest(http, sign, "POST", "/api/v1/agencies", body=body)
    assert r.status_code == 201
    assert r.json()["extra"] == {"mobile": "1"}
    assert hub.agencies["000.03.00.H41"][1].name == "Sở Tư pháp"
    assert rest(http, sign, "DELETE", "/api/v1/agencies/000.03.00.H41").status_code == 204
    error(rest(http, sign, "DELETE", "/api/v1/agencies/000.03.00.H41"), 404)


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":"a"}',
        b'{"code":"a","name":"b","admin":true}',
        b"not json",
        b'{"code":"../x","name":"n"}',
    ],
)
def test_agency_body_is_validated(http: TestClient, sign: Signer, body: bytes) -> None:
    error(rest(http, sign, "POST", "/api/v1/agencies", body=body), 400, "request.body")


def test_ack_body_is_validated(http: TestClient, sign: Signer) -> None:
    error(rest(http, sign, "POST", "/api/v1/inbox/x/ack", body=b'{"status":"read"}'), 400)


def test_bad_query_parameter(http: TestClient, sign: Signer) -> None:
    error(rest(http, sign, "GET", "/api/v1/inbox?kind=memo"), 400, "request.invalid")


def test_same_credentials_as_the_facade_but_method_and_path_signed(
    http: TestClient, sign: Signer, audit_events: list[SecurityEvent]
) -> None:
    # A VXP-style signature without method/path is refused on REST.
    r = http.get("/api/v1/inbox", headers=sign())
    err = error(r, 401, "auth.failed")
    assert "method và path" in err["message"]
    # A signature for one resource cannot be replayed against another.
    r = rest(http, sign, "GET", "/api/v1/inbox?kind=status", signed_path="/api/v1/inbox")
    error(r, 401)
    assert [e.api for e in audit_events] == ["rest", "rest"]


def test_body_must_be_covered_by_hash_file(http: TestClient, sign: Signer) -> None:
    headers = sign(
        {"method": "POST", "path": "/api/v1/packages"},
        hash_file=hashlib.sha256(b"<other/>").hexdigest(),
    )
    error(http.post("/api/v1/packages", headers=headers, content=PACKAGE), 401)
    headers = sign({"method": "POST", "path": "/api/v1/packages"})
    error(http.post("/api/v1/packages", headers=headers, content=PACKAGE), 401)


def test_rest_auth_failure_hides_the_reason(http: TestClient, sign: Signer) -> None:
    err = error(rest(http, sign, "GET", "/api/v1/inbox", secret="wrong"), 401)
    assert err == {"code": "auth.failed", "message": "Xác thực thất bại"}


def test_rest_package_cap(http: TestClient, sign: Signer) -> None:
    big = b"<x>" + b"a" * (64 * 1024) + b"</x>"
    error(rest(http, sign, "POST", "/api/v1/packages", body=big), 413, "request.too_large")


def test_rest_service_outage(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    hub.fail_with = StoreUnavailable("down")
    error(rest(http, sign, "GET", "/api/v1/inbox"), 503, "store.unavailable")


def test_rest_unknown_path_is_json(http: TestClient, sign: Signer) -> None:
    error(rest(http, sign, "GET", "/api/v1/nothing-here"), 404, "not_found")
    error(rest(http, sign, "PUT", "/api/v1/inbox"), 404, "not_found")


def test_openapi_and_docs(http: TestClient) -> None:
    spec = http.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/packages",
        "/api/v1/inbox",
        "/api/v1/inbox/{delivery_id}/package",
        "/api/v1/inbox/{delivery_id}/ack",
        "/api/v1/sent",
        "/api/v1/sent/{doc_id}",
        "/api/v1/documents/{doc_id}/timeline",
        "/api/v1/agencies",
        "/api/v1/agencies/{code}",
    ):
        assert path in paths, path
    assert not any(p.startswith("/{") for p in paths)  # the façade's catch-all is hidden
    assert "swagger" in http.get("/api/v1/docs").text.lower()


def test_health_and_readiness(http: TestClient, app: FastAPI, ready: dict[str, Any]) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200
    ready["value"] = False
    assert http.get("/readyz").status_code == 503
    ready["value"] = RuntimeError("database unreachable")
    r = http.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "not ready"}  # the reason is for operators only
    with TestClient(app, client=("127.0.0.1", 50123)) as local:  # loopback, no admin token
        assert local.get("/readyz").json()["reason"] == "RuntimeError: database unreachable"


def test_metrics_count_by_operation_and_outcome(
    http: TestClient, app: FastAPI, sign: Signer, registry: CollectorRegistry, clock: Clock
) -> None:
    http.post("/getAgenciesList", headers=sign())
    http.post("/getAgenciesList", headers=sign(secret="wrong"))
    rest(http, sign, "GET", "/api/v1/inbox")

    def count(api: str, op: str, outcome: str) -> float | None:
        return registry.get_sample_value(
            "lienthong_http_requests_total", {"api": api, "operation": op, "outcome": outcome}
        )

    assert count("vxp", "getAgenciesList", "ok") == 1
    assert count("vxp", "getAgenciesList", "401") == 1
    assert count("rest", "GET /api/v1/inbox", "ok") == 1
    assert http.get("/metrics").status_code == 403  # operators only (loopback, no token)
    with TestClient(app, client=("127.0.0.1", 50123)) as local:
        text = local.get("/metrics").text
    assert "lienthong_http_request_seconds_bucket" in text
    assert 'operation="getAgenciesList"' in text
    assert SYSTEM not in text  # no per-system label: bounded cardinality


def test_push_with_signed_from(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    def push(from_code: str) -> Any:
        params = {"method": "POST", "path": "/api/v1/packages", "from": from_code}
        headers = sign(params, hash_file=hashlib.sha256(PACKAGE).hexdigest())
        return http.post("/api/v1/packages", headers=headers, content=PACKAGE)

    error(push("000.00.00.X99"), 403, "auth.forbidden")
    assert push(H41).status_code == 201
    assert next(iter(hub.deliveries.values())).from_code == H41


def test_rest_bug_is_a_json_500_without_the_exception_text(
    http: TestClient, sign: Signer, hub: FakeHub
) -> None:
    hub.fail_with = RuntimeError("boom: secret-looking detail")
    r = rest(http, sign, "GET", "/api/v1/inbox")
    assert r.headers["content-type"].startswith("application/json")
    err = error(r, 500, "internal")
    assert "boom" not in json.dumps(err)
