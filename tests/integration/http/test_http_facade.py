"""The VXP façade over an in-memory service: every operation, success and each refusal."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_fakes import G22, H41, SECRET, SYSTEM, Clock, FakeHub, Signer

from adapters.http import SecurityEvent
from hub.errors import StoreUnavailable
from hub.vxp.wire import OCTET_CT, lossy_hash_file

PACKAGE = (
    '<?xml version="1.0" encoding="UTF-8"?>\r\n<edXML><Subject>Văn bản thử</Subject></edXML>'
).encode()


def call(
    http: TestClient,
    sign: Signer,
    op: str,
    params: dict[str, str] | None = None,
    *,
    body: bytes = b"",
    method: str = "POST",
    path_prefix: str = "",
    **kw: Any,
) -> Any:
    headers = sign(params, **kw)
    url = f"http://testserver{path_prefix}/{op}"  # absolute: "//op" must not read as a host
    return http.request(method, url, headers=headers, content=body or None)


def send(http: TestClient, sign: Signer, data: bytes = PACKAGE, **kw: Any) -> Any:
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "to": f'["{H41}"]'}
    params.update(kw.pop("params", {}))
    return call(
        http,
        sign,
        "sendEdoc",
        params,
        body=kw.pop("body", data + b"\r\n"),
        content_type=OCTET_CT,
        hash_file=kw.pop("hash_file", lossy_hash_file(data)),
        **kw,
    )


def envelope(response: Any) -> dict[str, Any]:
    assert response.content.isascii(), "VXP replies are ASCII-only JSON"
    body = response.json()
    assert isinstance(body, dict)
    for key in ("status", "ErrorCode", "ErrorDesc"):
        assert isinstance(body[key], str), key
    return body


def assert_ok(response: Any) -> dict[str, Any]:
    body = envelope(response)
    assert response.status_code == 200, body
    assert (body["status"], body["ErrorCode"], body["ErrorDesc"]) == ("OK", "0", "Success")
    return body


def assert_fail(response: Any, status: int, desc_part: str = "") -> dict[str, Any]:
    body = envelope(response)
    assert response.status_code == status, body
    assert body["status"] == "FAIL"
    assert body["ErrorCode"] == str(status)
    assert desc_part in body["ErrorDesc"]
    return body


def no_nulls(items: list[dict[str, Any]]) -> None:
    for item in items:
        assert all(v is not None for v in item.values()), item


# --- sendEdoc -----------------------------------------------------------------------------------


def test_send_edoc_raw_body_with_crlf(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    body = assert_ok(send(http, sign))
    assert body["DocId"]
    (delivery,) = hub.deliveries.values()
    assert delivery.data == PACKAGE  # exactly one trailing CR LF stripped
    assert hub.calls[0] == ("push", (SYSTEM, len(PACKAGE)))


def test_send_edoc_package_ending_in_crlf_keeps_it(
    http: TestClient, sign: Signer, hub: FakeHub
) -> None:
    data = PACKAGE + b"\r\n"
    assert_ok(send(http, sign, data))
    (delivery,) = hub.deliveries.values()
    assert delivery.data == data


def test_send_edoc_without_trailing_crlf(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    assert_ok(send(http, sign, body=PACKAGE))
    assert next(iter(hub.deliveries.values())).data == PACKAGE


def test_send_edoc_multipart_file_doc(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    headers = [
        (k, v)
        for k, v in sign(
            {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"},
            content_type=OCTET_CT,
            hash_file=lossy_hash_file(PACKAGE),
        )
        if k != "Content-Type"
    ]
    boundary = "----lienthong42"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nx\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file_doc"; '
            f'filename="a.edxml"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + PACKAGE
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers.append(("Content-Type", f"multipart/form-data; boundary={boundary}"))
    assert_ok(http.post("/sendEdoc", headers=headers, content=form))
    assert next(iter(hub.deliveries.values())).data == PACKAGE


def test_send_edoc_multipart_without_file_doc(http: TestClient, sign: Signer) -> None:
    headers = [(k, v) for k, v in sign(content_type=OCTET_CT, hash_file="0") if k != "Content-Type"]
    headers.append(("Content-Type", "multipart/form-data; boundary=b"))
    form = b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n'
    body = assert_fail(http.post("/sendEdoc", headers=headers, content=form), 400, "file_doc")
    assert body["DocId"] == ""


def test_send_edoc_is_idempotent(
    http: TestClient, sign: Signer, hub: FakeHub, clock: Clock
) -> None:
    first = assert_ok(send(http, sign))["DocId"]
    clock.advance(2)
    again = assert_ok(send(http, sign))["DocId"]
    assert first == again
    assert len(hub.deliveries) == 1


def test_send_edoc_hash_file_mismatch(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    body = assert_fail(send(http, sign, hash_file=lossy_hash_file(b"other")), 401, "hash-file")
    assert body["DocId"] == ""
    assert hub.calls == []


def test_send_edoc_hash_file_must_be_signed(http: TestClient, sign: Signer) -> None:
    r = call(http, sign, "sendEdoc", {"from": G22}, body=PACKAGE, content_type=OCTET_CT)
    assert_fail(r, 401, "hash-file is not signed")


def test_send_edoc_too_large(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    big = b"<x>" + b"a" * (64 * 1024) + b"</x>"
    body = assert_fail(send(http, sign, big), 413)
    assert body["DocId"] == ""
    assert hub.calls == []


def test_send_edoc_too_large_streamed_without_length(http: TestClient, sign: Signer) -> None:
    big = b"a" * (70 * 1024)

    def chunks() -> Any:
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    headers = sign({"from": G22}, content_type=OCTET_CT, hash_file=lossy_hash_file(big))
    assert_fail(http.post("/sendEdoc", headers=headers, content=chunks()), 413)


def test_send_edoc_from_an_agency_not_hosted(http: TestClient, sign: Signer) -> None:
    assert_fail(send(http, sign, params={"from": "000.00.00.X99"}), 403, "X99")


def test_send_edoc_not_xml(http: TestClient, sign: Signer) -> None:
    assert_fail(send(http, sign, b"plain text"), 400)


def test_send_edoc_bad_messagetype(http: TestClient, sign: Signer) -> None:
    assert_fail(send(http, sign, params={"messagetype": "memo"}), 400, "messagetype")


def test_send_edoc_reply_is_ascii_even_for_vietnamese_errors(
    http: TestClient, sign: Signer
) -> None:
    r = send(http, sign, b"plain text")
    assert r.content.isascii()
    assert "\\u" in r.text
    assert r.json()["ErrorDesc"] == "không phải XML (dòng 1)"


def test_send_edoc_get_is_refused(http: TestClient, sign: Signer) -> None:
    assert_fail(call(http, sign, "sendEdoc", method="GET"), 405)


# --- receiving side ------------------------------------------------------------------------------


def received(http: TestClient, sign: Signer, kind: str = "edoc") -> list[dict[str, Any]]:
    r = call(http, sign, "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": kind})
    data = assert_ok(r)["data"]
    assert isinstance(data, list)
    no_nulls(data)
    return data


def test_received_list_fetch_and_done(http: TestClient, sign: Signer) -> None:
    assert received(http, sign) == []
    doc_id = assert_ok(send(http, sign))["DocId"]
    (item,) = received(http, sign)
    assert item["from"] == G22
    assert item["to"] == H41
    assert item["messageType"] == "edoc"
    assert item["serviceType"] == "eDoc"
    assert item["created_time"] == "2026-11-21 05:05:45"
    assert received(http, sign, "status") == []
    count = assert_ok(call(http, sign, "countReceiveEdoc", {"servicetype": "eDoc"}, body=b"{}"))
    assert count["count"] == 1
    assert assert_ok(call(http, sign, "countReceiveStatus", body=b"{}"))["count"] == 0

    got = assert_ok(call(http, sign, "getEdoc", {"docId": item["docId"], "filePath": "/x"}))
    assert base64.b64decode(got["data"]) == PACKAGE
    r = call(http, sign, "downloadEdoc", {"docId": item["docId"]}, method="GET")
    assert r.status_code == 200
    assert r.content == PACKAGE

    upd = {"docId": item["docId"], "status": "done"}
    assert_ok(call(http, sign, "updateStatus", upd, body=b"{}"))
    assert_ok(call(http, sign, "updateStatus", upd, body=b"{}"))  # idempotent
    assert received(http, sign) == []

    rows = assert_ok(call(http, sign, "getSentEdocList", {"servicetype": "eDoc", "docId": doc_id}))[
        "data"
    ]
    no_nulls(rows)
    assert rows[0]["senderDocId"] == doc_id
    assert rows[0]["receiverDocId"] == item["docId"]
    assert rows[0]["receiveStatus"] == "done"
    assert "receivedTime" not in rows[0]  # None is omitted, never null


def test_received_list_bad_messagetype_has_empty_data(http: TestClient, sign: Signer) -> None:
    r = call(http, sign, "getReceivedEdocList", {"messagetype": "memo"})
    assert assert_fail(r, 400, "messagetype")["data"] == []


def test_get_edoc_unknown_and_foreign(http: TestClient, sign: Signer) -> None:
    assert_fail(call(http, sign, "getEdoc", {"docId": "nope"}, body=b"{}"), 404, "nope")
    assert_ok(send(http, sign))
    (item,) = received(http, sign)
    # another system cannot fetch it
    r = call(
        http,
        sign,
        "getEdoc",
        {"docId": item["docId"]},
        system_id="other.system",
        secret="other-secret",
    )
    assert_fail(r, 404)


def test_get_edoc_needs_doc_id(http: TestClient, sign: Signer) -> None:
    assert_fail(call(http, sign, "getEdoc", body=b"{}"), 400, "XroadVnpt-docId")


def test_get_edoc_lower_case_docid(http: TestClient, sign: Signer) -> None:
    assert_ok(send(http, sign))
    (item,) = received(http, sign)
    assert_ok(call(http, sign, "getEdoc", {"docid": item["docId"]}))


def test_doc_id_case_conflict_is_refused(http: TestClient, sign: Signer) -> None:
    r = call(http, sign, "updateStatus", {"docId": "a", "docid": "b", "status": "done"})
    assert_fail(r, 400, "docId/docid")


def test_download_edoc_errors_have_empty_bodies(http: TestClient, sign: Signer) -> None:
    r = call(http, sign, "downloadEdoc", {"docId": "nope"}, method="GET")
    assert (r.status_code, r.content) == (404, b"")
    r = call(http, sign, "downloadEdoc", {"docId": "nope"}, method="GET", secret="wrong")
    assert (r.status_code, r.content) == (401, b"")
    # downloadEdoc2: no authentication headers at all
    r = http.get("/downloadEdoc")
    assert (r.status_code, r.content) == (401, b"")


def test_update_status_bad_word(http: TestClient, sign: Signer) -> None:
    r = call(http, sign, "updateStatus", {"docId": "x", "status": "finished"})
    assert_fail(r, 400, "processing, done hoặc fail")


def test_update_status_fail_relists(http: TestClient, sign: Signer) -> None:
    assert_ok(send(http, sign))
    (item,) = received(http, sign)
    assert_ok(call(http, sign, "updateStatus", {"docId": item["docId"], "status": "fail"}))
    assert [i["docId"] for i in received(http, sign)] == [item["docId"]]


# --- agencies -----------------------------------------------------------------------------------


def test_agency_lists(http: TestClient, sign: Signer) -> None:
    r = call(http, sign, "getAgenciesList")
    data = assert_ok(r)["data"]
    no_nulls(data)
    assert data[0] == {
        "id": "1",
        "pid": "",
        "code": G22,
        "name": "Văn phòng Chính phủ",
        "mail": "vpcp@chinhphu.vn",
    }
    assert "V\\u0103n ph\\u00f2ng" in r.text
    qd20 = assert_ok(call(http, sign, "getAgenciesListQD20", {"level": "1"}))["data"]
    assert qd20[0]["code"] == "G22"
    assert qd20[0]["code102"] == G22
    units = assert_ok(call(http, sign, "getSynchronizeUnit"))["data"]
    no_nulls(units)
    assert units[1]["version"] == 3
    assert units[1]["deleted"] is False
    assert units[1]["isAgency"] is True
    assert units[1]["modifyDate"] == "2025-07-01"
    assert units[1]["centerCode"] == "H41"


def test_register_and_delete_agency(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    body = json.dumps(
        {
            "id": "",
            "pcode": H41,
            "code": "000.01.00.H41",
            "name": "Sở Nội vụ",
            "mail": "",
            "mobile": "0912",
            "fax": "",
        },
        ensure_ascii=False,
    ).encode()
    assert_ok(call(http, sign, "registerAgency", body=body))
    record = hub.agencies["000.01.00.H41"][1]
    assert (record.id, record.parent_code, record.name) == ("000.01.00.H41", H41, "Sở Nội vụ")
    assert record.extra == {"mobile": "0912"}
    assert_ok(call(http, sign, "deleteAgency", {"AgencyCode": "000.01.00.H41"}, body=b"{}"))
    assert hub.agencies == {}
    r = call(http, sign, "deleteAgency", {"AgencyCode": "000.01.00.H41"}, body=b"{}")
    assert_fail(r, 404)
    assert_fail(call(http, sign, "deleteAgency", body=b"{}"), 400, "AgencyCode")


def test_register_agency_conflict(http: TestClient, sign: Signer) -> None:
    body = b'{"code":"000.02.00.H41","name":"A"}'
    assert_ok(call(http, sign, "registerAgency", body=body))
    r = call(
        http, sign, "registerAgency", body=body, system_id="other.system", secret="other-secret"
    )
    assert_fail(r, 409)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "không phải JSON UTF-8"),
        (b"[]", "not a JSON object"),
        (b"\xff\xfe", "không phải JSON UTF-8"),
        (b'{"code":"a","name":"b","admin":"1"}', "unknown keys"),
        (b'{"code":"a","name":1}', "must be strings"),
        (b'{"code":"a","code":"b","name":"c"}', "duplicate key"),
        (b'{"name":"c"}', "thiếu code hoặc name"),
        (b'{"code":"../etc","name":"c"}', "malformed code"),
    ],
)
def test_register_agency_body_is_validated_strictly(
    http: TestClient, sign: Signer, body: bytes, why: str
) -> None:
    assert_fail(call(http, sign, "registerAgency", body=body), 400, why)


def test_small_body_cap(http: TestClient, sign: Signer) -> None:
    body = b'{"code":"a","name":"' + b"x" * 5000 + b'"}'
    assert_fail(call(http, sign, "registerAgency", body=body), 413)


# --- routing, framing, refusals --------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/vxp/api", "/", "/a/b/c"])
def test_route_on_last_segment(http: TestClient, sign: Signer, prefix: str) -> None:
    assert_ok(call(http, sign, "getAgenciesList", path_prefix=prefix))


def test_unknown_operation_is_a_json_404(http: TestClient, sign: Signer) -> None:
    body = assert_fail(call(http, sign, "getEverything"), 404, "getEverything")
    assert body["DocId"] == ""
    assert body["data"] == []
    assert_fail(http.get("/"), 404)


def test_wrong_method_is_a_json_405(http: TestClient, sign: Signer) -> None:
    assert_fail(call(http, sign, "getAgenciesList", method="PUT"), 405)


def test_missing_auth_headers(http: TestClient) -> None:
    body = assert_fail(http.post("/getReceivedEdocList"), 401, "missing")
    assert body["data"] == []


def test_bad_hmac_says_only_authentication_failed(
    http: TestClient,
    sign: Signer,
    audit_events: list[SecurityEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.security")
    r = call(http, sign, "getAgenciesList", secret="wrong")
    body = assert_fail(r, 401)
    assert body["ErrorDesc"] == "Xác thực thất bại"
    unknown = assert_fail(call(http, sign, "getAgenciesList", system_id="ghost"), 401)
    assert unknown["ErrorDesc"] == body["ErrorDesc"]
    reasons = [(e.reason, e.system_id, e.http_status, e.api) for e in audit_events]
    assert reasons == [
        ("bad HMAC", SYSTEM, 401, "vxp"),
        ("unknown system", "ghost", 401, "vxp"),
    ]
    assert audit_events[0].hash_header
    assert len(audit_events[0].hash_header) == 64
    logged = [json.loads(rec.getMessage()) for rec in caplog.records]
    assert [e["reason"] for e in logged] == ["bad HMAC", "unknown system"]
    assert all(SECRET not in rec.getMessage() for rec in caplog.records)
    assert all(e["hash_header"] for e in logged)


def test_stale_timestamp_names_the_reason(http: TestClient, sign: Signer, clock: Clock) -> None:
    headers = sign()
    clock.advance(901)
    assert_fail(http.post("/getAgenciesList", headers=headers), 401, "too old")


def test_frozen_sdk_timestamp_repeated_is_accepted(
    http: TestClient, sign: Signer, clock: Clock
) -> None:
    headers = sign({"servicetype": "eDoc", "messagetype": "edoc"})
    for _ in range(3):
        assert_ok(http.post("/getReceivedEdocList", headers=headers))
        clock.advance(60)


def test_loose_header_tampering(http: TestClient, sign: Signer) -> None:
    headers = [
        (k, "000.00.00.X99") if k == "XroadVnpt-from" else (k, v)
        for k, v in sign({"from": G22}, content_type=OCTET_CT, hash_file=lossy_hash_file(PACKAGE))
    ]
    assert_fail(http.post("/sendEdoc", headers=headers, content=PACKAGE), 401, "differs")


def test_service_outage_is_503_and_bug_is_500(http: TestClient, sign: Signer, hub: FakeHub) -> None:
    hub.fail_with = StoreUnavailable(
        "database down", message_vi="cơ sở dữ liệu không truy cập được"
    )
    assert_fail(call(http, sign, "getAgenciesList"), 503, "cơ sở dữ liệu")
    hub.fail_with = RuntimeError("boom")
    body = assert_fail(call(http, sign, "getReceivedEdocList"), 500, "lỗi nội bộ")
    assert body["data"] == []
    assert "boom" not in body["ErrorDesc"]
    r = call(http, sign, "downloadEdoc", {"docId": "x"}, method="GET")
    assert (r.status_code, r.content) == (500, b"")


def test_the_audit_hook_runs_off_the_event_loop(
    hub: FakeHub, clock: Clock, settings: Any, sign: Signer
) -> None:
    """The composition root's hook writes an audit row (a database transaction that may wait
    for SQLite's write lock): on the event loop it would stall every other request."""
    import asyncio

    from adapters.http import create_app

    on_loop: list[bool] = []

    def hook(event: SecurityEvent) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            on_loop.append(False)
        else:
            on_loop.append(True)

    app = create_app(hub, settings, clock=clock, audit=hook)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert_fail(call(client, sign, "getEdoc", {"docId": "x"}, secret="wrong"), 401)
        assert_fail(call(client, sign, "nothing-here"), 404)
        assert client.get("/api/v1/nothing-here").status_code == 404  # REST, catch-all
        assert client.get("/api/v1/inbox").status_code == 401  # REST, exception handler
        bad_kind = "/api/v1/inbox?kind=zzz"  # REST, validation handler
        signed = sign({"method": "GET", "path": bad_kind})
        assert client.get(bad_kind, headers=signed).status_code == 400
        assert_fail(call(client, sign, "getEdoc", method="PUT"), 405)
    assert len(on_loop) == 6
    assert not any(on_loop)


@pytest.mark.parametrize("op", ["registerAgency", "getSentEdocList", "getReceivedEdocList"])
def test_a_rest_signature_is_not_replayable_on_the_facade(
    http: TestClient, sign: Signer, hub: FakeHub, op: str
) -> None:
    """Headers captured from ``GET /api/v1/inbox`` (method and path signed) must not work as a
    façade operation, which signs neither the operation nor the registerAgency body."""
    rest_signed = {"method": "GET", "path": "/api/v1/inbox"}
    body = b'{"code":"009.00.00.H41","name":"X","pcode":"000.00.00.H41"}'
    assert_fail(call(http, sign, op, rest_signed, body=body), 401)
    assert "009.00.00.H41" not in {a.code for a in hub.list_agencies("demo.system")}
