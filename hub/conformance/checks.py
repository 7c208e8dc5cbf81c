"""Protocol checks of the conformance bench, over the requests a vendor's connector made.

Every request reaching the bench is kept as a :class:`RecordedRequest` (the runner's ASGI
recorder builds them): the header values exactly as received (bytes shown as Latin-1, so
nothing is lost or guessed; names lower-cased by the HTTP parser), digests of the body, the
reply. The checks below are pure functions of that list and return a :class:`CheckResult` that
quotes the first offending request.

* :func:`check_timestamps` — ``vxp-protocol.md`` §2.1: the official SDK fixes ``timestamp`` when
  its service object is built, so a long-running connector sends the same value for hours and
  is refused once it is older than the hub's window. A value seen again more than
  :data:`FROZEN_AFTER_S` later, or one further than :data:`MAX_SKEW_S` from the arrival time,
  fails.
* :func:`check_header_charset` — §2.4: with an explicit port in ``service.endpoint`` the SDK's
  HttpClient truncates every character to its low byte; non-ASCII header values must arrive as
  UTF-8.
* :func:`check_hash_file` — §4: ``hash-file`` must be the SHA-256 of the package (body less one
  trailing CR LF, or the whole body), in the SDK's lossy rendering or ordinary hex; the result
  names the form used.
* :func:`check_authentication` — no request refused as unauthenticated (HTTP 401).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.vxp.wire import DEFAULT_ZONE, parse_timestamp, render_lossy

#: A timestamp seen again this many seconds later is frozen (the SDK defect), not a retry.
FROZEN_AFTER_S = 2.0
#: How far a timestamp may be from the arrival time (clock skew of the vendor's machine).
MAX_SKEW_S = 120.0
_PREFIX = "xroadvnpt-"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the bench received it, and the hub's reply."""

    seq: int
    at: dt.datetime
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    """Name (as the server's HTTP parser gives it: lower-case) and value as received, decoded as
    Latin-1 (one character per byte, so non-UTF-8 bytes stay visible)."""
    body_size: int
    body_sha256: str
    body_sha256_less_crlf: str | None
    """SHA-256 of the body without its last CR LF, when it ends with one (the SDK adds it)."""
    body_excerpt: str
    status: int
    reply_excerpt: str
    signed: Mapping[str, str] = field(default_factory=dict)
    """The signed parameters (``XroadVnpt-sign-header`` JSON, prefix removed), when readable."""

    @property
    def operation(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def param(self, name: str) -> str | None:
        """A signed parameter; falls back to the loose ``XroadVnpt-<name>`` header."""
        return self.signed.get(name) or self.header(f"XroadVnpt-{name}")

    @property
    def reply(self) -> dict[str, Any]:
        try:
            value = json.loads(self.reply_excerpt)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def failed(self) -> bool:
        """HTTP ≥ 400, or a VXP ``FAIL`` envelope."""
        return self.status >= 400 or self.reply.get("status") == "FAIL"

    @property
    def error_desc(self) -> str:
        reply = self.reply
        desc = reply.get("ErrorDesc") or (reply.get("error") or {}).get("message")
        return str(desc or self.reply_excerpt[:200])

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "method": self.method,
            "path": self.path,
            "headers": [list(h) for h in self.headers],
            "body_size": self.body_size,
            "body_sha256": self.body_sha256,
            "body_excerpt": self.body_excerpt,
            "status": self.status,
            "reply_excerpt": self.reply_excerpt,
        }


