"""The VXP wire format as the official Java SDK (SDKVXP 2.0.1) writes it. Pure functions, no I/O.

Everything here reproduces a detail of the SDK byte for byte (``vxp-protocol.md`` §2–§4), because
the national axis may verify more strictly than this hub does and an unmodified SDK connector
must verify against the hub:

* :func:`lossy_hash_file` — the SDK's SHA-256 rendering without zero padding (§4);
* :func:`format_timestamp` / :func:`parse_timestamp` — ``ddMMyyyy'T'HHmmss+SSSS`` where ``SSSS`` is
  the *millisecond*, not a UTC offset (§2.3);
* :func:`java_string_hash` and :func:`hashmap_order` — the iteration order of a
  ``java.util.HashMap`` for a key set, which decides the order of the signed members (§2.2);
* :func:`gson_quote` — Gson 2.2 ``JsonObject.toString()`` string escaping (§2.2);
* :func:`sign_headers` — the whole header list for one request (§2.2, §7).

Hazard: the signed text is the *exact* compact JSON the client wrote; a verifier must never
rebuild it (see :mod:`hub.vxp.verify`). The builder here is for the client side only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from zoneinfo import ZoneInfo

#: Prefix of every parameter header and of every member of the signed JSON.
PREFIX = "XroadVnpt-"
SIGN_HEADER = "XroadVnpt-sign-header"
SIGN_HEADER_KEY = "XroadVnpt-sign-header-key"
HASH_HEADER = "XroadVnpt-hash-header"
VERSION_HEADER = "XroadVnpt-version"
#: Fixed values the SDK sends (``VnptProperties``); the national axis may look at them.
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
SDK_VERSION = "3.0.201608"
#: The zone SDK timestamps are written in unless a system is configured otherwise (§2.3).
DEFAULT_ZONE = "Asia/Ho_Chi_Minh"

JSON_CT = "application/json"
OCTET_CT = "application/octet-stream"


class Operation(StrEnum):
    """The VXP operations (§1); values are the last path segment on the wire."""

    SEND_EDOC = "sendEdoc"
    GET_RECEIVED_EDOC_LIST = "getReceivedEdocList"
    GET_EDOC = "getEdoc"
    DOWNLOAD_EDOC = "downloadEdoc"
    UPDATE_STATUS = "updateStatus"
    GET_SENT_EDOC_LIST = "getSentEdocList"
    COUNT_RECEIVE_EDOC = "countReceiveEdoc"
    COUNT_RECEIVE_STATUS = "countReceiveStatus"
    GET_AGENCIES_LIST = "getAgenciesList"
    GET_AGENCIES_LIST_QD20 = "getAgenciesListQD20"
    GET_SYNCHRONIZE_UNIT = "getSynchronizeUnit"
    REGISTER_AGENCY = "registerAgency"
    DELETE_AGENCY = "deleteAgency"


#: Operations whose reply carries a ``data`` array (an empty one on errors, §5.3).
LIST_OPERATIONS = frozenset(
    {
        Operation.GET_RECEIVED_EDOC_LIST,
        Operation.GET_SENT_EDOC_LIST,
        Operation.GET_AGENCIES_LIST,
        Operation.GET_AGENCIES_LIST_QD20,
        Operation.GET_SYNCHRONIZE_UNIT,
    }
)

_TS_RE = re.compile(r"^(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{4})$")


# --- hash-file (§4) ---------------------------------------------------------------------------


def render_lossy(digest: bytes) -> str:
    """Each byte as lower-case hex *without* zero padding (the SDK's ``Integer.toHexString``)."""
    return "".join(format(b, "x") for b in digest)


def lossy_hash_file(data: bytes) -> str:
    """The ``hash-file`` value the SDK signs for ``data``: SHA-256, rendered lossily.

    ``lossy_hash_file(b"abc")`` is ``ba7816bf8f1cfea4…f2015ad`` (61 characters) where ordinary hex
    is ``ba7816bf8f01cfea…f20015ad``. Compare renderings, never parse one back (it is ambiguous).
    """
    return render_lossy(hashlib.sha256(data).digest())


# --- timestamp (§2.3) -------------------------------------------------------------------------


def format_timestamp(moment: dt.datetime, zone: str = DEFAULT_ZONE) -> str:
    """``moment`` (timezone-aware) as the SDK writes it in ``zone``: ``21112025T093015+0123``.

    The ``+`` is literal and the last four digits are the milliseconds (0000–0999).
    """
    if moment.tzinfo is None:
        raise ValueError("format_timestamp needs a timezone-aware datetime")
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%d%m%YT%H%M%S") + f"+{local.microsecond // 1000:04d}"


def parse_timestamp(text: str, zone: str = DEFAULT_ZONE) -> dt.datetime:
    """Parse an SDK timestamp as a local time in ``zone``; returns an aware datetime.

    Raises :class:`ValueError` on anything but the exact pattern or a millisecond above 999.
    """
    m = _TS_RE.match(text)
    if m is None:
        raise ValueError(f"not an SDK timestamp (ddMMyyyyTHHmmss+SSSS): {text!r}")
    day, month, year, hour, minute, second, millis = (int(g) for g in m.groups())
    if millis > 999:
        raise ValueError(f"millisecond field above 999: {text!r}")
    return dt.datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=ZoneInfo(zone))


# --- Java HashMap order (§2.2) ----------------------------------------------------------------


def java_string_hash(s: str) -> int:
    """``java.lang.String.hashCode()``: ``s[0]*31^(n-1) + … + s[n-1]`` over UTF-16 code units,
    as a signed 32-bit int."""
    h = 0
    for unit in _utf16_units(s):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _utf16_units(s: str) -> Iterable[int]:
    for ch in s:
        cp = ord(ch)
        if cp < 0x10000:
            yield cp
        else:  # surrogate pair, as Java strings store it
            cp -= 0x10000
            yield 0xD800 + (cp >> 10)
            yield 0xDC00 + (cp & 0x3FF)


def _spread(h: int) -> int:
    """``HashMap.hash()``: the high 16 bits folded into the low ones (Java 8+)."""
    u = h & 0xFFFFFFFF
    return u ^ (u >> 16)


def hashmap_order(keys: Iterable[str]) -> list[str]:
    """The iteration order of a ``new HashMap<String,String>()`` after ``put`` of ``keys`` in order.

    Model: capacity 16, load factor 0.75, doubling when the size exceeds the threshold; a
    bucket keeps insertion order (resizing splits buckets preserving relative order), iteration
    walks buckets by index. Re-putting an existing key keeps its place. Treeified buckets (8+
    colliding keys in a table of 64+) are out of scope: parameter maps hold about ten keys.
    """
    ordered: list[str] = []
    for k in keys:
        if k not in ordered:
            ordered.append(k)
    capacity = 16
    while len(ordered) > capacity * 3 // 4:
        capacity *= 2
    position = {k: i for i, k in enumerate(ordered)}
    return sorted(
        ordered, key=lambda k: (_spread(java_string_hash(k)) & (capacity - 1), position[k])
    )


# --- Gson string escaping (§2.2) --------------------------------------------------------------

_GSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "\t": "\\t",
    "\b": "\\b",
    "\n": "\\n",
    "\r": "\\r",
    "\f": "\\f",
}


