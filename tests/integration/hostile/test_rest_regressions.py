"""Regressions found by the schemathesis run of ``/api/v1`` (one test per finding)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hostile_support import HostileHub, assert_clean_refusal


def test_a_percent_escaped_path_signed_as_sent_is_accepted(
    http: TestClient, site: HostileHub
) -> None:
    """A client signs the URL it sends; the hub compared the *decoded* path and refused every
    id with a non-ASCII or reserved character as a bad signature (401) instead of answering."""
    path = "/api/v1/sent/V%C4%83n%20b%E1%BA%A3n"  # "Văn bản"
    r = http.get(path, headers=site.a.rest_headers("GET", path))
    err = assert_clean_refusal(r, 404, api="rest")
    assert err["code"] == "not_found"
    decoded = "/api/v1/sent/Văn bản"  # the decoded form stays accepted (existing clients)
    r = http.get(path, headers=site.a.rest_headers("GET", decoded))
    assert_clean_refusal(r, 404, api="rest")


def test_the_signed_path_still_binds_the_resource(http: TestClient, site: HostileHub) -> None:
    path = "/api/v1/sent/V%C4%83n"
    r = http.get(path, headers=site.a.rest_headers("GET", "/api/v1/sent/other"))
    assert_clean_refusal(r, 401, api="rest")
    r = http.get(path, headers=site.a.rest_headers("GET", "/api/v1/sent/v%c4%83n"))
    assert_clean_refusal(r, 401, api="rest")  # escapes are compared exactly


def test_a_bad_json_body_names_the_field_and_the_problem(
    http: TestClient, site: HostileHub
) -> None:
    path = "/api/v1/inbox/any/ack"
    body = b'{"status":"archived"}'
    r = http.post(path, headers=site.a.rest_headers("POST", path, body), content=body)
    err = assert_clean_refusal(r, 400, api="rest")
    assert err["code"] == "request.body"
    assert "status" in err["message"]  # the field, in the Vietnamese message too
    assert err["details"]["errors"][0]["loc"] == ["status"]
    assert "archived" not in r.text  # the input is not echoed
    r = http.post(path, headers=site.a.rest_headers("POST", path))  # no body at all
    assert "Invalid JSON" in assert_clean_refusal(r, 400, api="rest")["message"]


def test_openapi_documents_every_answer(http: TestClient) -> None:
    """The published document states the error document for each error status (FastAPI's
    ``HTTPValidationError`` 422 was documented while 400 was answered), the success bodies,
    and request bodies that resolve inside the document (no dangling ``#/$defs``)."""
    doc = http.get("/api/v1/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "#/$defs/" not in str(doc)
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            for status in ("400", "401", "404", "413", "500", "503"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == error_ref, (method, path, status)
            ok = [s for s in responses if s.startswith("2")]
            assert ok, (method, path)
    push = doc["paths"]["/api/v1/packages"]["post"]["responses"]
    assert set(push) >= {"200", "201"}  # a repeated push answers 200
    ack = doc["paths"]["/api/v1/inbox/{delivery_id}/ack"]["post"]["requestBody"]
    status = ack["content"]["application/json"]["schema"]["properties"]["status"]
    assert status["enum"] == ["processing", "done", "fail"]
