"""The hub's VXP client against the hub's own façade, in-process: client signs, façade verifies.

Plus the client's wire exactness (headers compared with the SDK's, via httpx.MockTransport)
and its error translation (FAIL → PeerError, 5xx/transport → PeerUnavailable).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_fakes import G22, H41, SECRET, SYSTEM, Clock, FakeHub

from adapters.vxp_client import VxpClient
from hub.edxml.model import MessageKind
from hub.errors import PeerError, PeerUnavailable, StoreUnavailable
from hub.ports import PeerLink
from hub.services.contracts import TransportStatus

PACKAGE = '<?xml version="1.0"?>\r\n<edXML><Subject>Công văn số 1</Subject></edXML>'.encode()


def test_full_exchange_through_the_facade(vxp_client: VxpClient, hub: FakeHub) -> None:
    doc_id = vxp_client.send_edoc(PACKAGE, from_code=G22, to_codes=[H41])
    assert vxp_client.count_receive_edoc() == 1
    assert vxp_client.count_receive_status() == 0
    (item,) = vxp_client.get_received_edoc_list()
    assert (item.from_code, item.to, item.message_type) == (G22, H41, "edoc")
    assert vxp_client.get_edoc(item.doc_id) == PACKAGE
    assert vxp_client.download_edoc(item.doc_id) == PACKAGE
    vxp_client.update_status(item.doc_id, TransportStatus.DONE)
    vxp_client.update_status(item.doc_id, "done")  # idempotent
    assert vxp_client.get_received_edoc_list() == []
    (row,) = vxp_client.get_sent_edoc_list(doc_id)
    assert row["senderDocId"] == doc_id
    assert row["receiveStatus"] == "done"
    assert vxp_client.get_received_edoc_list(MessageKind.STATUS) == []


def test_same_package_twice_gives_the_same_doc_id(vxp_client: VxpClient, clock: Clock) -> None:
    first = vxp_client.send_edoc(PACKAGE, from_code=G22)
    clock.advance(1)
    assert vxp_client.send_edoc(PACKAGE, from_code=G22) == first


def test_binary_package_round_trips_byte_exact(vxp_client: VxpClient) -> None:
    data = b"<x>" + bytes(range(256)) + b"\r\n</x>\r\n"  # not UTF-8, ends in CR LF
    vxp_client.send_edoc(data, from_code=G22)
    (item,) = vxp_client.get_received_edoc_list()
    assert vxp_client.get_edoc(item.doc_id) == data
    assert vxp_client.download_edoc(item.doc_id) == data


def test_peer_link_port(vxp_client: VxpClient, hub: FakeHub) -> None:
    link: PeerLink = vxp_client
    status = b"<edXML><ResponseFor><OrganId>000.00.00.G22</OrganId></ResponseFor></edXML>"
    doc_id = link.send(status, from_code=H41, to_codes=[G22], kind=MessageKind.STATUS)
    hub_docs = {d.doc_id for d in hub.deliveries.values()}
    assert doc_id in hub_docs
    (item,) = vxp_client.get_received_edoc_list(MessageKind.STATUS)
    assert item.message_type == "status"


def test_agency_operations(vxp_client: VxpClient, hub: FakeHub) -> None:
    assert [a["code"] for a in vxp_client.get_agencies_list()] == [G22, H41]
    assert vxp_client.get_agencies_list()[0]["name"] == "Văn phòng Chính phủ"
    assert vxp_client.get_agencies_list_qd20()[0]["code102"] == G22
    units = vxp_client.get_synchronize_unit()
    assert (units[1]["version"], units[1]["deleted"]) == ("3", "false")
    vxp_client.register_agency(
        {"id": "", "pcode": H41, "code": "000.05.00.H41", "name": "Sở Y tế", "mail": ""}
    )
    assert hub.agencies["000.05.00.H41"][1].name == "Sở Y tế"
    vxp_client.delete_agency("000.05.00.H41")
    with pytest.raises(PeerError, match=r"000\.05\.00\.H41"):
        vxp_client.delete_agency("000.05.00.H41")


def test_fail_replies_become_peer_errors_with_the_desc(vxp_client: VxpClient) -> None:
    with pytest.raises(PeerError) as exc:
        vxp_client.get_edoc("nope")
    assert not isinstance(exc.value, PeerUnavailable)
    assert exc.value.details == {"ErrorCode": "404", "ErrorDesc": "không có nope"}
    with pytest.raises(PeerError, match="downloadEdoc nope"):
        vxp_client.download_edoc("nope")


def test_wrong_secret_is_a_peer_error(http: Any, clock: Clock) -> None:
    client = VxpClient("http://testserver", SYSTEM, "wrong", zone="UTC", http=http, clock=clock)
    with pytest.raises(PeerError, match="Xác thực thất bại"):
        client.get_agencies_list()


def test_stale_clock_on_the_client_side_is_refused(http: Any, clock: Clock) -> None:
    late = Clock(clock.now - dt.timedelta(hours=1))
    client = VxpClient("http://testserver", SYSTEM, SECRET, zone="UTC", http=http, clock=late)
    with pytest.raises(PeerError, match="timestamp too old"):
        client.count_receive_edoc()


def test_server_outage_is_peer_unavailable(vxp_client: VxpClient, hub: FakeHub) -> None:
    hub.fail_with = StoreUnavailable("down")
    with pytest.raises(PeerUnavailable, match="HTTP 503: down"):
        vxp_client.send_edoc(PACKAGE, from_code=G22)


def test_endpoint_prefix_and_trailing_slash(http: Any, clock: Clock) -> None:
    for endpoint in ("http://testserver/vxp/", "http://testserver/a/b"):
        client = VxpClient(endpoint, SYSTEM, SECRET, zone="UTC", http=http, clock=clock)
        assert client.count_receive_edoc() == 0


# --- wire exactness and error translation with a mock transport ------------------------------


class Recorder:
    def __init__(self, reply: bytes | Exception, status: int = 200) -> None:
        self.reply = reply
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.reply, Exception):
            raise self.reply
        return httpx.Response(self.status, content=self.reply)


def mock_client(
    recorder: Recorder,
    *,
    now: dt.datetime,
    zone: str = "Asia/Ho_Chi_Minh",
    system: str = "demo.system",
) -> VxpClient:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    return VxpClient("http://axis.example", system, SECRET, zone=zone, http=http, clock=lambda: now)


def xroad_headers(request: httpx.Request) -> list[tuple[str, str]]:
    """The SDK-relevant headers in wire order, names as sent."""
    keep = ("xroadvnpt-", "content-type", "user-agent")
    return [
        (k.decode(), v.decode())
        for k, v in request.headers.raw
        if k.decode().lower().startswith(keep)
    ]


OK_DOC = b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","DocId":"d-1"}'


def test_send_edoc_matches_worked_example_two_on_the_wire() -> None:
    rec = Recorder(OK_DOC)
    now = dt.datetime(2025, 11, 21, 2, 30, 15, 123000, tzinfo=dt.UTC)  # 09:30:15.123 ICT
    assert mock_client(rec, now=now).send_edoc(b"abc", from_code=G22) == "d-1"
    (req,) = rec.requests
    assert req.method == "POST"
    assert str(req.url) == "http://axis.example/sendEdoc"
    assert req.content == b"abc\r\n"
    assert xroad_headers(req) == [
        ("Content-Type", "application/octet-stream"),
        ("XroadVnpt-systemid", "demo.system"),
        ("XroadVnpt-servicetype", "eDoc"),
        ("XroadVnpt-messagetype", "edoc"),
        ("XroadVnpt-hash-file", "ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad"),
        ("XroadVnpt-from", G22),
        ("XroadVnpt-timestamp", "21112025T093015+0123"),
        ("XroadVnpt-Content-Type", "application/octet-stream"),
        (
            "XroadVnpt-sign-header-key",
            "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type",
        ),
        (
            "XroadVnpt-sign-header",
            '{"XroadVnpt-systemid":"demo.system","XroadVnpt-servicetype":"eDoc",'
            '"XroadVnpt-messagetype":"edoc","XroadVnpt-hash-file":'
            '"ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad",'
            '"XroadVnpt-from":"000.00.00.G22","XroadVnpt-timestamp":"21112025T093015+0123",'
            '"XroadVnpt-Content-Type":"application/octet-stream"}',
        ),
        (
            "XroadVnpt-hash-header",
            "0d735ed0c3f98fcaad164c2bac3532911494fbd20f80c469880c703570538271",
        ),
        ("User-Agent", "JAVASDKAgent/1.0.0 XRoad/VPCP"),
        ("XroadVnpt-version", "3.0.201608"),
    ]


def _captured(n: int) -> dict[str, Any]:
    data = json.loads((Path(__file__).parent / "captured_requests.json").read_text("utf-8"))
    return next(r for r in data["requests"] if r["n"] == n)


def _sdk_headers(req: dict[str, Any]) -> list[tuple[str, str]]:
    keep = ("xroadvnpt-", "content-type", "user-agent")
    return [(k, v) for k, v in req["headers"] if k.lower().startswith(keep)]


@pytest.mark.parametrize(
    ("n", "call", "reply"),
    [
        (1, lambda c: c.get_agencies_list(), b'"data":[]'),
        (3, lambda c: c.get_received_edoc_list(), b'"data":[]'),
        (5, lambda c: c.update_status("eb239dee-9071-46d3-a02b-54e7cde60d13", "done"), b""),
        (6, lambda c: c.get_sent_edoc_list("eb239dee-9071-46d3-a02b-54e7cde60d13"), b'"data":[]'),
        (9, lambda c: c.count_receive_edoc(), b'"count":1'),
        (11, lambda c: c.get_synchronize_unit(), b'"data":[]'),
        (12, lambda c: c.get_agencies_list_qd20("1"), b'"data":[]'),
    ],
)
def test_client_reproduces_captured_sdk_requests(n: int, call: Any, reply: bytes) -> None:
    """Same clock, same credentials → the same header list as the SDK, byte for byte.

    (getEdoc/downloadEdoc are not compared: the SDK also signs its local ``filePath``.)
    """
    captured = _captured(n)
    ts = next(v for k, v in captured["headers"] if k == "XroadVnpt-timestamp")
    day, rest = ts.split("T")
    now = dt.datetime(
        int(day[4:]),
        int(day[2:4]),
        int(day[:2]),
        int(rest[:2]),
        int(rest[2:4]),
        int(rest[4:6]),
        int(rest[7:]) * 1000,
        tzinfo=dt.UTC,
    )
    body = (
        b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success"'
        + (b"," + reply if reply else b"")
        + b"}"
    )
    rec = Recorder(body)
    call(mock_client(rec, now=now, zone="UTC"))
    (req,) = rec.requests
    assert req.url.path == captured["path"]
    assert req.method == captured["method"]
    mine = xroad_headers(req)
    theirs = _sdk_headers(captured)
    # The SDK's HttpClient path writes the plain Content-Type after the timestamp; ours is
    # always right before XroadVnpt-Content-Type — compare the XroadVnpt-* sequence exactly.
    assert [h for h in mine if h[0] != "Content-Type"] == [
        h for h in theirs if h[0] != "Content-Type"
    ]
    assert ("Content-Type", "application/json") in mine
    expected_body = captured["body"]["text"].encode()
    assert req.content == expected_body


def test_send_edoc_with_to_reproduces_captured_request_two() -> None:
    captured = _captured(2)
    rec = Recorder(OK_DOC)

    # The file is not part of the capture; check the signing of its known hash-file instead.
    from hub.vxp.wire import OCTET_CT, sign_headers

    headers = sign_headers(
        system_id=SYSTEM,
        secret=SECRET,
        timestamp="21112026T050544+0364",
        content_type=OCTET_CT,
        params={"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "to": f'["{H41}"]'},
        hash_file="d01975c6e6e11d845d3edfcbd0257a4229f62f1ea4633688963a56ae872ac13",
    )
    assert headers[-3:-2] == [
        tuple(h) for h in captured["headers"] if h[0] == "XroadVnpt-hash-header"
    ]
    # and the client writes `to` exactly as the SDK did: compact JSON text
    mock_client(rec, now=dt.datetime(2026, 11, 21, 5, 5, 44, tzinfo=dt.UTC)).send_edoc(
        b"x", from_code=G22, to_codes=[H41]
    )
    assert rec.requests[0].headers["XroadVnpt-to"] == '["000.00.00.H41"]'


def test_client_send_of_the_status_sample_matches_capture_seven(
    shared_samples: Path | None,
) -> None:
    if shared_samples is None:
        pytest.skip("shared SDK samples folder absent: status_processing_05.edxml not available")
    package = (shared_samples / "status_processing_05.edxml").read_bytes()
    rec = Recorder(OK_DOC)
    now = dt.datetime(2026, 11, 21, 5, 5, 47, 834000, tzinfo=dt.UTC)
    mock_client(rec, now=now, zone="UTC").send_edoc(package, from_code=H41, kind=MessageKind.STATUS)
    (req,) = rec.requests
    assert req.content == package + b"\r\n"
    assert len(req.content) == 1619
    captured = [tuple(h) for h in _sdk_headers(_captured(7))]
    assert xroad_headers(req) == captured  # order, names, values, signature: all identical


@pytest.mark.parametrize(
    ("reply", "status", "error", "match"),
    [
        (httpx.ConnectError("refused"), 200, PeerUnavailable, "unreachable: ConnectError"),
        (httpx.ReadTimeout("slow"), 200, PeerUnavailable, "timed out"),
        (b"<html>Bad gateway</html>", 502, PeerUnavailable, "HTTP 502"),
        (b'{"status":"FAIL","ErrorCode":"500","ErrorDesc":"db"}', 500, PeerUnavailable, ": db"),
        (b"<html>Not found</html>", 404, PeerError, "not JSON"),
        (b"", 200, PeerError, "not JSON"),
        (b'{"status":"OK","ErrorCode":"0"}', 200, PeerError, "lacks the status envelope"),
        (b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success"}', 200, PeerError, "without DocId"),
        (
            b'{"status":"FAIL","ErrorCode":"403","ErrorDesc":"kh\\u00f4ng","DocId":""}',
            403,
            PeerError,
            "không",
        ),
    ],
)
def test_send_error_translation(
    reply: bytes | Exception, status: int, error: type[Exception], match: str
) -> None:
    rec = Recorder(reply, status)
    client = mock_client(rec, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(error, match=match):
        client.send_edoc(b"<x/>", from_code=G22)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success"}', "no data list"),
        (b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":null}', "no data list"),
        (b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":[{"from":"x"}]}', "docId"),
    ],
)
def test_list_reply_problems(reply: bytes, match: str) -> None:
    client = mock_client(Recorder(reply), now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(PeerError, match=match):
        client.get_received_edoc_list()


def test_get_edoc_tolerates_line_breaks_and_refuses_junk() -> None:
    ok = b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":"PHg+\\r\\nPC94Pg=="}'
    client = mock_client(Recorder(ok), now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert client.get_edoc("d") == b"<x></x>"
    junk = b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":"<xml/>"}'
    client = mock_client(Recorder(junk), now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(PeerError, match="not base64"):
        client.get_edoc("d")


def test_secret_never_logged(
    vxp_client: VxpClient, caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    caplog.set_level(logging.DEBUG)
    vxp_client.send_edoc(PACKAGE, from_code=G22)
    with pytest.raises(PeerError):
        vxp_client.get_edoc("nope")
    bad = VxpClient("http://testserver", SYSTEM, "wrong-secret", http=vxp_client._http, clock=clock)
    with pytest.raises(PeerError):
        bad.get_agencies_list()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "hash-header" in text
    assert SECRET not in text
    assert "wrong-secret" not in text
    assert SECRET not in repr(vxp_client)