def signed_params(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The signed JSON's members (prefix removed), or ``{}`` when absent or unreadable."""
    raw = next((v for k, v in headers if k.lower() == "xroadvnpt-sign-header"), None)
    if raw is None:
        return {}
    try:
        value = json.loads(raw.encode("latin-1").decode("utf-8"))
    except (ValueError, UnicodeError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {k[len(_PREFIX) :]: str(v) for k, v in value.items() if k.lower().startswith(_PREFIX)}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one protocol check."""

    id: str
    title_vi: str
    title_en: str
    passed: bool
    reason_vi: str = ""
    reason_en: str = ""
    request: RecordedRequest | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title_vi": self.title_vi,
            "title_en": self.title_en,
            "outcome": "passed" if self.passed else "failed",
            "reason_vi": self.reason_vi,
            "reason_en": self.reason_en,
            "request": self.request.to_dict() if self.request else None,
        }


def check_timestamps(requests: Sequence[RecordedRequest], zone: str = DEFAULT_ZONE) -> CheckResult:
    """Fresh ``timestamp`` on every request (module docstring)."""
    title = ("Dấu thời gian mới cho mỗi yêu cầu", "A fresh timestamp on every request")
    first_seen: dict[str, dt.datetime] = {}
    for r in requests:
        text = r.param("timestamp")
        if text is None:
            continue
        try:
            when = parse_timestamp(text, zone)
        except ValueError:
            return CheckResult(
                "protocol.timestamp",
                *title,
                False,
                f"dấu thời gian sai dạng ddMMyyyyTHHmmss+SSSS: {text!r}",
                f"malformed timestamp (ddMMyyyyTHHmmss+SSSS): {text!r}",
                r,
            )
        seen = first_seen.setdefault(text, r.at)
        if (r.at - seen).total_seconds() > FROZEN_AFTER_S:
            return CheckResult(
                "protocol.timestamp",
                *title,
                False,
                f"dấu thời gian {text} bị dùng lại sau {(r.at - seen).total_seconds():.0f} giây "
                "(lỗi 'timestamp đóng băng' của SDK: tạo đối tượng dịch vụ mới cho mỗi lần gọi)",
                f"timestamp {text} reused {(r.at - seen).total_seconds():.0f} s later (the "
                "SDK's frozen timestamp: build a new service object per call)",
                r,
            )
        skew = abs((r.at - when).total_seconds())
        if skew > MAX_SKEW_S:
            return CheckResult(
                "protocol.timestamp",
                *title,
                False,
                f"dấu thời gian {text} lệch {skew:.0f} giây so với lúc nhận (đồng hồ hoặc múi "
                "giờ sai, hay timestamp đóng băng)",
                f"timestamp {text} is {skew:.0f} s away from the arrival time (clock or zone "
                "wrong, or a frozen timestamp)",
                r,
            )
    return CheckResult("protocol.timestamp", *title, True)


def check_header_charset(requests: Sequence[RecordedRequest]) -> CheckResult:
    """Non-ASCII header values arrive as UTF-8 (module docstring)."""
    title = ("Giá trị header tiếng Việt dạng UTF-8", "Non-ASCII header values in UTF-8")
    seen = 0
    for r in requests:
        for name, value in r.headers:
            if value.isascii():
                continue
            seen += 1
            try:
                value.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                return CheckResult(
                    "protocol.non_ascii",
                    *title,
                    False,
                    f"header {name} không phải UTF-8 (SDK cắt mỗi ký tự còn một byte khi "
                    "service.endpoint ghi rõ cổng; bỏ cổng hoặc đặt charset UTF-8)",
                    f"header {name} is not UTF-8 (the SDK truncates each character to one "
                    "byte when service.endpoint has an explicit port; drop the port or set a "
                    "UTF-8 charset)",
                    r,
                )
    note = f"{seen} giá trị không phải ASCII" if seen else "không có giá trị không phải ASCII"
    return CheckResult(
        "protocol.non_ascii",
        *title,
        True,
        note,
        f"{seen} non-ASCII values" if seen else "no non-ASCII header value sent",
    )


def _forms(sha256_hex: str) -> dict[str, str]:
    digest = bytes.fromhex(sha256_hex)
    return {sha256_hex: "hex", render_lossy(digest): "lossy"}


def check_hash_file(requests: Sequence[RecordedRequest]) -> CheckResult:
    """``hash-file`` matches the package of every ``sendEdoc`` (module docstring)."""
    title = ("hash-file khớp với gói tin gửi", "hash-file matches the package sent")
    used: set[str] = set()
    for r in requests:
        if r.operation != "sendEdoc":
            continue
        value = r.param("hash-file")
        candidates: dict[str, str] = {}
        for sha in (r.body_sha256_less_crlf, r.body_sha256):
            if sha:
                candidates.update(_forms(sha))
        if value is None or value.lower() not in candidates:
            return CheckResult(
                "protocol.hash_file",
                *title,
                False,
                "thiếu hash-file" if value is None else f"hash-file {value} không khớp với gói",
                "hash-file missing" if value is None else f"hash-file {value} does not match",
                r,
            )
        used.add(candidates[value.lower()])
    if not used:
        return CheckResult(
            "protocol.hash_file",
            *title,
            False,
            "không có yêu cầu sendEdoc nào để kiểm tra",
            "no sendEdoc request to check",
        )
    forms = ", ".join(sorted(used))
    return CheckResult("protocol.hash_file", *title, True, f"dạng: {forms}", f"form used: {forms}")


def check_authentication(requests: Sequence[RecordedRequest]) -> CheckResult:
    """No request refused as unauthenticated."""
    title = ("Mọi yêu cầu xác thực thành công", "Every request authenticates")
    for r in requests:
        if r.status == 401:
            return CheckResult(
                "protocol.authentication",
                *title,
                False,
                f"trục từ chối xác thực: {r.error_desc}",
                f"authentication refused: {r.error_desc}",
                r,
            )
    return CheckResult("protocol.authentication", *title, True)


PROTOCOL_CHECKS: tuple[Callable[[Sequence[RecordedRequest]], CheckResult], ...] = (
    check_timestamps,
    check_header_charset,
    check_hash_file,
    check_authentication,
)
