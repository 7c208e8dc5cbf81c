"""Attachment payload checks of the profile (``ContentTransferEncoded``), outside the XSD.

Contract: :func:`check_base64` looks at one attachment's base64 text and returns problems
(``attachment.undecodable``, ``attachment.not_zip``, ``attachment.corrupt``); it never raises.

Why not the validator: libxml2 walks base64 text at ≈ 6.5 ms per MB (PERFORMANCE.md), more
than a whole header check. The cheap pass used on the intake path costs one
``binascii.a2b_base64(strict_mode=True)`` over fixed-size chunks — the alphabet, the padding
and the length (a multiple of 4) are checked by the decoder itself, in C, and each decoded
chunk is dropped at once, so memory stays at one chunk — plus a look at the first bytes for the
ZIP magic (edxml.md §4: the payload is usually a ZIP holding one entry). With ``full`` the
payload is decoded whole and a ZIP is opened and CRC-tested (only when asked: it holds a decoded
copy in memory).

Packages too large for a tree (the reader leaves their attachment text out) are checked by
streaming the bytes through :func:`hub.edxml.attachments.iter_attachments` instead
(:func:`check_streamed`).
"""

from __future__ import annotations

import binascii
import io
import re
import zipfile
from collections.abc import Sequence

from hub.edxml.model import AttachmentMeta
from hub.edxml.problems import Problem, error, warning
from hub.errors import AttachmentError, XmlError

__all__ = ["CHUNK", "check_base64", "check_streamed"]

#: Characters decoded per step; a multiple of 4 so no base64 quantum straddles two chunks.
CHUNK = 256 * 1024
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_BAD = re.compile(r"[^A-Za-z0-9+/=]")


def _undecodable(path: str, en: str, vi: str) -> Problem:
    return error("attachment.undecodable", path, en, vi)


def _compact(text: str) -> str:
    # MIME-style 76-column lines are common in real packages; most writers emit one line.
    if " " in text or "\n" in text or "\r" in text or "\t" in text:
        return "".join(text.split())
    return text


def _explain(chunk: str, offset: int, path: str) -> Problem:
    bad = _BAD.search(chunk)
    if bad is not None:
        pos = offset + bad.start()
        char = bad.group(0)
        return _undecodable(
            path,
            f"not base64: character {char!r} at position {pos}",
            f"không phải base64: ký tự {char!r} ở vị trí {pos}",
        )
    return _undecodable(
        path,
        f"not base64: misplaced padding near position {offset}",
        f"không phải base64: dấu '=' sai chỗ gần vị trí {offset}",
    )


def check_base64(
    text: str, path: str, content_type: str | None = None, *, full: bool = False
) -> list[Problem]:
    """Problems of one attachment's base64 ``text`` (``path`` is its element path)."""
    data = _compact(text)
    if not data:
        return [
            _undecodable(
                path,
                "the attachment carries no data (empty ContentTransferEncoded)",
                "tệp đính kèm không có dữ liệu (ContentTransferEncoded rỗng)",
            )
        ]
    head = b""
    parts: list[bytes] = []
    for offset in range(0, len(data), CHUNK):
        chunk = data[offset : offset + CHUNK]
        try:
            decoded = binascii.a2b_base64(chunk, strict_mode=True)
        except (binascii.Error, ValueError):  # ValueError: non-ASCII text
            if len(chunk) % 4 and not _BAD.search(chunk):
                return [
                    _undecodable(
                        path,
                        f"base64 text of {len(data)} characters is truncated (not a multiple of 4)",
                        f"chuỗi base64 dài {len(data)} ký tự bị cắt cụt (không chia hết cho 4)",
                    )
                ]
            return [_explain(chunk, offset, path)]
        if offset == 0:
            head = decoded[:4]
        if full:
            parts.append(decoded)
    problems: list[Problem] = []
    is_zip = head.startswith(_ZIP_MAGICS)
    if not is_zip and content_type and "zip" in content_type.lower():
        problems.append(
            warning(
                "attachment.not_zip",
                path,
                f"declared {content_type} but the payload is not a ZIP archive",
                f"khai báo {content_type} nhưng dữ liệu không phải tệp ZIP",
            )
        )
    if full and is_zip:
        problems.extend(_zip_problems(b"".join(parts), path))
    return problems


def _zip_problems(payload: bytes, path: str) -> list[Problem]:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return [
            error(
                "attachment.corrupt",
                path,
                f"the ZIP payload cannot be opened: {exc}",
                f"không mở được tệp ZIP đính kèm: {exc}",
            )
        ]
    if bad is not None:
        return [
            error(
                "attachment.corrupt",
                path,
                f"the ZIP entry {bad!r} fails its CRC check",
                f"mục {bad!r} trong tệp ZIP sai mã kiểm tra CRC",
            )
        ]
    return []


def check_streamed(
    data: bytes | None, *, full: bool, atts: Sequence[AttachmentMeta]
) -> list[Problem]:
    """Check the payloads of a package whose tree lacks the attachment text, from its bytes.

    Streaming decodes everything (there is no cheaper pass over bytes outside the tree), so
    ``full`` changes nothing here. Without ``data`` the payloads cannot be checked: one
    ``attachment.unchecked`` warning says so.
    """
    del full
    path = "/edXML/AttachmentEncoded"
    if data is None:
        return [
            warning(
                "attachment.unchecked",
                path,
                f"{len(atts)} attachment payload(s) not checked: the package bytes were not given",
                f"chưa kiểm tra {len(atts)} tệp đính kèm: không có dữ liệu gói tin",
            )
        ]
    from hub.edxml.attachments import iter_attachments

    try:
        for item in iter_attachments(data, require_manifest_match=False):
            item.close()
    except AttachmentError as exc:
        code = "attachment.corrupt" if "zip" in exc.message_en.lower() else "attachment.undecodable"
        return [error(code, exc.path or path, exc.message_en, exc.message_vi)]
    except XmlError as exc:  # pragma: no cover - the tree parse already accepted these bytes
        return [error(exc.code, exc.path, exc.message_en, exc.message_vi)]
    return []
