"""The HTTP/1.1 protocol the hub's server runs: uvicorn's h11 protocol with a header timeout.

Why: uvicorn bounds a request's headers in size but not in time — its keep-alive timer starts
only after a response, and any byte received cancels it. A client that opens a connection and
sends its headers a byte every few seconds (a header-phase slowloris), or sends nothing at all,
keeps the connection, its socket and a file descriptor for ever; a few thousand such clients
exhaust the process. (Slow *bodies* are the gate's business:
:func:`adapters.http.gate.read_capped`.)

Theory of operation: a timer is armed when a connection opens and again whenever a response
completes (the connection then waits for the next request). When it fires and h11 still has
not seen a complete request head (``their_state`` is ``IDLE``), the connection is closed —
with a ``408`` JSON error document when some bytes of a request had arrived, silently when none
had (an idle pre-connection). A request whose head is complete is never touched here.
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.errors import RequestTimeout

#: Default time a client has to send a complete request head.
HEADER_TIMEOUT_S = 30.0


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


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head is late."""

    header_timeout_s: float = HEADER_TIMEOUT_S

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

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
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return  # closed meanwhile, or a request head arrived: the request runs its course
        pending, _closed = self.conn.trailing_data
        if pending:
            self.transport.write(_timeout_reply(self.header_timeout_s))
        self.transport.close()


def header_timeout_protocol(seconds: float = HEADER_TIMEOUT_S) -> type[HeaderTimeoutH11Protocol]:
    """The protocol class for ``uvicorn.Config(http=…)`` with a header timeout of ``seconds``."""
    return type(
        "HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout_s": seconds}
    )
