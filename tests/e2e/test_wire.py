"""The real hub process spoken to at the raw HTTP level: the SDK's captured requests, and REST.

**Captured SDK requests.** ``tests/integration/http/captured_requests.json`` holds the header
lists the unmodified SDKVXP 2.0.1 sent, byte for byte, in order. Each one is replayed here as
the two test systems: the same header names in the same order, transport headers verbatim
(``Expect: 100-continue``, ``Cache-Control``, ``Accept``…), the parameters changed only where the
test must (agency codes, docIds), then re-signed with the system's secret and a fresh
timestamp through :func:`hub.vxp.wire.sign_headers` — whose key list must equal the SDK's.
``http.client`` puts the headers on the wire exactly as listed (no added ``Host`` /
``Accept-Encoding``).

**REST** ``/api/v1``: push, inbox, package, ack, sent, timeline, against the same process.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    ORGAN_ID,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    SYSTEM_B,
    HubProcess,
    edoc_for,
    spliced,
    wait_for,
)

from hub.vxp.wire import (
    HASH_HEADER,
    JSON_CT,
    PREFIX,
    SIGN_HEADER_KEY,
    format_timestamp,
    lossy_hash_file,
    sign_headers,
)
from tests.factories import make_status

pytestmark = pytest.mark.e2e

CAPTURED = json.loads(
    (Path(__file__).parents[1] / "integration" / "http" / "captured_requests.json").read_text(
        "utf-8"
    )
)
REQUESTS: dict[int, dict[str, Any]] = {r["n"]: r for r in CAPTURED["requests"]}
#: Map entries sign_headers computes itself (the rest are the operation's parameters).
_COMPUTED = {"systemid", "timestamp", "Content-Type", "hash-file"}
_DERIVED = {"XroadVnpt-sign-header-key", "XroadVnpt-sign-header", HASH_HEADER, "XroadVnpt-version"}
OK = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success"}


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def replay(
    hub: HubProcess,
    n: int,
    system: str,
    secret: str,
    *,
    params: dict[str, str] | None = None,
    package: bytes | None = None,
) -> Reply:
    """Capture ``n`` as ``system``: parameters overridden by ``params`` (only ones the SDK
    sent), ``package`` as the sendEdoc body (+ CR LF, lossy hash-file), signed now."""
    req = REQUESTS[n]
    captured: list[tuple[str, str]] = [(k, v) for k, v in req["headers"]]
    names = [k for k, _ in captured]
    sent = {
        k.removeprefix(PREFIX): v
        for k, v in captured
        if k.startswith(PREFIX) and k not in _DERIVED and k.removeprefix(PREFIX) not in _COMPUTED
    }
    for key, value in (params or {}).items():
        assert key in sent, f"the SDK does not send {key} in {req['operation']}"
        sent[key] = value
    if package is not None:
        assert f"{PREFIX}hash-file" in names
        body = package + b"\r\n"
    else:
        body = req["body"]["text"].encode()
    signed = sign_headers(
        system_id=system,
        secret=secret,
        timestamp=format_timestamp(dt.datetime.now(dt.UTC)),
        content_type=dict(captured)[f"{PREFIX}Content-Type"],
        params=sent,
        hash_file=lossy_hash_file(package) if package is not None else None,
    )
    values = dict(signed)
    # The same header set the SDK sent, and the same signed key list.
    assert set(values) == {k for k in names if k in values or k.startswith(PREFIX)}
    assert values[SIGN_HEADER_KEY] == dict(captured)[SIGN_HEADER_KEY]
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    try:
        conn.putrequest(req["method"], req["path"], skip_host=True, skip_accept_encoding=True)
        for name, value in captured:
            if name in values:
                value = values[name]
            elif name == "Host":
                value = f"127.0.0.1:{hub.port}"
            elif name == "Content-Length":
                value = str(len(body))
            conn.putheader(name, value.encode("utf-8"))
        conn.endheaders(body if body or "Content-Length" in names else None)
        response = conn.getresponse()
        data = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    assert "content-encoding" not in headers, "the SDK cannot read a compressed reply"
    return Reply(response.status, headers, data)


def test_captured_sdk_session_between_two_systems(hub: HubProcess) -> None:
    package, data = edoc_for(AGENCY_A, [AGENCY_B])

    r = replay(hub, 1, SYSTEM_A, SECRET_A)  # getAgenciesList
    codes = {a["code"] for a in r.json()["data"]}
    assert {AGENCY_A, AGENCY_B} <= codes

    r = replay(  # sendEdoc
        hub,
        2,
        SYSTEM_A,
        SECRET_A,
        params={"from": AGENCY_A, "to": json.dumps([AGENCY_B])},
        package=data,
    )
    assert r.status == 200, r.body
    body = r.json()
    assert {k: body[k] for k in OK} == OK
    doc_id = body["DocId"]

    (item,) = wait_for(  # getReceivedEdocList
        lambda: replay(hub, 3, SYSTEM_B, SECRET_B).json()["data"], what="B's inbox"
    )
    assert (item["from"], item["to"], item["messageType"]) == (AGENCY_A, AGENCY_B, "edoc")
    assert replay(hub, 9, SYSTEM_B, SECRET_B).json() == {**OK, "count": 1}  # countReceiveEdoc

    r = replay(hub, 4, SYSTEM_B, SECRET_B, params={"docId": item["docId"]})  # getEdoc
    got = base64.b64decode(r.json()["data"])
    assert f"<edXML:OrganId>{ORGAN_ID}</edXML:OrganId>".encode() in spliced(data, got)

    r = replay(hub, 10, SYSTEM_B, SECRET_B, params={"docId": item["docId"]})  # downloadEdoc
    assert (r.status, r.body) == (200, got)

    r = replay(hub, 5, SYSTEM_B, SECRET_B, params={"docId": item["docId"]})  # updateStatus
    assert r.json() == OK
    assert replay(hub, 3, SYSTEM_B, SECRET_B).json()["data"] == []

    r = replay(hub, 6, SYSTEM_A, SECRET_A, params={"docId": doc_id})  # getSentEdocList
    (row,) = r.json()["data"]
    assert (row["senderDocId"], row["receiverDocId"], row["sendStatus"]) == (
        doc_id,
        item["docId"],
        "done",
    )

    # sendEdoc of a status (no "to": the hub routes it to the ResponseFor agency).
    status = make_status(
        sender=AGENCY_B,
        status_code="02",
        response_to=AGENCY_A,
        document_id=package.header.document_id,
        description="Đã đến",
    )
    r = replay(hub, 7, SYSTEM_B, SECRET_B, params={"from": AGENCY_B}, package=status)
    assert r.json()["status"] == "OK", r.body
    (st,) = wait_for(  # getReceivedEdocList (status)
        lambda: replay(hub, 8, SYSTEM_A, SECRET_A).json()["data"], what="A's status inbox"
    )
    assert (st["from"], st["messageType"]) == (AGENCY_B, "status")
    r = replay(hub, 5, SYSTEM_A, SECRET_A, params={"docId": st["docId"]})
    assert r.json() == OK
    (row,) = replay(hub, 6, SYSTEM_A, SECRET_A, params={"docId": doc_id}).json()["data"]
    assert row["receiveStatus"] == "02"

    units = replay(hub, 11, SYSTEM_A, SECRET_A).json()  # getSynchronizeUnit
    assert {u["code"] for u in units["data"]} >= {AGENCY_A, AGENCY_B}
    qd20 = replay(hub, 12, SYSTEM_A, SECRET_A).json()  # getAgenciesListQD20 level 1
    assert qd20["status"] == "OK"
    assert qd20["data"]

    # 15: signed with a wrong secret.
    r = replay(hub, 15, SYSTEM_A, "demo-secret")
    assert (r.status, r.json()) == (
        401,
        {"status": "FAIL", "ErrorCode": "401", "ErrorDesc": "Xác thực thất bại", "data": []},
    )


# --- REST /api/v1 ------------------------------------------------------------------------------


def rest(
    hub: HubProcess, system: str, secret: str, method: str, path: str, body: bytes = b""
) -> httpx.Response:
    headers = sign_headers(
        system_id=system,
        secret=secret,
        timestamp=format_timestamp(dt.datetime.now(dt.UTC)),
        content_type=JSON_CT,
        params={"method": method, "path": path},
        hash_file=hashlib.sha256(body).hexdigest() if body else None,
    )
    return httpx.request(method, hub.url + path, headers=headers, content=body or None, timeout=30)


def test_rest_push_inbox_package_ack_sent_timeline(hub: HubProcess) -> None:
    _, data = edoc_for(AGENCY_B, [AGENCY_A])
    r = rest(hub, SYSTEM_B, SECRET_B, "POST", "/api/v1/packages", data)
    assert r.status_code == 201, r.text
    pushed = r.json()
    assert (pushed["kind"], pushed["duplicate"]) == ("edoc", False)
    assert pushed["digest"] == hashlib.sha256(data).hexdigest()
    (recipient,) = pushed["recipients"]
    assert recipient["route"] == "local"
    again = rest(hub, SYSTEM_B, SECRET_B, "POST", "/api/v1/packages", data)
    assert (again.status_code, again.json()["doc_id"]) == (200, pushed["doc_id"])

    delivery = recipient["delivery_id"]
    inbox = wait_for(
        lambda: rest(hub, SYSTEM_A, SECRET_A, "GET", "/api/v1/inbox?kind=edoc").json(),
        what="A's REST inbox",
    )
    assert [i["delivery_id"] for i in inbox] == [delivery]
    count = rest(hub, SYSTEM_A, SECRET_A, "GET", "/api/v1/inbox/count").json()
    assert count == {"kind": "edoc", "count": 1}
    # B cannot read A's delivery.
    denied = rest(hub, SYSTEM_B, SECRET_B, "GET", f"/api/v1/inbox/{delivery}/package")
    assert denied.status_code in (403, 404), denied.text
    assert "error" in denied.json()

    pkg = rest(hub, SYSTEM_A, SECRET_A, "GET", f"/api/v1/inbox/{delivery}/package")
    assert pkg.status_code == 200
    assert pkg.headers["x-delivery-id"] == delivery
    assert ORGAN_ID.encode() in spliced(data, pkg.content)

    ack = rest(
        hub, SYSTEM_A, SECRET_A, "POST", f"/api/v1/inbox/{delivery}/ack", b'{"status":"done"}'
    )
    assert ack.json() == {"delivery_id": delivery, "status": "done"}
    assert rest(hub, SYSTEM_A, SECRET_A, "GET", "/api/v1/inbox").json() == []

    (sent,) = rest(hub, SYSTEM_B, SECRET_B, "GET", f"/api/v1/sent/{pushed['doc_id']}").json()
    assert (sent["delivery_id"], sent["send_status"]) == (delivery, "done")
    timeline = rest(
        hub, SYSTEM_B, SECRET_B, "GET", f"/api/v1/documents/{pushed['doc_id']}/timeline"
    ).json()
    assert timeline, "an empty timeline"
    assert (
        rest(hub, SYSTEM_A, SECRET_A, "GET", f"/api/v1/sent/{pushed['doc_id']}").status_code == 404
    )

    # The REST signature covers method and path: a GET signature does not open another path.
    headers = sign_headers(
        system_id=SYSTEM_A,
        secret=SECRET_A,
        timestamp=format_timestamp(dt.datetime.now(dt.UTC)),
        content_type=JSON_CT,
        params={"method": "GET", "path": "/api/v1/inbox"},
    )
    r = httpx.get(hub.url + "/api/v1/sent", headers=headers, timeout=30)
    assert r.status_code == 401
    assert r.json()["error"]["code"]


def test_health_readiness_and_metrics(hub: HubProcess) -> None:
    assert httpx.get(hub.url + "/healthz", timeout=10).status_code == 200
    assert httpx.get(hub.url + "/readyz", timeout=10).status_code == 200
    metrics = httpx.get(hub.url + "/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "# TYPE" in metrics.text
    # the process's own figures, and its start-up heap frozen out of full collections
    assert "process_cpu_seconds_total" in metrics.text
    assert 'python_gc_collections_total{generation="2"}' in metrics.text
    frozen = [
        line for line in metrics.text.splitlines() if line.startswith("python_gc_frozen_objects ")
    ]
    assert frozen
    assert float(frozen[0].split()[1]) > 10_000
