"""Hostile bodies against a real HTTP server (uvicorn on 127.0.0.1, as ``lienthong serve`` runs
it) over a real hub, where the body handling matters: bodies over the cap must be refused before
they are read whole, slow bodies must be cut, dribbling clients must not starve the others; and a
zip bomb pushed in a process of its own must keep memory bounded.

The server runs the hub's app with the time rules tightened (``body_grace_s`` = 1 s, a 2 s header
timeout) so slowloris clients are cut within seconds; everything else is the production
configuration of ``hub.entrypoints.bootstrap.serve``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from hostile_support import PACKAGE_CAP, HostileHub, real_hub

from adapters.http import ApiSettings, create_app
from adapters.http.server import config
from hub.vxp.verify import VerifyPolicy
from tests.factories import make_edoc

GRACE_S = 1.0
HEADER_TIMEOUT_S = 2.0
MIN_RATE = 64 * 1024
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, HostileHub]]:
    """(base URL, site): the hub's app behind uvicorn, configured as ``serve()`` does."""
    with real_hub(tmp_path / "hub") as site:
        settings = ApiSettings(
            max_package_bytes=PACKAGE_CAP,
            verify=VerifyPolicy(default_max_age_s=site.hub.settings.max_age_s),
            body_grace_s=GRACE_S,
            body_min_rate=MIN_RATE,
        )
        app = create_app(site.hub.services, settings, audit=site.hub.record_security_event)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(config(app, "127.0.0.1", port, header_timeout_s=HEADER_TIMEOUT_S))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", site
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def _head(url: str, path: str, headers: list[tuple[str, bytes]], extra: str) -> bytes:
    host = url.removeprefix("http://")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v.decode('utf-8')}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("utf-8")


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _signed_send_edoc(site: HostileHub, package: bytes) -> list[tuple[str, bytes]]:
    return [(k, v.encode("utf-8")) for k, v in site.a.send_edoc_headers(package, site.b.agency)]


def test_declared_oversize_body_is_refused_before_it_is_sent(
    served: tuple[str, HostileHub],
) -> None:
    """``Content-Length`` of 500 MB: 413 JSON while not one body byte has been sent."""
    url, site = served
    for path, headers in (
        ("/sendEdoc", _signed_send_edoc(site, b"x")),
        ("/api/v1/packages", site.a.rest_headers("POST", "/api/v1/packages", b"x")),
    ):
        with _connect(url) as sock:
            started = time.monotonic()
            sock.sendall(_head(url, path, headers, f"Content-Length: {500 * 1024 * 1024}\r\n"))
            status, resp_headers, body = _read_response(sock)
        assert status == 413, body
        assert resp_headers["content-type"].startswith("application/json")
        assert str(PACKAGE_CAP).encode() in body
        assert time.monotonic() - started < 5


def test_streamed_oversize_body_is_cut_at_the_cap(served: tuple[str, HostileHub]) -> None:
    """A chunked body with no length: the hub answers 413 once the cap is crossed; the client,
    which would send 64 MiB, has sent little more than the cap (plus socket buffers)."""
    url, site = served
    chunk = b"<" + b"x" * (64 * 1024 - 1)
    planned = 64 * 1024 * 1024
    sent = 0
    answer = b""
    with _connect(url) as sock:
        sock.sendall(
            _head(url, "/sendEdoc", _signed_send_edoc(site, b"x"), "Transfer-Encoding: chunked\r\n")
        )
        sock.setblocking(False)
        while sent < planned:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.01)
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                break
            if b"\r\n\r\n" in answer:
                break
    print(f"streamed oversize: {sent} bytes sent of {planned} before the answer")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/json" in answer
    assert sent < PACKAGE_CAP + 8 * 1024 * 1024  # loopback buffers hold a few MB at most


def test_slow_body_is_cut_by_the_minimum_rate(served: tuple[str, HostileHub]) -> None:
    """Ten bytes every 0.3 s (a slowloris body): 408 JSON after about the grace time."""
    url, site = served
    package = make_edoc(sender=site.a.agency, to=[site.b.agency])
    with _connect(url) as sock:
        sock.sendall(
            _head(
                url,
                "/sendEdoc",
                _signed_send_edoc(site, package),
                f"Content-Length: {len(package)}\r\n",
            )
        )
        started = time.monotonic()
        sock.settimeout(0.3)
        answer = b""
        for i in range(0, len(package), 10):
            try:
                sock.sendall(package[i : i + 10])
                answer += sock.recv(65536)
                break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            finally:
                assert time.monotonic() - started < 15, "the slow body was never cut"
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    elapsed = time.monotonic() - started
    print(f"slow body cut after {elapsed:.1f} s")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b'"status":"FAIL"' in answer
    assert GRACE_S <= elapsed < GRACE_S + 5


def test_a_steady_slow_body_above_the_rate_is_accepted(served: tuple[str, HostileHub]) -> None:
    """The time rule is a rate, not a deadline: a body arriving at twice the minimum rate is
    read even though it takes several times the grace period."""
    url, site = served
    package = make_edoc(sender=site.a.agency, to=[site.b.agency])
    package += b" " * (4 * MIN_RATE * int(GRACE_S) - len(package))  # ≈ 2 s at twice the rate
    step = MIN_RATE // 10
    with _connect(url) as sock:
        sock.sendall(
            _head(
                url,
                "/sendEdoc",
                _signed_send_edoc(site, package),
                f"Content-Length: {len(package)}\r\n",
            )
        )
        started = time.monotonic()
        for i in range(0, len(package), step):
            sock.sendall(package[i : i + step])
            time.sleep(max(0.0, started + (i + step) / (2 * MIN_RATE) - time.monotonic()))
        status, _, body = _read_response(sock)
    assert status == 200, body
    assert json.loads(body)["status"] == "OK"
    assert time.monotonic() - started > 2 * GRACE_S


