"""Attachment payload checks of the profile (``ContentTransferEncoded``), outside the XSD.

Contract: :func:`check_base64` looks at one attachment's base64 text and returns problems
(``attachment.undecodable``, ``attachment.not_zip``, ``attachment.corrupt``); it never raises.

Why not the validator: libxml2 walks base64 text at ≈ 6.5 ms per MB (PERFORMANCE.md), more
than a whole header check. The cheap pass used on the intake path checks the length (a multiple
of 4), the alphabet (``bytes.translate`` deleting every base64 letter: what remains may only be
the final ``=`` padding), decodes the first and last quantum strictly
(``binascii.a2b_base64(strict_mode=True)``: padding, and the ZIP magic of edxml.md §4 — the
payload is usually a ZIP holding one entry). Measured on 400 KB of base64
(``bench/RESULTS-validate.md``): ≈ 0.2 ms, against ≈ 1.2–2 ms for a strict decode of the whole
text, whole or in chunks. With ``full`` the payload is decoded and a ZIP is opened and
CRC-tested (only when asked: it holds a decoded copy in memory).

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
from hub.edxml.source import Package
from hub.errors import AttachmentError, XmlError

__all__ = ["check_base64", "check_streamed"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
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
    eq = chunk.find("=")
    pos = offset + (eq if eq >= 0 else 0)
    return _undecodable(
        path,
        f"not base64: misplaced padding '=' at position {pos}",
        f"không phải base64: dấu '=' sai chỗ ở vị trí {pos}",
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
    if not data.isascii():
        return [_explain(data, 0, path)]
    raw = data.encode("ascii")
    # Alphabet: delete every base64 letter; what is left may only be the final padding.
    rest = raw.translate(None, _ALPHABET)
    if rest and (rest not in (b"=", b"==") or not raw.endswith(rest)):
        return [_explain(data, 0, path)]
    if len(raw) % 4:
        return [
            _undecodable(
                path,
                f"base64 text of {len(raw)} characters is truncated (not a multiple of 4)",
                f"chuỗi base64 dài {len(raw)} ký tự bị cắt cụt (không chia hết cho 4)",
            )
        ]
    try:
        head = binascii.a2b_base64(raw[:8], strict_mode=True)
        binascii.a2b_base64(raw[-4:], strict_mode=True)  # the padding quantum
    except binascii.Error:
        return [_explain(data, max(len(raw) - 4, 0), path)]
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
    if full:
        try:
            payload = binascii.a2b_base64(raw, strict_mode=True)
        except binascii.Error as exc:  # pragma: no cover - the structural pass covers this
            return [_undecodable(path, f"not base64: {exc}", f"không phải base64: {exc}")]
        if is_zip:
            problems.extend(_zip_problems(payload, path))
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
    data: Package | None, *, full: bool, atts: Sequence[AttachmentMeta]
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
