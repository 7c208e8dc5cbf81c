"""The HTTP layer alone: CPU per request of the server process for the hot VXP operations.

Why: in ``bench_hub.py`` the HTTP layer is a quarter of the API process, mixed with SQL, blob
writes and a loaded machine; its own cost is hard to see there. Here the app built by
:func:`adapters.http.app.create_app` runs behind the same server configuration as
``lienthong serve`` (protocol class, header timeout, event loop) over a service that answers at
once from memory (:class:`InstantService`), so the server's CPU per request *is* the HTTP
layer: parser, event loop, routing, middleware, HMAC check, body read, threadpool hop, reply.

Per operation, ``--connections`` keep-alive clients (raw sockets, requests signed ahead by
:mod:`bench.loadgen`) send the same signed request in a loop for ``--seconds``; the server's
CPU (``/proc/<pid>/stat``, user + system) over the window is divided by the requests answered.

Usage: ``python bench/bench_http.py --port 18410`` (``serve`` is the server subprocess's role).
The same script runs against an older tree (its ``adapters.http`` is imported from the tree the
script sits in), which is how the A/B in ``RESULTS-hub.md`` was taken.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYSTEM, SECRET, AGENCY = "bench.http", "bench-http-secret", "000.00.00.B01"
PACKAGE = b"<edXML>" + b"x" * (5 * 1024) + b"</edXML>"
DOC_ID = "0f3c2a94-5e5b-4f0e-9d8a-000000000001"
OPS = ("sendEdoc", "updateStatus", "getReceivedEdocList", "downloadEdoc")


class InstantService:
    """The few :class:`hub.services.contracts.HubService` calls the hot operations make,
    answered at once from memory (no store, no broker): what remains is the HTTP layer."""

    def __init__(self) -> None:
        from hub.services.contracts import SystemCredentials

        self._creds = SystemCredentials(SYSTEM, (SECRET,), True, 3600)

    def credentials(self, system_id: str) -> Any:
        return self._creds if system_id == SYSTEM else None

    def push(self, system_id: str, package: Any, declared_from: str | None = None) -> Any:
        from hub.edxml.model import MessageKind
        from hub.services.contracts import PushResult

        digest = hashlib.sha256(bytes(package)).hexdigest()
        return PushResult(DOC_ID, None, MessageKind.STATUS, digest, ())

    def update_status(self, system_id: str, doc_id: str, status: Any) -> None:
        return None

    def list_received(self, system_id: str, kind: Any) -> list[Any]:
        return []

    def fetch_stream(self, system_id: str, doc_id: str) -> Any:
        from hub.edxml.model import MessageKind
        from hub.services.contracts import FetchedStream

        return FetchedStream(DOC_ID, MessageKind.STATUS, len(PACKAGE), iter([PACKAGE]))


def serve(port: int) -> None:
    """The server role: the app over :class:`InstantService`, configured as ``serve()``."""
    import uvicorn

    from adapters.http import server
    from adapters.http.app import create_app

    app = create_app(InstantService())  # type: ignore[arg-type]
    if hasattr(server, "config"):
        config = server.config(app, "127.0.0.1", port)
    else:  # an older tree, for the A/B: serve() configured uvicorn itself, so
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=15,
            lifespan="off",
            http=server.header_timeout_protocol(),
        )
    print("ready", flush=True)
    run = getattr(server, "run", asyncio.run)  # the loop `lienthong serve` runs on
    run(uvicorn.Server(config).serve())


def requests(host: str, op: str) -> bytes:
    from bench.loadgen import raw_request, send_edoc_request, signed

    if op == "sendEdoc":
        return send_edoc_request("", host, SYSTEM, SECRET, AGENCY, "status", PACKAGE)
    params = {"docId": DOC_ID}
    if op == "updateStatus":
        params["status"] = "done"
    if op == "getReceivedEdocList":
        params = {"messagetype": "status"}
    headers = signed(SYSTEM, SECRET, params)
    return raw_request("POST", f"/{op}", host, headers, b"{}")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


async def load(port: int, request: bytes, connections: int, seconds: float) -> Iterator[int]:
    from bench.loadgen import exchange

    done = [0]
    stop = time.monotonic() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < stop:
            status, body = await exchange(reader, writer, request)
            if status != 200:
                raise SystemExit(f"HTTP {status}: {body[:200]!r}")
            done[0] += 1
        writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return iter(done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("role", nargs="?", default="bench", choices=("bench", "serve"))
    ap.add_argument("--port", type=int, default=18410)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--ops", default=",".join(OPS))
    a = ap.parse_args()
    if a.role == "serve":
        serve(a.port)
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", "--port", str(a.port)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(1.5)
        hz = os.sysconf("SC_CLK_TCK")
        print(f"{ROOT.name}: {a.connections} connections, {a.seconds:g} s per operation")
        print("| operation | requests/s | server CPU µs/request |")
        print("|---|---:|---:|")
        for op in a.ops.split(","):
            request = requests(f"127.0.0.1:{a.port}", op)
            asyncio.run(load(a.port, request, a.connections, 1.0))  # warm-up
            t0, c0 = time.monotonic(), cpu_ticks(proc.pid)
            n = next(asyncio.run(load(a.port, request, a.connections, a.seconds)))
            cpu = (cpu_ticks(proc.pid) - c0) / hz
            wall = time.monotonic() - t0
            print(f"| {op} | {n / wall:,.0f} | {cpu / n * 1e6:,.0f} |", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