def test_late_request_heads_are_closed(served: tuple[str, HostileHub]) -> None:
    """A header dribbler gets a 408 JSON and a closed connection after the header timeout; an
    idle connection that sent nothing is closed silently; a keep-alive connection that goes on
    dribbling its *second* request is cut the same way."""
    url, site = served
    with _connect(url) as drib, _connect(url) as idle:
        started = time.monotonic()
        drib.sendall(b"POST /sendEdoc HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        drib.settimeout(0.5)
        # Generous upper bounds: on a loaded machine the server's timer fires late, never early.
        # One header line a second, reading in between: a line sent after the server closed
        # draws a reset, which can discard its unread 408 — so the answer is read first.
        sent = 0.0
        while time.monotonic() - started < HEADER_TIMEOUT_S + 15:
            if not answer and time.monotonic() - sent >= 1.0:
                with contextlib.suppress(OSError):
                    drib.sendall(b"X-a: b\r\n")
                sent = time.monotonic()
            try:
                chunk = drib.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"code":"request.timeout"' in answer
        # the server's clock started at the connection, a moment before ``started``
        assert HEADER_TIMEOUT_S - 0.5 <= elapsed < HEADER_TIMEOUT_S + 15
        idle.settimeout(5)
        assert idle.recv(100) == b""  # closed, no answer
    with _connect(url) as keep:
        headers = "".join(f"{k}: {v}\r\n" for k, v in site.a.vxp_headers({}))
        head = f"POST /countReceiveEdoc HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 2\r\n\r\n"
        keep.sendall(head.encode() + b"{}")
        status, _, _ = _read_response(keep)
        assert status == 200
        keep.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next head never completes
        status, _, body = _read_response(keep, timeout=HEADER_TIMEOUT_S + 15)
        assert status == 408, body


def test_an_oversize_request_head_is_refused(served: tuple[str, HostileHub]) -> None:
    """A request head still incomplete past 16 KiB is answered 400 and closed (the parser
    itself sets no limit), whether it arrives at once or in pieces."""
    url, _site = served
    for pieces in (1, 40):
        with _connect(url) as sock:
            head = b"POST /sendEdoc HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * (20 * 1024)
            step = -(-len(head) // pieces)
            with contextlib.suppress(OSError):  # the server may close before the last piece
                for i in range(0, len(head), step):
                    sock.sendall(head[i : i + step])
            status, _, body = _read_response(sock)
            assert status == 400, body
            sock.settimeout(5)
            assert sock.recv(100) == b""  # closed


def test_pipelined_requests_are_answered_in_order_and_not_timed_out(
    served: tuple[str, HostileHub],
) -> None:
    """Two requests sent in one write on one connection get their two answers, in order; the
    second, queued while the first runs, is not mistaken for a late head."""
    url, site = served
    headers = "".join(f"{k}: {v}\r\n" for k, v in site.a.vxp_headers({}))
    one = f"POST /countReceiveEdoc HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 2\r\n\r\n{{}}"
    with _connect(url) as sock:
        sock.sendall(one.encode() + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = _read_response(sock)
        assert (status, json.loads(body)["status"]) == (200, "OK"), body
        status, _, body = _read_response(sock)
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        time.sleep(HEADER_TIMEOUT_S + 0.5)  # idle after the answers: closed silently
        sock.settimeout(10)
        assert sock.recv(100) == b""


def test_dribbling_header_clients_do_not_starve_others(served: tuple[str, HostileHub]) -> None:
    """100 connections sending their headers a byte at a time (header-phase slowloris) while a
    signed request is served in well under a second."""
    url, site = served
    stop = threading.Event()
    socks = [_connect(url) for _ in range(100)]

    def dribble() -> None:
        partial = b"POST /sendEdoc HTTP/1.1\r\nHost: x\r\nX-Slow: "
        for i in range(len(partial)):
            for s in socks:
                with contextlib.suppress(OSError):
                    s.sendall(partial[i : i + 1])
            if stop.wait(0.05):
                return
        while not stop.wait(0.2):
            for s in socks:
                with contextlib.suppress(OSError):
                    s.sendall(b"a")

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        for _ in range(5):
            started = time.monotonic()
            r = httpx.post(url + "/countReceiveEdoc", headers=site.a.vxp_headers({}), content=b"{}")
            assert r.json()["status"] == "OK", r.text
            assert time.monotonic() - started < 1.0
    finally:
        stop.set()
        thread.join(timeout=5)
        for s in socks:
            s.close()


@pytest.mark.slow
def test_zip_bomb_memory_stays_bounded(tmp_path: Path) -> None:
    """A 700 KB package whose attachment inflates to 512 MiB, pushed in a fresh process: peak
    RSS grows by well under the inflated size, and the push stays short (the archive ratio
    stops the unpacking)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
        "TMPDIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, str(HERE / "bomb_probe.py"), str(tmp_path / "hub"), "pdf", str(512 << 20)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print("zip bomb:", report)
    growth_kib = report["rss_peak_during_kib"] - report["rss_before_kib"]
    assert growth_kib < 64 * 1024  # MiB-scale, not the 512 MiB the bomb holds
    assert report["tracemalloc_peak_bytes"] < 64 << 20
    assert report["largest_file_left"] < 2 * report["package_bytes"]  # nothing inflated left
    assert report["seconds"] < 5
    assert report["status"] in (200, 400, 422)
