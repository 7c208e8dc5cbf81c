"""Answers that carry a stored package: raw bytes or base64 inside JSON, streamed when large.

Contract: :func:`package_response` answers a :class:`hub.services.contracts.FetchedStream` as
the raw bytes (``downloadEdoc``, ``GET /api/v1/inbox/{id}/package``); :func:`base64_json` as
the base64 text inside a JSON envelope (``getEdoc``: ``{…,"data":"<base64>"}``). A package up
to :data:`STREAM_FROM` bytes is read and answered in one piece (the cheapest for the many small
ones); a larger one is streamed from the blob store chunk by chunk with its exact
``Content-Length``, so the server holds one chunk of it, never the whole.

Hazard: a stored body found corrupt at its end (the blob store checks the digest there) can no
longer change the status line already sent; the connection is cut instead, and the client sees
a short body (the length it was promised is not reached).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

from starlette.responses import Response, StreamingResponse

from hub.services.contracts import FetchedStream

#: Packages up to this size are answered in one piece rather than streamed.
STREAM_FROM = 1 << 20
#: The placeholder put where the base64 text goes before the JSON envelope is encoded.
MARK = "@@lienthong-package-base64@@"


def package_response(
    fetched: FetchedStream, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    """The package's raw bytes."""
    if fetched.size <= STREAM_FROM:
        return Response(b"".join(fetched.chunks), media_type=media_type, headers=headers)
    return StreamingResponse(
        fetched.chunks,
        media_type=media_type,
        headers={**(headers or {}), "Content-Length": str(fetched.size)},
    )


def base64_json(fetched: FetchedStream, encoded_envelope: bytes, media_type: str) -> Response:
    """``encoded_envelope`` (a JSON reply whose one string value is :data:`MARK`) with the
    package's base64 text in place of the mark."""
    prefix, _, suffix = encoded_envelope.partition(MARK.encode("ascii"))
    if fetched.size <= STREAM_FROM:
        text = base64.b64encode(b"".join(fetched.chunks))
        return Response(prefix + text + suffix, media_type=media_type)
    length = len(prefix) + 4 * ((fetched.size + 2) // 3) + len(suffix)

    def body() -> Iterator[bytes]:
        yield prefix
        yield from _base64(fetched.chunks)
        yield suffix

    return StreamingResponse(body(), media_type=media_type, headers={"Content-Length": str(length)})


def _base64(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Base64 of the concatenated ``chunks``, piece by piece (pieces cut on 3-byte bounds)."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        cut = len(data) - len(data) % 3
        if cut:
            yield base64.b64encode(data[:cut])
        carry = data[cut:]
    if carry:
        yield base64.b64encode(carry)
