"""The façade behind a real HTTP server (uvicorn on 127.0.0.1): what an in-process client hides.

A real server folds header names to lower case, answers ``Expect: 100-continue`` (the SDK's
HttpClient waits 3 s per call otherwise, §3) and passes ``//sendEdoc`` paths through.
"""

from __future__ import annotations

import socket
import time

from http_fakes import G22, H41, SECRET, SYSTEM, Clock

from adapters.vxp_client import VxpClient
from hub.vxp.wire import JSON_CT, format_timestamp, sign_headers


def test_client_against_a_real_server(server: str, clock: Clock) -> None:
    with VxpClient(server + "/", SYSTEM, SECRET, zone="UTC", clock=clock) as client:
        data = '<?xml version="1.0"?>\r\n<edXML>Tờ trình</edXML>'.encode()
        doc_id = client.send_edoc(data, from_code=G22, to_codes=[H41])
        (item,) = client.get_received_edoc_list()
        assert client.get_edoc(item.doc_id) == data
        client.update_status(item.doc_id, "done")
        assert client.get_sent_edoc_list(doc_id)[0]["receiveStatus"] == "done"


def test_expect_100_continue_and_double_slash(server: str, clock: Clock) -> None:
    headers = sign_headers(
        system_id=SYSTEM,
        secret=SECRET,
        timestamp=format_timestamp(clock(), "UTC"),
        content_type=JSON_CT,
        params={"servicetype": "eDoc", "messagetype": "edoc"},
    )
    host, port = server.removeprefix("http://").split(":")
    head = "POST //countReceiveEdoc HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"Host: {host}:{port}\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        assert time.monotonic() - started < 1.0
        sock.sendall(b"{}")
        reply = b""
        while b'"count"' not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.endswith(b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","count":0}')
