"""The LGSP wire as this hub reads it: field names, wrappers and words (pure, no I/O).

No public specification fixes the field names, and deployments differ from province to
province. :mod:`adapters.peers.lgsp` assumes the shapes below and, for each field, accepts every
name met in practice, Vietnamese and English (:data:`READ`, first present wins); it writes one
naming, ``options.naming`` = ``vi`` (the default) or ``en`` (:data:`NAMINGS`). A list may come
bare or wrapped in an object (``data``, ``items``, ``content``, ``danhSach``…); an object may be
wrapped once in ``data`` / ``result``. Times are ISO 8601 (no zone = ICT) or epoch milliseconds.

====================================  ========================================================
request (vi names; en in brackets)    body → answer
====================================  ========================================================
GET  /vanbans?loaiBanTin=edoc|status  → [{docId, maDonViGui [from], loaiBanTin [messageType],
                                      thoiGian [createdAt]}, …] pending for the caller
GET  /vanbans/{docId}                 → {docId, data: base64 edXML, …}
POST /vanbans                         {maDonViGui, maDonViNhan [to]: [codes], loaiBanTin,
                                      data: base64} → {docId}
PUT  /vanbans/{docId}                 {trangThai [status]: done|fail, lyDo [reason]}
GET  /vanbans/{docId}/trangthais      → [{maDinhDanh [code], trangThai, moTa [description],
                                      thoiGian}, …] one per recipient (sender only)
GET  /donvilienthongs                 → [{maDinhDanh, tenDonVi [name], maDonViCha [parentCode],
                                      email, capDonVi [level], hoatDong [active]}, …]
POST /donvilienthongs                 the agency object (409 if the gateway has it already)
PUT  /donvilienthongs/{code}          the agency object; ``hoatDong: false`` withdraws it
====================================  ========================================================

Status words are folded (lower case, accents and separators dropped: ``Thành công`` →
``thanhcong``) before they are looked up, so spelling variants of one word map alike.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from typing import Any

from hub.edxml.model import VN_TZ
from hub.errors import PeerError
from hub.services.contracts import TransportStatus

#: Logical field → the names read, first present wins (Vietnamese and English practice).
READ: Mapping[str, tuple[str, ...]] = {
    "id": ("docId", "id", "maVanBan", "vanBanId"),
    "from": ("maDonViGui", "from", "noiGui", "senderCode"),
    "type": ("loaiBanTin", "messageType", "messagetype", "type"),
    "data": ("data", "noiDung", "content"),
    "at": ("thoiGian", "createdAt", "ngayTao", "updatedAt", "created", "time"),
    "status": ("trangThai", "status"),
    "description": ("moTa", "description", "lyDo", "reason"),
    "code": ("maDinhDanh", "code", "maDonVi", "agencyCode"),
    "name": ("tenDonVi", "name", "ten"),
    "parent": ("maDonViCha", "parentCode", "pcode"),
    "email": ("email", "mail", "thuDienTu"),
    "level": ("capDonVi", "level"),
    "active": ("hoatDong", "active"),
    "message": (
        "message",
        "thongBao",
        "moTa",
        "error_description",
        "description",
        "ErrorDesc",
        "error",
    ),
}
#: Keys under which a gateway wraps a list (or, for ``data``/``result``, one object).
WRAPPERS = ("data", "items", "content", "danhSach", "result", "results")
#: Logical field → the name written, per ``options.naming``.
NAMINGS: Mapping[str, Mapping[str, str]] = {
    "vi": {
        "from": "maDonViGui",
        "to": "maDonViNhan",
        "type": "loaiBanTin",
        "data": "data",
        "status": "trangThai",
        "reason": "lyDo",
        "code": "maDinhDanh",
        "name": "tenDonVi",
        "parent": "maDonViCha",
        "email": "email",
        "level": "capDonVi",
        "active": "hoatDong",
    },
    "en": {
        "from": "from",
        "to": "to",
        "type": "messageType",
        "data": "data",
        "status": "status",
        "reason": "reason",
        "code": "code",
        "name": "name",
        "parent": "parentCode",
        "email": "email",
        "level": "level",
        "active": "active",
    },
}
_DONE_WORDS = frozenset({"done", "success", "thanhcong", "completed", "dahoanthanh"})
_FAIL_WORDS = frozenset({"fail", "failed", "error", "loi", "rejected", "tuchoi"})
_INACTIVE_WORDS = frozenset({"false", "0", "inactive", "deleted", "disabled", "ngunghoatdong"})


def field_value(entry: Mapping[str, Any], logical: str) -> Any:
    """The value of the first of the field's :data:`READ` names present (not null), or ``None``."""
    for name in READ[logical]:
        if name in entry and entry[name] is not None:
            return entry[name]
    return None


def text(entry: Mapping[str, Any], logical: str) -> str | None:
    """A field as non-empty text (numbers are written out), else ``None``."""
    value = field_value(entry, logical)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        written = str(value).strip()
        return written or None
    return None


def as_object(answer: Any) -> Mapping[str, Any]:
    """The answer as one object, unwrapped once from ``data`` / ``result`` when wrapped."""
    if not isinstance(answer, dict):
        return {}
    for key in ("data", "result"):
        inner = answer.get(key)
        if isinstance(inner, dict):
            return inner
    return answer


def as_list(answer: Any, peer: str, what: str) -> list[Mapping[str, Any]]:
    """The answer as a list of objects, bare or wrapped; an empty answer is an empty list."""
    if answer is None:
        return []
    if isinstance(answer, dict):
        for key in WRAPPERS:
            if isinstance(answer.get(key), list):
                answer = answer[key]
                break
    if not isinstance(answer, list) or not all(isinstance(e, dict) for e in answer):
        raise reply_error(peer, f"{what}: answer is not a list of objects")
    return answer


def when(entry: Mapping[str, Any]) -> dt.datetime | None:
    """The entry's time, UTC: ISO 8601 (no zone = ICT) or epoch milliseconds; else ``None``."""
    value = field_value(entry, "at")
    at: dt.datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        at = dt.datetime.fromtimestamp(value / 1000.0, dt.UTC)
    elif isinstance(value, str):
        try:
            at = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=VN_TZ)
    return at.astimezone(dt.UTC) if at is not None else None


def fold(word: str) -> str:
    """Lower case, ASCII letters only: ``Thành công`` and ``thanh_cong`` both → ``thanhcong``."""
    folded = unicodedata.normalize("NFKD", word.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in folded.lower() if c.isascii() and c.isalnum())


def transport_status(word: str, description: str | None) -> tuple[TransportStatus, str | None]:
    """The gateway's status word as a transport status; an unmapped word is kept as text."""
    key = fold(word)
    if key in _DONE_WORDS:
        return TransportStatus.DONE, description
    if key in _FAIL_WORDS:
        return TransportStatus.FAIL, description
    return TransportStatus.PROCESSING, f"{word}: {description}" if description else word


def inactive(entry: Mapping[str, Any]) -> bool:
    """Whether an agency entry says it is withdrawn (``false``, ``0``, ``inactive``…)."""
    value = field_value(entry, "active")
    if value is None:
        return False
    return fold(str(value)) in _INACTIVE_WORDS


def reply_error(peer: str, what: str) -> PeerError:
    """The error for a JSON answer that lacks what this reading needs (code ``lgsp.reply``)."""
    return PeerError(
        f"{peer}: {what}",
        message_vi=f"{peer}: cổng LGSP trả lời sai dạng ({what})",
        code="lgsp.reply",
    )
