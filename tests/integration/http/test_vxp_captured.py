"""Replay of the requests the unmodified SDKVXP 2.0.1 sent (vxp-captured-requests.md).

The header lists in ``captured_requests.json`` are copied byte for byte from the capture
(system ``demo.system``, secret ``demo-secret``; the capture machine ran in UTC). They are
replayed against the façade with the server clock frozen at the capture time: every request
the SDK signed with the right secret must authenticate, the one signed with a wrong secret
must not, and each operation must answer what the SDK reported as success.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_fakes import H41, SYSTEM, Clock, Delivery, FakeHub

from hub.edxml.model import MessageKind
from hub.services.contracts import SystemCredentials
from hub.vxp.verify import verify_request
from hub.vxp.wire import parse_timestamp

CAPTURED = json.loads((Path(__file__).parent / "captured_requests.json").read_text("utf-8"))
REQUESTS: list[dict[str, Any]] = CAPTURED["requests"]
DOC_ID = "eb239dee-9071-46d3-a02b-54e7cde60d13"
STORED = b'<?xml version="1.0" encoding="UTF-8"?>\r\n<edXML>captured</edXML>'
#: Transport headers the test client sets itself.
_TRANSPORT = {"host", "content-length", "connection", "expect"}


def _headers(req: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in req["headers"] if k.lower() not in _TRANSPORT]


def _signed_at(req: dict[str, Any]) -> dt.datetime:
    ts = next(v for k, v in req["headers"] if k == "XroadVnpt-timestamp")
    return parse_timestamp(ts, "UTC")


@pytest.fixture
def seeded(hub: FakeHub) -> FakeHub:
    """The state the capture's server had: one delivery (and sent row) with the captured id."""
    hub.deliveries[DOC_ID] = Delivery(
        DOC_ID, DOC_ID, SYSTEM, "000.00.00.G22", H41, MessageKind.EDOC, STORED
    )
    return hub


def replay(http: TestClient, clock: Clock, req: dict[str, Any], body: bytes | None = None) -> Any:
    clock.now = _signed_at(req) + dt.timedelta(seconds=1)
    if body is None:
        body = req["body"]["text"].encode()
    return http.request(
        req["method"], "http://testserver" + req["path"], headers=_headers(req), content=body
    )


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: f"{r['n']}-{r['operation']}")
def test_captured_signature_verdicts(req: dict[str, Any]) -> None:
    """The pure verifier agrees with the capture's HMAC verdicts, header names as captured."""
    creds = SystemCredentials(SYSTEM, ("demo-secret",), True, 900, "UTC")
    raw = [(k.encode(), v.encode()) for k, v in req["headers"]]
    now = _signed_at(req) + dt.timedelta(seconds=1)
    if req["hmac"] == "ok":
        verified = verify_request(raw, {SYSTEM: creds}.get, now)
        assert verified.system_id == SYSTEM
    else:
        with pytest.raises(Exception, match="Authentication failed") as exc:
            verify_request(raw, {SYSTEM: creds}.get, now)
        assert exc.value.details["reason"] == "bad HMAC"  # type: ignore[attr-defined]


def _by_n(n: int) -> dict[str, Any]:
    return next(r for r in REQUESTS if r["n"] == n)


