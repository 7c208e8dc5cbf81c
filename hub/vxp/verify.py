"""Server-side verification of a VXP request (``vxp-protocol.md`` §8). Pure: no I/O, no clock.

Theory of operation. The signed text is the ``XroadVnpt-sign-header`` value *as received*; it
is parsed, never rebuilt, and every parameter the hub acts on is read from it — never from the
loose ``XroadVnpt-<name>`` headers, which only have to agree with it. The steps run in the
order of §8 and the first failure raises:

1. required headers present (names case-insensitive);
2. the signed text is a JSON object of string members named ``XroadVnpt-*``, no duplicates,
   at most :attr:`VerifyPolicy.max_sign_header_bytes`;
3. ``XroadVnpt-sign-header-key`` lists the member names in order; loose headers equal the
   signed values where present;
4. the system is known and enabled — otherwise the *same* text as a bad HMAC, so a prober cannot
   enumerate system ids (the difference is in ``details["reason"]``, for the log only);
5. HMAC-SHA256 in constant time against the current and (during rotation) previous secret;
6. the timestamp lies within the freshness window (future skew, per-system maximum age);
7. ``Content-Type`` is signed.

A repeated identical signature is *not* a replay: an SDK service object freezes its timestamp
at construction (§2.1) and legitimately repeats the same signed query for hours; state-changing
operations are made idempotent instead (§8 step 8). A deployment whose systems all sign a fresh
timestamp per request may refuse repeats in the HTTP layer (``refuse_replays``,
:mod:`adapters.http.gate`), with a refusal of its own — never this module's "Authentication
failed", which a client must read as a refused credential.

Hazard: :class:`hub.errors.AuthenticationFailed` raised here carries the internal reason in
``details``; the HTTP layer logs it and must not answer it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import AuthenticationFailed, InvalidRequest
from hub.services.contracts import SystemCredentials
from hub.vxp.wire import (
    HASH_HEADER,
    PREFIX,
    SIGN_HEADER,
    SIGN_HEADER_KEY,
    parse_timestamp,
    render_lossy,
)

#: The one answer for unknown system, disabled system and bad HMAC (§8 step 4).
AUTH_FAILED = "Authentication failed"
_AUTH_FAILED_VI = "Xác thực thất bại"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: Headers the SDK sends with the ``XroadVnpt-`` prefix that are not parameters.
_NOT_PARAMETERS = frozenset(
    h.lower() for h in (SIGN_HEADER, SIGN_HEADER_KEY, HASH_HEADER, "XroadVnpt-version")
)

RawHeaders = Sequence[tuple[bytes, bytes]]
CredentialLookup = Callable[[str], SystemCredentials | None]


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    """Limits of the verifier; per-system values come from :class:`SystemCredentials`."""

    max_sign_header_bytes: int = 16 * 1024
    """Cap on the signed JSON text (§8 step 2)."""
    future_skew_s: int = 15 * 60
    """How far in the future a timestamp may lie (client clock ahead of ours)."""
    default_max_age_s: int = 15 * 60
    """Maximum age when a system's credentials say 0 (not configured)."""


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """An authenticated request: who sent it and what it signed.

    ``params`` maps the signed names (prefix removed, case kept) to their values in signed
    order. Read them with :meth:`param`, which is case-insensitive by name.
    """

    system_id: str
    params: Mapping[str, str]
    hash_header: str
    timestamp: dt.datetime
    age_s: float
    """Server clock minus the signed timestamp; large for long-lived SDK service objects."""
    secret_index: int
    """0 = current secret, 1 = the previous one (rotation in progress)."""
    max_age_s: int = 0
    """The maximum age applied to this system: after ``timestamp + max_age_s`` the same
    headers are refused as stale, so a memory of seen headers may forget them then."""

    def param(self, name: str, default: str | None = None) -> str | None:
        """The signed value of ``name`` read case-insensitively (``docId`` = ``docid``).

        Raises :class:`InvalidRequest` when case variants carry different values: the SDK
        accumulates parameters (§2.1), and guessing which one the caller meant is unsafe.
        """
        wanted = name.lower()
        found = {v for k, v in self.params.items() if k.lower() == wanted}
        if not found:
            return default
        if len(found) > 1:
            variants = sorted(k for k in self.params if k.lower() == wanted)
            raise InvalidRequest(
                f"conflicting values for {'/'.join(variants)}",
                message_vi=f"tham số {'/'.join(variants)} có các giá trị khác nhau",
                code="vxp.param_conflict",
                details={"parameter": name},
            )
        return found.pop()

    def require(self, name: str) -> str:
        """Like :meth:`param` but a missing or empty value is an :class:`InvalidRequest`."""
        value = self.param(name)
        if not value:
            raise InvalidRequest(
                f"missing signed parameter XroadVnpt-{name}",
                message_vi=f"thiếu tham số XroadVnpt-{name} trong phần ký",
                code="vxp.param_missing",
                details={"parameter": name},
            )
        return value


