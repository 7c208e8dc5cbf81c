"""Large bodies at the HTTP layer: spooled pushes, the one size limit, streamed pulls.

The app's ``spool_bytes`` is lowered to 1 KiB here so that ordinary test packages take the
spooled path (a temporary file hashed as it arrives) and its results can be compared with the
in-memory path's; pulls over :data:`adapters.http.streaming.STREAM_FROM` are streamed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from http_fakes import G22, FakeHub, Signer
from test_http_facade import assert_fail, assert_ok, call, send
from test_http_rest import error, rest

from adapters.http import ApiSettings
from adapters.http.streaming import STREAM_FROM
from hub.edxml.source import Package, PackageFile
from hub.services.contracts import PushResult
from hub.vxp.wire import OCTET_CT, lossy_hash_file

LIMIT = 4 * STREAM_FROM


def _package(size: int) -> bytes:
    head = '<?xml version="1.0" encoding="UTF-8"?>\r\n<edXML><Subject>Thử</Subject><Pad>'.encode()
    tail = b"</Pad></edXML>"
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(
        max_package_bytes=LIMIT, max_small_body_bytes=4096, zone="UTC", spool_bytes=1024
    )


@pytest.fixture
def received(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> list[Package]:
    """What the façade handed the service (a :class:`PackageFile` when spooled)."""
    seen: list[Package] = []
    push = hub.push

    def recording(system_id: str, data: Package, **kw: Any) -> PushResult:
        seen.append(data)
        if isinstance(data, PackageFile):
            assert hashlib.sha256(data.read_all()).hexdigest() == data.sha256
        return push(system_id, data, **kw)

    monkeypatch.setattr(hub, "push", recording)
    return seen


def test_a_body_over_spool_bytes_reaches_the_service_as_a_file(
    http: TestClient, sign: Signer, hub: FakeHub, received: list[Package]
) -> None:
    data = _package(3 * STREAM_FROM)
    assert_ok(send(http, sign, data))  # the SDK's trailing CR LF is dropped from the file
    (given,) = received
    assert isinstance(given, PackageFile)
    assert given.size == len(data)
    assert given.sha256 == hashlib.sha256(data).hexdigest()
    assert next(iter(hub.deliveries.values())).data == data


def test_a_spooled_package_ending_in_crlf_keeps_it(
    http: TestClient, sign: Signer, hub: FakeHub, received: list[Package]
) -> None:
    data = _package(5000) + b"\r\n"
    assert_ok(send(http, sign, data, body=data))  # hash-file names the whole body
    assert isinstance(received[0], PackageFile)
    assert next(iter(hub.deliveries.values())).data == data


def test_a_small_body_stays_in_memory(
    http: TestClient, sign: Signer, received: list[Package]
) -> None:
    data = _package(600)
    assert_ok(send(http, sign, data))
    assert received == [data]


def test_a_spooled_body_whose_hash_file_does_not_match_is_refused(
    http: TestClient, sign: Signer, hub: FakeHub
) -> None:
    data = _package(5000)
    assert_fail(send(http, sign, data, hash_file=lossy_hash_file(data + b"!")), 401)
    assert hub.deliveries == {}


def test_a_large_multipart_form_is_read_from_its_file(
    http: TestClient, sign: Signer, hub: FakeHub
) -> None:
    data = _package(5000)
    headers = [
        (k, v)
        for k, v in sign(
            {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"},
            content_type=OCTET_CT,
            hash_file=lossy_hash_file(data),
        )
        if k != "Content-Type"
    ]
    boundary = "----lienthong43"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file_doc"; '
            f'filename="a.edxml"\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers.append(("Content-Type", f"multipart/form-data; boundary={boundary}"))
    assert_ok(http.post("/sendEdoc", headers=headers, content=form))
    assert next(iter(hub.deliveries.values())).data == data


def _chunked(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]


def test_a_body_past_the_limit_is_refused_naming_it(
    http: TestClient, sign: Signer, hub: FakeHub
) -> None:
    """Without a Content-Length (chunked) the body is counted as it arrives; the refusal
    names the configured limit."""
    data = _package(LIMIT + 1)
    headers = sign(
        {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"},
        content_type=OCTET_CT,
        hash_file=lossy_hash_file(data),
    )
    reply = http.post("/sendEdoc", headers=headers, content=_chunked(data))
    assert_fail(reply, 413, str(LIMIT))
    assert hub.deliveries == {}


def test_download_and_get_edoc_stream_a_large_package(
    http: TestClient, sign: Signer, hub: FakeHub
) -> None:
    data = _package(2 * STREAM_FROM + 7)  # not a multiple of 3: base64 padding at the end
    assert_ok(send(http, sign, data))
    (delivery,) = hub.deliveries.values()
    down = call(http, sign, "downloadEdoc", {"docId": delivery.id}, method="GET")
    assert down.status_code == 200
    assert int(down.headers["content-length"]) == len(data)
    assert down.content == data
    got = call(http, sign, "getEdoc", {"docId": delivery.id}, body=b"{}")
    assert int(got.headers["content-length"]) == len(got.content)
    body = assert_ok(got)
    assert base64.b64decode(body["data"], validate=True) == data


def test_get_edoc_answers_the_same_bytes_streamed_or_not(
    http: TestClient, sign: Signer, hub: FakeHub
) -> None:
    small, large = _package(STREAM_FROM - 10), _package(STREAM_FROM + 10)
    for data in (small, large):
        assert_ok(send(http, sign, data))
    for delivery in hub.deliveries.values():
        got = call(http, sign, "getEdoc", {"docId": delivery.id}, body=b"{}")
        expected = (
            b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":"'
            + base64.b64encode(delivery.data)
            + b'"}'
        )
        assert got.content == expected


def test_the_rest_api_spools_and_streams_too(
    http: TestClient, sign: Signer, hub: FakeHub, received: list[Package]
) -> None:
    data = _package(2 * STREAM_FROM)
    pushed = rest(http, sign, "POST", "/api/v1/packages", body=data)
    assert pushed.status_code == 201, pushed.text
    assert isinstance(received[0], PackageFile)
    delivery = pushed.json()["recipients"][0]["delivery_id"]
    got = rest(http, sign, "GET", f"/api/v1/inbox/{delivery}/package")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["x-delivery-id"] == delivery


def test_the_rest_api_hashes_a_spooled_body_whole(
    http: TestClient, sign: Signer, hub: FakeHub
) -> None:
    data = _package(5000) + b"\r\n"
    headers = sign(
        {"method": "POST", "path": "/api/v1/packages"},
        hash_file=hashlib.sha256(data[:-2]).hexdigest(),  # the SDK's CR LF rule is VXP only
    )
    error(http.post("/api/v1/packages", headers=headers, content=data), 401)
    assert hub.deliveries == {}