def gson_quote(s: str) -> str:
    """``s`` as a JSON string literal the way Gson 2.2's ``JsonWriter`` writes it (not HTML-safe).

    Escaped: ``"``, ``\\``, ``\\t \\b \\n \\r \\f`` by their short forms, other controls below
    U+0020 as ``\\u00XX`` (lower-case hex), U+2028/U+2029. Everything else — ``< > & = ' /`` and
    all non-ASCII text — is written raw.
    """
    out = ['"']
    for ch in s:
        if ch in _GSON_SHORT:
            out.append(_GSON_SHORT[ch])
        elif ord(ch) < 0x20 or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def gson_object(members: Sequence[tuple[str, str]]) -> str:
    """A compact JSON object of string members, in the given order (``JsonObject.toString()``)."""
    return "{" + ",".join(f"{gson_quote(k)}:{gson_quote(v)}" for k, v in members) + "}"


# --- the signed header list (§2.2, §7) --------------------------------------------------------


def hmac_hex(secret: str, signed: bytes) -> str:
    """HMAC-SHA256 of ``signed`` with the UTF-8 secret, as 64 lower-case hex digits."""
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def parameter_map(
    *,
    system_id: str,
    timestamp: str,
    content_type: str,
    params: Mapping[str, str],
    hash_file: str | None = None,
) -> list[tuple[str, str]]:
    """The SDK's parameter map for one call, in HashMap iteration order.

    Insertion order mirrors the SDK (``timestamp`` and ``systemid`` at construction, then
    ``Content-Type``, the caller JSON's keys, then ``hash-file``); later puts of an existing
    key replace its value.
    """
    values: dict[str, str] = {"timestamp": timestamp, "systemid": system_id}
    values["Content-Type"] = content_type
    for k, v in params.items():
        values[k] = v
    if hash_file is not None:
        values["hash-file"] = hash_file
    return [(k, values[k]) for k in hashmap_order(values)]


def sign_headers(
    *,
    system_id: str,
    secret: str,
    timestamp: str,
    content_type: str,
    params: Mapping[str, str],
    hash_file: str | None = None,
) -> list[tuple[str, str]]:
    """Every header the SDK sends for one call, in the SDK's order (§2.2).

    ``XroadVnpt-<name>`` per map entry (plus a plain ``Content-Type`` right before
    ``XroadVnpt-Content-Type``), then the key list, the signed JSON, its HMAC, ``User-Agent``
    and ``XroadVnpt-version``. Values may contain non-ASCII text: send them as UTF-8.
    """
    entries = parameter_map(
        system_id=system_id,
        timestamp=timestamp,
        content_type=content_type,
        params=params,
        hash_file=hash_file,
    )
    headers: list[tuple[str, str]] = []
    for name, value in entries:
        if name == "Content-Type":
            headers.append(("Content-Type", value))
        headers.append((PREFIX + name, value))
    signed = gson_object([(PREFIX + n, v) for n, v in entries])
    headers.append((SIGN_HEADER_KEY, ";".join(n for n, _ in entries)))
    headers.append((SIGN_HEADER, signed))
    headers.append((HASH_HEADER, hmac_hex(secret, signed.encode("utf-8"))))
    headers.append(("User-Agent", USER_AGENT))
    headers.append((VERSION_HEADER, SDK_VERSION))
    return headers