def _fail(reason: str, public: str = AUTH_FAILED, **details: Any) -> AuthenticationFailed:
    if public == AUTH_FAILED:
        en, vi = AUTH_FAILED, _AUTH_FAILED_VI
    else:
        en, vi = f"{AUTH_FAILED}: {public}", f"{_AUTH_FAILED_VI}: {public}"
    return AuthenticationFailed(en, message_vi=vi, details={"reason": reason, **details})


def _header(headers: RawHeaders, name: str) -> bytes | None:
    wanted = name.lower().encode("ascii")
    values = [v for k, v in headers if k.lower() == wanted]
    if len(values) > 1:
        raise _fail("repeated header", f"{name} sent more than once", header=name)
    return values[0] if values else None


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-JSON constant {token}")


def _parse_signed(raw: bytes, policy: VerifyPolicy) -> list[tuple[str, str]]:
    if len(raw) > policy.max_sign_header_bytes:
        raise _fail("sign-header too large", "sign-header too large", size=len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # §2.4: an SDK talking to an endpoint with an explicit port truncates characters to
        # their low byte; answer "signature mismatch" clearly instead of crashing.
        raise _fail(
            "sign-header not UTF-8", "signature mismatch (sign-header is not UTF-8)"
        ) from None
    pairs_seen: list[list[tuple[str, Any]]] = []

    def keep(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        pairs_seen.append(pairs)
        return pairs

    try:
        top = json.loads(text, object_pairs_hook=keep, parse_constant=_reject_constant)
    except ValueError as exc:
        raise _fail(
            "sign-header not JSON", "sign-header is not a JSON object", error=str(exc)
        ) from None
    # ``top`` must be the one object itself: ``[{…}]`` also yields a list and one object, and
    # its items are not (name, value) pairs (unpacking them escaped as a 500).
    if len(pairs_seen) != 1 or top is not pairs_seen[0]:
        raise _fail("sign-header not a flat object", "sign-header is not a flat JSON object")
    members: list[tuple[str, str]] = []
    names: set[str] = set()
    for name, value in top:
        if not isinstance(value, str):
            raise _fail("non-string member", f"sign-header member {name} is not a string")
        if not name.startswith(PREFIX) or len(name) == len(PREFIX):
            raise _fail("foreign member", f"sign-header member {name} is not XroadVnpt-*")
        if name in names:  # keys are case-sensitive: docId and docid are two members
            raise _fail("duplicate member", f"sign-header member {name} appears twice")
        names.add(name)
        members.append((name[len(PREFIX) :], value))
    return members


def _check_loose(headers: RawHeaders, members: list[tuple[str, str]]) -> None:
    """Each ``XroadVnpt-<name>`` header present must carry a signed value (§8 step 3).

    HTTP stacks fold header names to lower case, so ``docId`` and ``docid`` may become
    indistinguishable: an exact-case match is compared exactly; otherwise the value must be one
    of the signed values whose names fold to the same header name.
    """
    by_exact = {PREFIX.encode() + n.encode("utf-8"): v for n, v in members}
    by_folded: dict[bytes, set[str]] = {}
    for n, v in members:
        by_folded.setdefault((PREFIX + n).lower().encode("utf-8"), set()).add(v)
    for raw_name, raw_value in headers:
        folded = raw_name.lower()
        if (
            not folded.startswith(PREFIX.lower().encode())
            or folded.decode("latin-1") in _NOT_PARAMETERS
        ):
            continue
        if raw_name in by_exact:
            allowed = {by_exact[raw_name]}
        elif folded in by_folded:
            allowed = by_folded[folded]
        else:
            continue  # an unsigned extra header: never read, so harmless
        if not any(raw_value == v.encode("utf-8") for v in allowed):
            shown = raw_name.decode("latin-1")
            raise _fail("loose header differs", f"header {shown} differs from its signed value")


def verify_request(
    headers: RawHeaders,
    credentials: CredentialLookup,
    now: dt.datetime,
    policy: VerifyPolicy = VerifyPolicy(),
) -> VerifiedRequest:
    """Authenticate one request from its raw headers; see the module docstring for the steps.

    ``headers`` are the raw (name, value) byte pairs as received; ``credentials`` looks a
    system up (``None`` = unknown); ``now`` is the server clock (aware).
    Raises :class:`AuthenticationFailed` (→ 401) with a specific public message, except that
    unknown system, disabled system and bad HMAC share :data:`AUTH_FAILED`.
    """
    sign_header = _header(headers, SIGN_HEADER)
    hash_header = _header(headers, HASH_HEADER)
    key_list = _header(headers, SIGN_HEADER_KEY)
    missing = [
        n
        for n, v in (
            (SIGN_HEADER, sign_header),
            (HASH_HEADER, hash_header),
            (SIGN_HEADER_KEY, key_list),
        )
        if v is None
    ]
    if missing or sign_header is None or hash_header is None or key_list is None:
        raise _fail("missing headers", f"missing {', '.join(missing)}", missing=missing)
    hash_text = hash_header.decode("latin-1").strip().lower()

    members = _parse_signed(sign_header, policy)
    if key_list.decode("latin-1").split(";") != [n for n, _ in members]:
        raise _fail(
            "key list mismatch", "sign-header-key does not list the signed members in order"
        )
    _check_loose(headers, members)
    params = dict(members)

    system_id = params.get("systemid")
    if not system_id:
        raise _fail("no systemid", "systemid is not signed")
    creds = credentials(system_id)
    if creds is None or not creds.enabled or not creds.secrets:
        reason = "unknown system" if creds is None else "system disabled or without secret"
        raise _fail(reason, system_id=system_id)

    if not _HEX64.match(hash_text):
        raise _fail("malformed hash-header", system_id=system_id)
    matched = -1
    for index, secret in enumerate(creds.secrets[:2]):
        expected = hmac.new(secret.encode("utf-8"), sign_header, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, hash_text) and matched < 0:
            matched = index
    if matched < 0:
        raise _fail("bad HMAC", system_id=system_id)

    ts_text = params.get("timestamp")
    if ts_text is None:
        raise _fail("no timestamp", "timestamp is not signed", system_id=system_id)
    try:
        signed_at = parse_timestamp(ts_text, creds.timezone)
    except ValueError:
        raise _fail("bad timestamp", "malformed timestamp", system_id=system_id) from None
    age = (now - signed_at).total_seconds()
    max_age = creds.max_age_s or policy.default_max_age_s
    if -age > policy.future_skew_s:
        raise _fail(
            "timestamp in the future", "timestamp too far in the future", system_id=system_id
        )
    if age > max_age:
        raise _fail("timestamp too old", "timestamp too old", system_id=system_id, age_s=int(age))
    if "Content-Type" not in params:
        raise _fail("Content-Type not signed", "Content-Type is not signed", system_id=system_id)
    return VerifiedRequest(
        system_id=system_id,
        params=params,
        hash_header=hash_text,
        timestamp=signed_at,
        age_s=age,
        secret_index=matched,
        max_age_s=max_age,
    )


def check_hash_file(verified: VerifiedRequest, body: bytes) -> bytes:
    """The package in ``body`` if the signed ``hash-file`` matches it (§4, §8 step 7).

    Candidates, in order: ``body`` minus one trailing CR LF (the SDK appends one), then
    ``body`` as is. The signed value may be the SDK's lossy rendering or ordinary hex.
    Raises :class:`AuthenticationFailed` when ``hash-file`` is not signed or matches neither.
    """
    signed = _signed_hash_file(verified)
    candidates = [body[:-2], body] if body.endswith(b"\r\n") else [body]
    for candidate in candidates:
        if _hash_matches(hashlib.sha256(candidate).digest(), signed):
            return candidate
    raise _mismatch(verified)


def check_hash_digests(verified: VerifiedRequest, digests: Sequence[bytes]) -> int:
    """:func:`check_hash_file` for a body hashed as it arrived: the index of the first of
    ``digests`` (SHA-256 of the candidate bodies, in the order :func:`check_hash_file` tries
    them) that the signed ``hash-file`` names. Raises as :func:`check_hash_file`."""
    signed = _signed_hash_file(verified)
    for index, digest in enumerate(digests):
        if _hash_matches(digest, signed):
            return index
    raise _mismatch(verified)


def _signed_hash_file(verified: VerifiedRequest) -> str:
    signed = verified.param("hash-file")
    if not signed:
        raise _fail("hash-file not signed", "hash-file is not signed", system_id=verified.system_id)
    signed = signed.lower()
    if not signed.isascii():
        raise _fail("hash-file not ASCII", "hash-file does not match the package")
    return signed


def _hash_matches(digest: bytes, signed: str) -> bool:
    return hmac.compare_digest(render_lossy(digest), signed) or hmac.compare_digest(
        digest.hex(), signed
    )


def _mismatch(verified: VerifiedRequest) -> AuthenticationFailed:
    return _fail(
        "hash-file mismatch",
        "hash-file does not match the package",
        system_id=verified.system_id,
    )
