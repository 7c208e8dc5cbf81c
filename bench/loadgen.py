"""A load generator that costs the machine little: signed requests prepared ahead, replayed by
asyncio over raw keep-alive sockets.

Why: the thread-per-pusher generator (``httpx`` + :class:`adapters.vxp_client.VxpClient`)
spends ≈ 1–2 ms of CPU per request itself — on 2 cores that is as much as the hub it measures.
Here every ``sendEdoc`` request is built before the measured window (distinct package, its
``hash-file``, the SDK's signed headers through :func:`hub.vxp.wire.sign_headers`, the HTTP/1.1
bytes); the window only writes those bytes and reads the answer (status line, ``Content-Length``,
the §5 JSON envelope checked for ``"status":"OK"``). A signature may be sent again later (the
façade accepts a repeated identical signature within the freshness window, ``vxp-protocol.md``
§8), so requests prepared a minute ahead stay valid.

The recipient side (``pull``) is one listing loop (``getReceivedEdocList``, again once what it
listed is taken, after 100 ms when the inbox was empty) feeding ``pullers`` downloaders
(``downloadEdoc`` + ``updateStatus done`` per item). Those requests are signed as they go: each
carries a ``docId`` known only then, and the signing is ≈ 20 µs.

Runs on uvloop when installed. :class:`RawLoad` has the counters :class:`bench.bench_hub.Load`
has (``pushed``, ``push_lat``, ``acked``, ``errors``, ``measuring``, ``stop``), so the harness
measures both alike.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from hub.vxp.replies import parse_knobsticks
from hub.vxp.wire import JSON_CT, OCTET_CT, format_timestamp, lossy_hash_file, sign_headers


def raw_request(
    method: str, path: str, host: str, headers: list[tuple[str, str]], body: bytes
) -> bytes:
    """The HTTP/1.1 bytes of one keep-alive request."""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body


def signed(
    system_id: str, secret: str, params: dict[str, str], *, content_type: str = JSON_CT, **kw: Any
) -> list[tuple[str, str]]:
    return sign_headers(
        system_id=system_id,
        secret=secret,
        timestamp=format_timestamp(dt.datetime.now(dt.UTC)),
        content_type=content_type,
        params=params,
        **kw,
    )


def send_edoc_request(
    base: str, host: str, system_id: str, secret: str, from_code: str, kind: str, data: bytes
) -> bytes:
    """A ``sendEdoc`` request exactly as :meth:`VxpClient.send_edoc` sends it."""
    params = {"from": from_code, "servicetype": "eDoc", "messagetype": kind}
    headers = signed(
        system_id, secret, params, content_type=OCTET_CT, hash_file=lossy_hash_file(data)
    )
    headers.sort(key=lambda h: h[0] != "Content-Type")
    return raw_request("POST", f"{base}/sendEdoc", host, headers, data + b"\r\n")


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Send one request on a keep-alive connection; ``(status, body)`` of the answer."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


class RawLoad:
    """Pushers and pullers on one asyncio loop in a thread of this process."""

    def __init__(
        self,
        host: str,
        port: int,
        base: str,
        pushers: int,
        rate: float | None,
        make_request: Callable[[int], bytes],
        senders: int,
        recipient: tuple[str, str] | None,
        secret: str,
        kind: str,
        prepare: int,
        pullers: int = 2,
    ) -> None:
        self.host, self.port, self.base = host, port, base
        self.pushers, self.rate = pushers, rate
        self.make_request, self.senders = make_request, senders
        self.recipient, self.secret, self.kind = recipient, secret, kind
        self.pullers = pullers
        self.stop = threading.Event()
        self.measuring = False
        self.push_lat: list[float] = []
        self.pushed = 0
        self.acked = 0
        self.errors: list[str] = []
        started = time.perf_counter()
        self._ready: list[bytes] = [make_request(i % senders) for i in range(prepare)]
        self.prepare_s = time.perf_counter() - started
        self._next = 0
        self._thread: threading.Thread | None = None

    def _request(self) -> bytes:
        if self._next < len(self._ready):
            req = self._ready[self._next]
            self._ready[self._next] = b""  # sent once; free it
        else:  # ran past what was prepared: sign on the fly (counted in the window)
            req = self.make_request(self._next % self.senders)
        self._next += 1
        return req

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            import uvloop

            uvloop.run(self._main())
        except ImportError:
            asyncio.run(self._main())

    async def _main(self) -> None:
        tasks = [asyncio.create_task(self._pusher(i)) for i in range(self.pushers)]
        if self.recipient is not None:
            queue: asyncio.Queue[str] = asyncio.Queue()
            tasks.append(asyncio.create_task(self._lister(queue)))
            tasks += [asyncio.create_task(self._puller(queue)) for _ in range(self.pullers)]
        await asyncio.gather(*tasks)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, limit=1 << 24)

    async def _pusher(self, i: int) -> None:
        reader, writer = await self._connect()
        interval = self.pushers / self.rate if self.rate else 0.0
        loop = asyncio.get_running_loop()
        due = loop.time() + random.random() * interval
        while not self.stop.is_set():
            if interval:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                due += interval
            request = self._request()
            t0 = time.perf_counter()
            try:
                status, body = await exchange(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError) as exc:
                self.errors.append(repr(exc)[:200])
                writer.close()
                reader, writer = await self._connect()
                continue
            elapsed = time.perf_counter() - t0
            if status != 200 or b'"status":"OK"' not in body.replace(b" ", b""):
                self.errors.append(f"push HTTP {status} {body[:160]!r}")
                continue
            if self.measuring:
                self.pushed += 1
                self.push_lat.append(elapsed)
        writer.close()

    def _signed_call(self, op: str, params: dict[str, str], method: str = "POST") -> bytes:
        assert self.recipient is not None
        headers = signed(self.recipient[0], self.secret, params)
        body = b"{}" if op == "updateStatus" else b""
        if method == "GET":
            body = b""
        return raw_request(method, f"{self.base}/{op}", f"{self.host}:{self.port}", headers, body)

    async def _lister(self, queue: asyncio.Queue[str], idle_s: float = 0.1) -> None:
        """The recipient's one listing loop, as a QLVB client polls: list, hand the new doc ids
        to the downloaders, list again once they are taken; wait ``idle_s`` after an empty list
        (a poll loop spinning on an empty inbox would measure the poll, not the exchange)."""
        reader, writer = await self._connect()
        listing = {"servicetype": "eDoc", "messagetype": self.kind}
        while not self.stop.is_set():
            try:
                status, body = await exchange(
                    reader, writer, self._signed_call("getReceivedEdocList", listing)
                )
                if status != 200:
                    raise RuntimeError(f"list HTTP {status} {body[:160]!r}")
                items = [i.doc_id for i in parse_knobsticks(json.loads(body))]
            except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError) as exc:
                self.errors.append("list " + repr(exc)[:200])
                writer.close()
                reader, writer = await self._connect()
                items = []
            for item in items:
                queue.put_nowait(item)
            if items:
                await queue.join()  # listed again only once these are taken
            else:
                await asyncio.sleep(idle_s)
        writer.close()

    async def _puller(self, queue: asyncio.Queue[str]) -> None:
        """One downloader: ``downloadEdoc`` then ``updateStatus done`` for each listed doc id."""
        reader, writer = await self._connect()
        while not self.stop.is_set():
            try:
                item = await asyncio.wait_for(queue.get(), 0.5)
            except TimeoutError:
                continue
            try:
                doc = {"docId": item}
                status, body = await exchange(
                    reader, writer, self._signed_call("downloadEdoc", doc, "GET")
                )
                if status != 200 or not body:
                    raise RuntimeError(f"download HTTP {status}")
                done = {"docId": item, "status": "done"}
                status, body = await exchange(
                    reader, writer, self._signed_call("updateStatus", done)
                )
                if status != 200:
                    raise RuntimeError(f"updateStatus HTTP {status} {body[:160]!r}")
                if self.measuring:
                    self.acked += 1
            except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError) as exc:
                self.errors.append("pull " + repr(exc)[:200])
                writer.close()
                reader, writer = await self._connect()
            finally:
                queue.task_done()
        writer.close()
