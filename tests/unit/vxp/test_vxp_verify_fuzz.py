"""Property-based fuzzing of the VXP request verifier (``vxp-protocol.md`` §8).

Whatever headers arrive — random maps, random JSON in the signed text (correctly HMAC'd with a
known secret, as a registered but hostile system can do), missing, repeated, re-cased or
non-UTF-8 parts, damaged timestamps, digests and key lists — :func:`verify_request`,
:meth:`VerifiedRequest.param` / ``require`` and :func:`check_hash_file` either answer or raise a
:class:`hub.errors.HubError`; nothing else escapes (an escape is a 500 at the HTTP layer).
And an accepted request always carries a valid HMAC of a signed text that names its system.

Bounded by ``max_examples``; the figures of a run are in ``bench/RESULTS-hostile-input.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.errors import HubError
from hub.services.contracts import SystemCredentials
from hub.vxp.verify import VerifiedRequest, VerifyPolicy, check_hash_file, verify_request
from hub.vxp.wire import JSON_CT, OCTET_CT, format_timestamp, hmac_hex, sign_headers

SECRET = "demo-secret"
NOW = dt.datetime(2026, 11, 21, 5, 5, 45, tzinfo=dt.UTC)
SYSTEMS = {
    "demo.system": SystemCredentials("demo.system", (SECRET,), True, 900, "UTC"),
    "rotating": SystemCredentials("rotating", ("new-secret", SECRET), True, 900, "UTC"),
    "off": SystemCredentials("off", (SECRET,), False, 900, "UTC"),
    "patient": SystemCredentials("patient", (SECRET,), True, 86400, "Asia/Ho_Chi_Minh"),
}
POLICY = VerifyPolicy(max_sign_header_bytes=4096)
FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))

RawHeaders = list[tuple[bytes, bytes]]

# --- strategies -------------------------------------------------------------------------------

NAMES = [
    "systemid",
    "timestamp",
    "Content-Type",
    "hash-file",
    "docId",
    "docid",
    "DOCID",
    "status",
    "messagetype",
    "from",
    "to",
    "method",
    "path",
    "AgencyCode",
    "",
]
SPECIAL_HEADERS = [
    b"xroadvnpt-sign-header",
    b"xroadvnpt-sign-header-key",
    b"xroadvnpt-hash-header",
    b"xroadvnpt-version",
    b"XroadVnpt-sign-header",
    b"content-type",
]

texts = st.text(max_size=40)
raw_bytes = st.binary(max_size=60)
timestamps = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1, 1, 1),
        max_value=dt.datetime(9999, 12, 31),
        timezones=st.just(dt.UTC),
    ).map(lambda d: format_timestamp(d, "UTC")),
    st.from_regex(r"\A\d{2}\d{2}\d{4}T\d{2}\d{2}\d{2}\+\d{4}\Z"),  # the shape, any digits
    st.just(format_timestamp(NOW, "UTC")),
    texts,
)
fresh = st.integers(-1200, 1200).map(
    lambda s: format_timestamp(NOW + dt.timedelta(seconds=s), "UTC")
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
member_names = st.one_of(
    st.sampled_from(NAMES).map(lambda n: "XroadVnpt-" + n), texts, st.just("XroadVnpt-")
)
member_values = st.one_of(texts, timestamps, st.sampled_from([*list(SYSTEMS), "nobody"]))


@st.composite
def signed_text(draw: st.DrawFn) -> str:
    """A JSON text the hub will find correctly HMAC'd: valid-looking or anything at all."""
    kind = draw(st.integers(0, 5))  # mostly structured: those reach the deeper checks
    if kind == 0:  # any JSON value
        return json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    if kind == 1:  # not JSON at all (NaN, truncated, garbage)
        return draw(st.sampled_from(["NaN", "{", '{"a":', "[{}]", "", "{}{}", '{"a":NaN}'])) + draw(
            texts
        )
    members: list[tuple[str, Any]] = [
        ("XroadVnpt-systemid", draw(st.sampled_from([*SYSTEMS, "demo.system", "nobody", ""]))),
        ("XroadVnpt-timestamp", draw(st.one_of(fresh, fresh, timestamps))),
    ]
    if draw(st.integers(0, 3)):
        members.append(("XroadVnpt-Content-Type", draw(st.sampled_from([JSON_CT, OCTET_CT]))))
    # Mostly well-formed members (one in six hostile), so examples get past the structure.
    good = st.sampled_from(NAMES[1:-1]).map(lambda n: "XroadVnpt-" + n)
    names = st.one_of(*[good] * 5, member_names)
    values = st.one_of(*[member_values] * 5, json_values)
    members += draw(st.lists(st.tuples(names, values), max_size=3))
    members = draw(st.permutations(members))
    # Duplicates are written textually: json.dumps of a dict could not repeat a key.
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in members) + "}"


