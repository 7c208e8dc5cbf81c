"""Append a relay's ``TraceHeader`` to a package by textual insertion (QCVN 102:2016, §3).

Trace semantics (edxml.md §3): the sender writes the first ``TraceHeader``; every relay appends
its own (its ``OrganId`` and the time) and never removes one. A relaying hub must change nothing
else: re-serialising the document would alter namespace prefixes, whitespace and the sender's
envelope ``Signature`` bytes, and costs a parse of the whole package (attachments included).

So :func:`append_trace` scans only the header region (up to ``edXMLBody`` /
``AttachmentEncoded``) for the insertion point and splices in one element; every byte before and
after the splice is unchanged.

Where the new element goes:

* After the **last** ``</TraceHeader>`` of the existing ``TraceHeaderList`` (so hops stay in
  order even when ``Bussiness`` follows them), written with that element's prefix (``edXML:`` in
  SDK output, none where the default namespace is used).
* A ``TraceHeaderList`` without any ``TraceHeader`` gets it just before ``</TraceHeaderList>``;
  an empty-element tag ``<TraceHeaderList/>`` is opened up (only that tag's bytes change).
* **No ``TraceHeaderList``** — status messages (§5) and some edocs: a new ``TraceHeaderList``
  holding the one ``TraceHeader`` is inserted right after ``</MessageHeader>``, with
  ``MessageHeader``'s prefix. This follows the relay rule for every message kind; the status
  reader exposes it as :attr:`StatusPackage.trace`.

A prefix is used only if the document binds it (``xmlns:p="NS"``) or, for no prefix, declares
``NS`` as default namespace; otherwise :class:`EdxmlError` (``edxml.trace``). The caller is
expected to have read the package already (the hub appends only to packages it accepted).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from xml.sax.saxutils import escape

from hub.edxml.model import NS
from hub.edxml.reader import format_timestamp
from hub.errors import EdxmlError

__all__ = ["append_trace", "append_trace_stream"]

_NAME = rb"(?:([A-Za-z_][\w.-]*):)?"
_BODY_START = re.compile(rb"<" + _NAME + rb"(?:edXMLBody|AttachmentEncoded)[\s/>]")
_TRACE_LIST_OPEN = re.compile(rb"<" + _NAME + rb"TraceHeaderList(\s[^>]*?)?(/?)>")
_TRACE_LIST_CLOSE = re.compile(rb"</" + _NAME + rb"TraceHeaderList\s*>")
_TRACE_CLOSE = re.compile(rb"</" + _NAME + rb"TraceHeader\s*>")
_MH_CLOSE = re.compile(rb"</" + _NAME + rb"MessageHeader\s*>")
_NS_B = NS.encode("ascii")


def _error(en: str, vi: str) -> EdxmlError:
    return EdxmlError(
        f"cannot append a TraceHeader: {en}",
        message_vi=f"không thêm được TraceHeader: {vi}",
        code="edxml.trace",
        path="/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList",
    )


def _check_prefix(data: bytes, prefix: bytes | None, end: int) -> str:
    """The prefix (with colon) to write, after checking it is bound to the edXML namespace."""
    if prefix:
        decl = b"xmlns:" + prefix
        pat = re.compile(re.escape(decl) + rb"""\s*=\s*["']""" + re.escape(_NS_B) + rb"""["']""")
        if not pat.search(data, 0, end):
            raise _error(
                f"prefix {prefix.decode()!r} is not bound to {NS}",
                f"tiền tố {prefix.decode()!r} không gắn với không gian tên {NS}",
            )
        return prefix.decode("ascii") + ":"
    pat = re.compile(rb"""xmlns\s*=\s*["']""" + re.escape(_NS_B) + rb"""["']""")
    if not pat.search(data, 0, end):
        raise _error(f"no default namespace {NS}", f"không có không gian tên mặc định {NS}")
    return ""


def _trace_header(p: str, organ_id: str, when: dt.datetime) -> bytes:
    ts = format_timestamp(when)
    return (
        f"<{p}TraceHeader><{p}OrganId>{escape(organ_id)}</{p}OrganId>"
        f"<{p}Timestamp>{ts}</{p}Timestamp></{p}TraceHeader>"
    ).encode()


def append_trace(data: bytes, organ_id: str, when: dt.datetime) -> bytes:
    """Return ``data`` with one ``TraceHeader`` (``organ_id``, ``when`` in Vietnam time) added.

    ``when`` must be timezone-aware (:class:`ValueError` otherwise); ``organ_id`` is escaped.
    Raises :class:`EdxmlError` (``edxml.trace``) when no insertion point is found in the header.
    """
    at, end, new = _splice(data, organ_id, when)
    return data[:at] + new + data[end:]


def append_trace_stream(
    chunks: Iterator[bytes], size: int, organ_id: str, when: dt.datetime
) -> tuple[int, Iterator[bytes]]:
    """:func:`append_trace` over a package read chunk by chunk: ``(new size, new chunks)``.

    Only the header region is held (read until ``edXMLBody``/``AttachmentEncoded`` starts);
    the attachments pass through chunk by chunk. The splice is computed before this returns, so
    its errors are raised here and the new size is known before the first byte is sent.
    """
    head = b""
    scanned = 0
    for chunk in chunks:
        head += chunk
        if _BODY_START.search(head, max(0, scanned - 64)):
            break
        scanned = len(head)
    at, end, new = _splice(head, organ_id, when)
    spliced = head[:at] + new + head[end:]

    def stream() -> Iterator[bytes]:
        yield spliced
        yield from chunks

    return size + len(new) - (end - at), stream()


def _splice(data: bytes, organ_id: str, when: dt.datetime) -> tuple[int, int, bytes]:
    """Where the new ``TraceHeader`` goes in ``data`` (which holds at least the header region):
    the bytes ``data[at:end]`` are replaced by ``new``."""
    if when.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    if not organ_id.strip():
        raise ValueError("organ_id must not be empty")
    body = _BODY_START.search(data)
    limit = body.start() if body else len(data)

    opened = _TRACE_LIST_OPEN.search(data, 0, limit)
    if opened is not None:
        if opened.group(3) == b"/":
            # <p:TraceHeaderList …/>: open it up around the new TraceHeader.
            p = _check_prefix(data, opened.group(1), opened.start())
            tag = data[opened.start() : opened.end() - 2].rstrip()
            new = tag + b">" + _trace_header(p, organ_id, when) + f"</{p}TraceHeaderList>".encode()
            return opened.start(), opened.end(), new
        close = _TRACE_LIST_CLOSE.search(data, opened.end(), limit)
        if close is None:
            raise _error("TraceHeaderList is not closed", "TraceHeaderList không được đóng")
        last = None
        for m in _TRACE_CLOSE.finditer(data, opened.end(), close.start()):
            last = m
        if last is not None:
            p = _check_prefix(data, last.group(1), last.start())
            at = last.end()
        else:
            p = _check_prefix(data, close.group(1), close.start())
            at = close.start()
        return at, at, _trace_header(p, organ_id, when)

    mh = _MH_CLOSE.search(data, 0, limit)
    if mh is None:
        raise _error("no MessageHeader in the header", "không tìm thấy MessageHeader")
    p = _check_prefix(data, mh.group(1), mh.start())
    new = (
        f"<{p}TraceHeaderList>".encode()
        + _trace_header(p, organ_id, when)
        + f"</{p}TraceHeaderList>".encode()
    )
    return mh.end(), mh.end(), new
