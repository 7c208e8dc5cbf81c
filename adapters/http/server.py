"""The HTTP/1.1 server the hub runs: uvicorn's httptools protocol with a header timeout, on uvloop.

Why httptools: the C parser (llhttp) costs a fraction of the CPU of the pure-Python h11 per
request; uvloop likewise for the event loop (:func:`run`). Both come with ``uvicorn[standard]``.

Why a header timeout: uvicorn bounds neither a request head's time nor, with httptools, its
size — its keep-alive timer starts only after a response, and any byte received cancels it. A
client that opens a connection and sends its headers a byte every few seconds (a header-phase
slowloris), or sends nothing at all, keeps the connection, its socket and a file descriptor for
ever; a few thousand such clients exhaust the process. (Slow *bodies* are the gate's business:
:func:`adapters.http.gate.read_capped`.)

Theory of operation: a timer is armed when a connection opens and again whenever a response
completes (the connection then waits for the next request). When it fires and no request is
running, the connection is closed — with a ``408`` JSON error document when some bytes of a
request had arrived (the parser began a message whose head is not complete), silently when
none had (an idle pre-connection). A request whose head is complete is never touched here.
A head still incomplete after :data:`MAX_HEAD_BYTES` is answered ``400`` and closed, as h11
answered it before (llhttp itself sets no limit).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hub.errors import RequestTimeout

#: Default time a client has to send a complete request head.
HEADER_TIMEOUT_S = 30.0
#: Most bytes a request head may take (h11's default through uvicorn, kept when h11 went).
MAX_HEAD_BYTES = 16 * 1024

T = TypeVar("T")


def _timeout_reply(seconds: float) -> bytes:
    exc = RequestTimeout(
        f"request headers not received within {seconds:g} s",
        message_vi=f"không nhận đủ phần đầu yêu cầu trong {seconds:g} giây",
    )
    doc = {"error": exc.to_dict("vi")}
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _CoalescingTransport:
    """A transport whose writes made within one step of the event loop leave as one.

    Why: uvicorn writes a response's status line and headers, then each body chunk, each with
    its own ``send()`` system call; a small reply (every VXP answer) thus costs two. Here the
    writes are gathered and sent once, at the end of the step (``call_soon``) or before a close.
    Everything else goes to the real transport."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head is late or huge.

    ``_begun``/``_heads`` count the messages the parser began and the heads it completed: they
    differ exactly while a request head is arriving."""

    header_timeout_s: float = HEADER_TIMEOUT_S
    max_head_bytes: int = MAX_HEAD_BYTES

    _header_timer: asyncio.TimerHandle | None = None
    _begun = 0
    _heads = 0
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _CoalescingTransport(transport, self.loop)))
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        pending = self._begun != self._heads
        super().data_received(data)
        if pending or self._begun != self._heads:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
                self.send_400_response("Invalid HTTP request received.")

    def on_message_begin(self) -> None:
        self._begun += 1
        self._head_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._heads = self._begun
        self._head_bytes = 0
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._begun != self._heads:  # part of a request head arrived, not all of it
            self.transport.write(_timeout_reply(self.header_timeout_s))
        elif self.cycle is not None and not self.cycle.response_complete:
            return  # a request head arrived: the request runs its course
        self.transport.close()


def header_timeout_protocol(
    seconds: float = HEADER_TIMEOUT_S, max_head_bytes: int = MAX_HEAD_BYTES
) -> type[HeaderTimeoutProtocol]:
    """The protocol class for ``uvicorn.Config(http=…)`` with a header timeout of ``seconds``."""
    return type(
        "HeaderTimeoutProtocol",
        (HeaderTimeoutProtocol,),
        {"header_timeout_s": seconds, "max_head_bytes": max_head_bytes},
    )


def config(
    app: Any, host: str, port: int, *, header_timeout_s: float = HEADER_TIMEOUT_S
) -> uvicorn.Config:
    """The uvicorn configuration ``lienthong serve`` runs ``app`` with (tests and benches
    serve the same): this module's protocol, no access log, no lifespan, and a 15 s keep-alive
    because VXP SDK clients leave idle keep-alive connections (``vxp-protocol.md`` §3)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=15,
        lifespan="off",
        http=header_timeout_protocol(header_timeout_s),
    )


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop where it is installed (less CPU per I/O event)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional on Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
