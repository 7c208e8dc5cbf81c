"""A 100 MB attachment through ``lienthong run`` on the embedded defaults (SQLite, in-process
broker): pushed through the VXP façade and the REST API under a raised
``limits.max_package_bytes``, pulled back with ``downloadEdoc``, ``getEdoc`` and the REST
download, byte for byte what was sent plus the hub's TraceHeader. The server's memory is
measured in ``bench/bench_large.py``, not asserted here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    SYSTEM_B,
    HubProcess,
    HubSite,
    make_site,
    wait_for,
)
from large_package import build_package, trace_inserted

from adapters.vxp_client import VxpClient
from hub.edxml.model import MessageKind
from hub.vxp.wire import JSON_CT, format_timestamp, sign_headers

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

MB = 1024 * 1024
TIMEOUT = httpx.Timeout(300.0)


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubSite]:
    data_dir: Path = tmp_path_factory.mktemp("hub-large")
    with make_site(request, "sqlite", data_dir) as s:
        s.env["LIENTHONG_MAX_PACKAGE_BYTES"] = str(300 * MB)
        s.cli("db", "upgrade")
        s.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        s.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        yield s


@pytest.fixture(scope="module")
def hub(site: HubSite) -> HubProcess:
    return site.start("run")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("large") / "big.edxml"
    build_package(path, 100 * MB, sender=AGENCY_A, to=[AGENCY_B], number="100001")
    return path.read_bytes()


def _received(b: VxpClient) -> list[str]:
    return [item.doc_id for item in b.get_received_edoc_list(MessageKind.EDOC)]


def test_a_100_mb_attachment_goes_through_the_facade_and_comes_back_whole(
    hub: HubProcess, big: bytes
) -> None:
    assert len(big) > 130 * MB  # base64: 4/3 of the attachment
    with (
        VxpClient(hub.url + "/", SYSTEM_A, SECRET_A, timeout=TIMEOUT) as a,
        VxpClient(hub.url + "/", SYSTEM_B, SECRET_B, timeout=TIMEOUT) as b,
    ):
        doc_id = a.send_edoc(big, from_code=AGENCY_A, to_codes=[AGENCY_B])
        assert doc_id
        (delivery,) = wait_for(lambda: _received(b), what="the large package in B's inbox")
        got = b.download_edoc(delivery)
        inserted = trace_inserted(big, got)
        assert b"<edXML:TraceHeader>" in inserted
        assert b"<edXML:OrganId>" in inserted
        again = b.get_edoc(delivery)  # the same copy, base64 in JSON, streamed
        assert hashlib.sha256(again).digest() == hashlib.sha256(got).digest()
        b.update_status(delivery, "done")
        # Pushed again: the same bytes are the same document (idempotency on the spooled digest).
        assert a.send_edoc(big, from_code=AGENCY_A, to_codes=[AGENCY_B]) == doc_id


def test_the_rest_api_takes_and_gives_the_large_package_too(hub: HubProcess, big: bytes) -> None:
    head = 64 * 1024  # another document: a new number in the header only
    package = big[:head].replace(b"100001", b"100002") + big[head:]
    with httpx.Client(timeout=TIMEOUT) as http:
        reply = http.post(
            hub.url + "/api/v1/packages",
            content=package,
            headers=_rest_headers(SYSTEM_A, SECRET_A, "POST", "/api/v1/packages", package),
        )
        assert reply.status_code == 201, reply.text
        with VxpClient(hub.url + "/", SYSTEM_B, SECRET_B, timeout=TIMEOUT) as b:
            (delivery,) = wait_for(lambda: _received(b), what="the REST package in B's inbox")
        path = f"/api/v1/inbox/{delivery}/package"
        got = http.get(hub.url + path, headers=_rest_headers(SYSTEM_B, SECRET_B, "GET", path, b""))
        assert got.status_code == 200
        assert int(got.headers["content-length"]) == len(got.content)
        trace_inserted(package, got.content)


def test_a_package_over_the_setting_is_refused_naming_the_limit(hub: HubProcess) -> None:
    """A declared length over ``limits.max_package_bytes`` is answered 413 at once: the body
    is never read (the client has sent only its first bytes when the answer comes)."""
    body = b"<edXML/>"
    headers = _signed(SYSTEM_A, SECRET_A, {"from": AGENCY_A, "messagetype": "edoc"}, body)
    head = [b"POST /sendEdoc HTTP/1.1", f"Host: 127.0.0.1:{hub.port}".encode()]
    head += [f"{k}: {v}".encode() for k, v in headers if k.lower() != "content-length"]
    head += [f"Content-Length: {301 * MB}".encode(), b"", b""]
    with socket.create_connection(("127.0.0.1", int(hub.port or 0)), timeout=30) as conn:
        conn.sendall(b"\r\n".join(head) + body)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert b" 413 " in status_line
    envelope = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert envelope["ErrorCode"] == "413"
    assert str(300 * MB) in envelope["ErrorDesc"]


def _signed(system: str, secret: str, params: dict[str, str], body: bytes) -> list[tuple[str, str]]:
    return sign_headers(
        system_id=system,
        secret=secret,
        timestamp=format_timestamp(dt.datetime.now(dt.UTC)),
        content_type=JSON_CT,
        params=params,
        hash_file=hashlib.sha256(body).hexdigest() if body else None,
    )


def _rest_headers(system: str, secret: str, method: str, path: str, body: bytes) -> dict[str, str]:
    return dict(_signed(system, secret, {"method": method, "path": path}, body))