def test_replay_of_the_whole_session(http: TestClient, clock: Clock, seeded: FakeHub) -> None:
    ok = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success"}

    r = replay(http, clock, _by_n(1))  # getAgenciesList
    assert r.json()["data"][0]["code"] == "000.00.00.G22"

    r = replay(http, clock, _by_n(3))  # getReceivedEdocList (edoc)
    body = r.json()
    assert {k: body[k] for k in ok} == ok
    assert [i["docId"] for i in body["data"]] == [DOC_ID]

    r = replay(http, clock, _by_n(4))  # getEdoc
    assert base64.b64decode(r.json()["data"]) == STORED

    r = replay(http, clock, _by_n(5))  # updateStatus done
    assert r.json() == ok
    assert seeded.deliveries[DOC_ID].state == "done"

    r = replay(http, clock, _by_n(6))  # getSentEdocList
    (row,) = r.json()["data"]
    assert (row["senderDocId"], row["receiveStatus"]) == (DOC_ID, "done")

    r = replay(http, clock, _by_n(8))  # getReceivedEdocList (status)
    assert r.json()["data"] == []

    seeded.deliveries[DOC_ID].state = "available"
    r = replay(http, clock, _by_n(9))  # countReceiveEdoc
    assert r.json() == {**ok, "count": 1}

    r = replay(http, clock, _by_n(10))  # downloadEdoc (GET, raw bytes)
    assert (r.status_code, r.content) == (200, STORED)

    r = replay(http, clock, _by_n(11))  # getSynchronizeUnit
    assert isinstance(r.json()["data"][0]["version"], int)

    r = replay(http, clock, _by_n(12))  # getAgenciesListQD20
    assert r.json()["data"][0]["code102"] == "000.00.00.G22"

    # 13 and 14: one SDK object, same timestamp, same signature, 1.5 s apart — both accepted.
    first = replay(http, clock, _by_n(13))
    clock.now += dt.timedelta(seconds=1.5)
    second = http.post("/getReceivedEdocList", headers=_headers(_by_n(14)))
    assert first.json()["status"] == second.json()["status"] == "OK"

    r = replay(http, clock, _by_n(15))  # signed with a wrong secret
    assert r.status_code == 401
    assert r.json() == {
        "status": "FAIL",
        "ErrorCode": "401",
        "ErrorDesc": "Xác thực thất bại",
        "data": [],
    }


def test_replayed_send_edoc_authenticates_then_checks_the_body(
    http: TestClient, clock: Clock, seeded: FakeHub
) -> None:
    # Request 2's 3 698-byte package is not part of the capture: the HMAC verifies (the
    # refusal is about the body, not the signature) and nothing is stored.
    r = replay(http, clock, _by_n(2), body=b"<edXML/>\r\n")
    assert r.status_code == 401
    assert r.json()["ErrorDesc"].endswith("hash-file does not match the package")
    assert not any(name == "push" for name, _ in seeded.calls)


def test_replayed_send_edoc_of_a_status_sample(
    http: TestClient, clock: Clock, seeded: FakeHub, shared_samples: Path | None
) -> None:
    if shared_samples is None:
        pytest.skip("shared SDK samples folder absent: status_processing_05.edxml not available")
    package = (shared_samples / "status_processing_05.edxml").read_bytes()
    r = replay(http, clock, _by_n(7), body=package + b"\r\n")  # request 7: 1 619 bytes
    assert len(package) + 2 == 1619
    body = r.json()
    assert (body["status"], body["ErrorCode"]) == ("OK", "0"), body
    pushed = [args for name, args in seeded.calls if name == "push"]
    assert pushed == [(SYSTEM, len(package))]
    stored = next(d for d in seeded.deliveries.values() if d.doc_id == body["DocId"])
    assert stored.data == package
    assert stored.kind is MessageKind.STATUS


def test_captured_requests_go_stale_without_a_raised_max_age(
    http: TestClient, clock: Clock, seeded: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    req = _by_n(13)
    clock.now = _signed_at(req) + dt.timedelta(minutes=16)
    r = http.post("/getReceivedEdocList", headers=_headers(req))
    assert r.status_code == 401
    assert "timestamp too old" in r.json()["ErrorDesc"]
    # A system configured for long-lived SDK objects (frozen timestamps) keeps working.
    seeded.systems[SYSTEM] = SystemCredentials(SYSTEM, ("demo-secret",), True, 86400, "UTC")
    caplog.set_level(logging.WARNING, logger="lienthong.security")
    r = http.post("/getReceivedEdocList", headers=_headers(req))
    assert r.json()["status"] == "OK"
    events = [json.loads(rec.getMessage()) for rec in caplog.records]
    assert [e["event"] for e in events] == ["request_refused", "stale_timestamp_accepted"]
    warning = events[1]
    assert (warning["system_id"], warning["age_s"]) == (SYSTEM, 960)