def key_list_of(text: str) -> str:
    """The names a correct client would list (or ``""`` when the text is not an object)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(obj, dict):
        return ""
    return ";".join(k.removeprefix("XroadVnpt-") for k in obj)


@st.composite
def forged_headers(draw: st.DrawFn) -> RawHeaders:
    """A hostile but registered system: whatever it signs carries a valid HMAC."""
    text = draw(signed_text())
    body = text.encode("utf-8", "surrogatepass")
    secret = draw(st.sampled_from([SECRET, SECRET, "new-secret", "wrong"]))
    keys = draw(st.one_of(*[st.just(key_list_of(text))] * 4, texts))
    headers: RawHeaders = [
        (b"xroadvnpt-sign-header", body),
        (b"xroadvnpt-sign-header-key", keys.encode("utf-8", "surrogatepass")),
        (b"xroadvnpt-hash-header", hmac_hex(secret, body).encode()),
    ]
    loose = draw(
        st.lists(
            st.tuples(member_names.map(str.lower), member_values).map(
                lambda kv: (
                    kv[0].encode("utf-8", "surrogatepass"),
                    kv[1].encode("utf-8", "replace"),
                )
            ),
            max_size=3,
        )
    )
    return list(draw(st.permutations(headers + loose)))


@st.composite
def mutated_headers(draw: st.DrawFn) -> RawHeaders:
    """A correct SDK request, then one to three mutations of its header list."""
    params = draw(st.dictionaries(st.sampled_from(NAMES[4:]), texts, max_size=4))
    hash_file = draw(st.none() | st.just(hashlib.sha256(b"body").hexdigest()))
    headers = sign_headers(
        system_id=draw(st.sampled_from(list(SYSTEMS))),
        secret=SECRET,
        timestamp=format_timestamp(
            NOW - dt.timedelta(seconds=draw(st.integers(-2000, 2000))), "UTC"
        ),
        content_type=JSON_CT,
        params=params,
        hash_file=hash_file,
    )
    out: RawHeaders = [
        (k.lower().encode(), v.encode("utf-8"))
        if draw(st.booleans())
        else (k.encode(), v.encode("utf-8"))
        for k, v in headers
    ]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.integers(0, 6))
        if op == 0 and out:  # delete a header
            out.pop(draw(st.integers(0, len(out) - 1)))
        elif op == 1 and out:  # repeat a header
            out.append(out[draw(st.integers(0, len(out) - 1))])
        elif op == 2 and out:  # replace a value with random bytes
            i = draw(st.integers(0, len(out) - 1))
            out[i] = (out[i][0], draw(raw_bytes))
        elif op == 3:  # add a random header (possibly a special one)
            out.append((draw(st.sampled_from(SPECIAL_HEADERS) | raw_bytes), draw(raw_bytes)))
        elif op == 4 and out:  # flip one byte of a value
            i = draw(st.integers(0, len(out) - 1))
            name, value = out[i]
            if value:
                j = draw(st.integers(0, len(value) - 1))
                value = value[:j] + bytes([value[j] ^ draw(st.integers(1, 255))]) + value[j + 1 :]
            out[i] = (name, value)
        elif op == 5:  # an oversize signed text
            out.append((b"xroadvnpt-sign-header", b"{" + b" " * 5000 + b"}"))
        elif op == 6 and out:  # change the case of a name
            i = draw(st.integers(0, len(out) - 1))
            out[i] = (out[i][0].swapcase(), out[i][1])
    return out


random_maps = st.lists(
    st.tuples(st.sampled_from(SPECIAL_HEADERS) | raw_bytes, raw_bytes), max_size=8
)

# --- the property -----------------------------------------------------------------------------


def lookup(system_id: str) -> SystemCredentials | None:
    return SYSTEMS.get(system_id)


def verify_or_hub_error(headers: RawHeaders) -> VerifiedRequest | None:
    """The verdict; the outcome is recorded as a Hypothesis event (``--hypothesis-show-statistics``
    shows how many examples reached acceptance and which refusals)."""
    try:
        verified = verify_request(headers, lookup, NOW, POLICY)
    except HubError as exc:
        event(f"refused: {exc.details.get('reason', exc.code)}")
        return None
    event("accepted")
    return verified


def only_hub_errors(call: Callable[[], object]) -> None:
    with contextlib.suppress(HubError):
        call()


def check_accepted(verified: VerifiedRequest, headers: RawHeaders, names: list[str]) -> None:
    """What an accepted request must satisfy, and its parameters read without escapes."""
    creds = SYSTEMS[verified.system_id]
    assert creds.enabled
    sign = [v for k, v in headers if k.lower() == b"xroadvnpt-sign-header"]
    assert len(sign) == 1
    assert any(
        hmac.compare_digest(hmac_hex(s, sign[0]), verified.hash_header) for s in creds.secrets
    )
    assert all(isinstance(v, str) for v in verified.params.values())
    for name in names:
        only_hub_errors(lambda name=name: verified.param(name))  # type: ignore[misc]
        only_hub_errors(lambda name=name: verified.require(name))  # type: ignore[misc]


@FUZZ
@given(headers=forged_headers(), names=st.lists(st.sampled_from(NAMES) | texts, max_size=4))
def test_forged_signed_text_only_raises_hub_errors(headers: RawHeaders, names: list[str]) -> None:
    verified = verify_or_hub_error(headers)
    if verified is not None:
        check_accepted(verified, headers, names)


@FUZZ
@given(
    headers=mutated_headers(), body=raw_bytes, names=st.lists(st.sampled_from(NAMES), max_size=4)
)
def test_mutated_sdk_headers_only_raise_hub_errors(
    headers: RawHeaders, body: bytes, names: list[str]
) -> None:
    verified = verify_or_hub_error(headers)
    if verified is not None:
        check_accepted(verified, headers, names)
        only_hub_errors(lambda: check_hash_file(verified, body))
        only_hub_errors(lambda: check_hash_file(verified, b"body\r\n"))


@FUZZ
@given(headers=random_maps)
def test_random_header_maps_only_raise_hub_errors(headers: RawHeaders) -> None:
    assert verify_or_hub_error(headers) is None  # nothing random authenticates


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["docId", "status", "messagetype", "from", "to", "AgencyCode"]),
        st.text(max_size=60),
        max_size=6,
    ),
    age_s=st.integers(-900, 900),
    fold=st.booleans(),
)
def test_any_signed_values_are_accepted_and_read_back(
    params: dict[str, str], age_s: int, fold: bool
) -> None:
    """The positive side, so the deep path is exercised on every example: whatever text an SDK
    signs (any Unicode, quotes, controls — Gson-escaped) verifies and reads back exactly."""
    headers = sign_headers(
        system_id="demo.system",
        secret=SECRET,
        timestamp=format_timestamp(NOW - dt.timedelta(seconds=age_s), "UTC"),
        content_type=JSON_CT,
        params=params,
    )
    raw = [
        ((k.lower() if fold else k).encode(), v.encode("utf-8", "surrogatepass"))
        for k, v in headers
    ]
    verified = verify_request(raw, lookup, NOW, POLICY)
    for name, value in params.items():
        assert verified.param(name) == value
