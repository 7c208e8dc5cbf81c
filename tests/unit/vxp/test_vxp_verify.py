"""Server-side verification (vxp-protocol.md §8): the accepted shapes and every refusal."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hub.errors import AuthenticationFailed, InvalidRequest
from hub.services.contracts import SystemCredentials
from hub.vxp.verify import AUTH_FAILED, VerifyPolicy, check_hash_file, verify_request
from hub.vxp.wire import JSON_CT, OCTET_CT, hmac_hex, lossy_hash_file, sign_headers

SECRET = "demo-secret"
TS = "21112025T093015+0123"
NOW = dt.datetime(2025, 11, 21, 2, 31, 0, tzinfo=dt.UTC)  # 45 s after TS (ICT)
SYSTEMS = {
    "demo.system": SystemCredentials("demo.system", (SECRET,), True, 900),
    "rotating": SystemCredentials("rotating", ("new-secret", SECRET), True, 900),
    "off": SystemCredentials("off", (SECRET,), False, 900),
    "utc.system": SystemCredentials("utc.system", (SECRET,), True, 900, "UTC"),
    "patient": SystemCredentials("patient", (SECRET,), True, 86400),
}


def lookup(system_id: str) -> SystemCredentials | None:
    return SYSTEMS.get(system_id)


def raw(headers: list[tuple[str, str]], *, fold: bool = True) -> list[tuple[bytes, bytes]]:
    """As an ASGI server hands them over: names lower-cased, values as bytes."""
    return [((k.lower() if fold else k).encode(), v.encode("utf-8")) for k, v in headers]


def signed(
    params: dict[str, str] | None = None,
    *,
    system_id: str = "demo.system",
    secret: str = SECRET,
    ts: str = TS,
    content_type: str = JSON_CT,
    hash_file: str | None = None,
) -> list[tuple[str, str]]:
    return sign_headers(
        system_id=system_id,
        secret=secret,
        timestamp=ts,
        content_type=content_type,
        params=params or {},
        hash_file=hash_file,
    )


def forge(signed_text: str, keys: str, secret: str = SECRET) -> list[tuple[bytes, bytes]]:
    """Headers around an arbitrary signed text, correctly HMAC'd (tests the structure checks)."""
    return [
        (b"xroadvnpt-sign-header", signed_text.encode()),
        (b"xroadvnpt-sign-header-key", keys.encode()),
        (b"xroadvnpt-hash-header", hmac_hex(secret, signed_text.encode()).encode()),
    ]


def reason(exc: pytest.ExceptionInfo[AuthenticationFailed]) -> str:
    return str(exc.value.details["reason"])


def test_worked_example_verifies() -> None:
    v = verify_request(raw(signed({"servicetype": "eDoc", "messagetype": "edoc"})), lookup, NOW)
    assert v.system_id == "demo.system"
    assert v.param("messagetype") == "edoc"
    assert v.hash_header == "820a6218cf40d65bc0eb4b1b17fd342426508039c322e9b622e00878ffd72673"
    assert v.secret_index == 0
    assert 44 < v.age_s < 46


def test_exact_case_headers_verify_too() -> None:
    v = verify_request(raw(signed({"docId": "x"}), fold=False), lookup, NOW)
    assert v.param("docid") == "x"


def test_upper_case_hash_header_is_accepted() -> None:
    headers = [(k, v.upper()) if k == "XroadVnpt-hash-header" else (k, v) for k, v in signed({})]
    assert verify_request(raw(headers), lookup, NOW).system_id == "demo.system"


def test_identical_signature_repeated_is_not_a_replay() -> None:
    headers = raw(signed({"servicetype": "eDoc"}))
    first = verify_request(headers, lookup, NOW)
    second = verify_request(headers, lookup, NOW + dt.timedelta(seconds=2))
    assert first.hash_header == second.hash_header


def test_rotation_previous_secret_accepted() -> None:
    v = verify_request(raw(signed(system_id="rotating")), lookup, NOW)
    assert v.secret_index == 1
    v = verify_request(raw(signed(system_id="rotating", secret="new-secret")), lookup, NOW)
    assert v.secret_index == 0


@pytest.mark.parametrize(
    "drop", ["XroadVnpt-sign-header", "XroadVnpt-hash-header", "XroadVnpt-sign-header-key"]
)
def test_missing_required_header(drop: str) -> None:
    headers = [(k, v) for k, v in signed() if k != drop]
    with pytest.raises(AuthenticationFailed, match=f"missing {drop}") as exc:
        verify_request(raw(headers), lookup, NOW)
    assert reason(exc) == "missing headers"


def test_download_edoc2_without_any_header_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="missing"):
        verify_request([(b"user-agent", b"Apache-HttpClient/4.5.6")], lookup, NOW)


def test_unknown_system_disabled_and_bad_hmac_share_one_message() -> None:
    messages = set()
    for headers, why in [
        (signed(system_id="nobody"), "unknown system"),
        (signed(system_id="off"), "system disabled or without secret"),
        (signed(secret="wrong"), "bad HMAC"),
    ]:
        with pytest.raises(AuthenticationFailed) as exc:
            verify_request(raw(headers), lookup, NOW)
        assert reason(exc) == why
        messages.add((exc.value.message_en, exc.value.message_vi, exc.value.code))
    assert messages == {(AUTH_FAILED, "Xác thực thất bại", "auth.failed")}


def test_tampered_signed_text_fails_hmac() -> None:
    headers = signed({"docId": "a"})
    tampered = [
        (k, v.replace('"a"', '"b"')) if k == "XroadVnpt-sign-header" else (k, v)
        for k, v in headers
        if k != "XroadVnpt-docId"
    ]
    with pytest.raises(AuthenticationFailed) as exc:
        verify_request(raw(tampered), lookup, NOW)
    assert reason(exc) == "bad HMAC"


def test_malformed_hash_header() -> None:
    headers = [(k, "zz") if k == "XroadVnpt-hash-header" else (k, v) for k, v in signed()]
    with pytest.raises(AuthenticationFailed) as exc:
        verify_request(raw(headers), lookup, NOW)
    assert reason(exc) == "malformed hash-header"


@pytest.mark.parametrize(
    ("text", "keys", "why"),
    [
        ("not json", "x", "sign-header not JSON"),
        ('["XroadVnpt-systemid"]', "systemid", "sign-header not a flat object"),
        ('{"XroadVnpt-systemid":{"a":"b"}}', "systemid", "sign-header not a flat object"),
        ('[{"XroadVnpt-systemid":"demo.system"}]', "systemid", "sign-header not a flat object"),
        ("[{}]", "", "sign-header not a flat object"),
        (
            '[{"XroadVnpt-systemid":"a","XroadVnpt-x":"b"}]',
            "systemid;x",
            "sign-header not a flat object",
        ),
        ('{"XroadVnpt-systemid":1}', "systemid", "non-string member"),
        ('{"XroadVnpt-systemid":null}', "systemid", "non-string member"),
        ('{"XroadVnpt-systemid":NaN}', "systemid", "sign-header not JSON"),
        ('{"systemid":"demo.system"}', "systemid", "foreign member"),
        ('{"XroadVnpt-":"x"}', "", "foreign member"),
        (
            '{"XroadVnpt-systemid":"demo.system","XroadVnpt-systemid":"demo.system"}',
            "systemid;systemid",
            "duplicate member",
        ),
        ('{"XroadVnpt-systemid":"demo.system"}', "systemid;timestamp", "key list mismatch"),
        (
            '{"XroadVnpt-systemid":"demo.system","XroadVnpt-timestamp":"x"}',
            "timestamp;systemid",
            "key list mismatch",
        ),
        ('{"XroadVnpt-timestamp":"21112025T093015+0123"}', "timestamp", "no systemid"),
        ('{"XroadVnpt-systemid":"demo.system"}', "systemid", "no timestamp"),
        (
            '{"XroadVnpt-systemid":"demo.system","XroadVnpt-timestamp":"2025-11-21"}',
            "systemid;timestamp",
            "bad timestamp",
        ),
        (
            '{"XroadVnpt-systemid":"demo.system","XroadVnpt-timestamp":"21112025T093015+0123"}',
            "systemid;timestamp",
            "Content-Type not signed",
        ),
    ],
)
def test_structural_refusals(text: str, keys: str, why: str) -> None:
    with pytest.raises(AuthenticationFailed) as exc:
        verify_request(forge(text, keys), lookup, NOW)
    assert reason(exc) == why


def test_invalid_utf8_sign_header_is_a_clear_mismatch() -> None:
    headers = [
        (b"xroadvnpt-sign-header", b'{"XroadVnpt-systemid":"\xe1"}'),
        (b"xroadvnpt-sign-header-key", b"systemid"),
        (b"xroadvnpt-hash-header", b"0" * 64),
    ]
    with pytest.raises(AuthenticationFailed, match="signature mismatch") as exc:
        verify_request(headers, lookup, NOW)
    assert reason(exc) == "sign-header not UTF-8"


def test_sign_header_size_cap() -> None:
    big = signed({"pad": "x" * 200})
    with pytest.raises(AuthenticationFailed, match="too large"):
        verify_request(raw(big), lookup, NOW, VerifyPolicy(max_sign_header_bytes=200))


def test_repeated_required_header_is_refused() -> None:
    headers = raw(signed())
    headers.append((b"xroadvnpt-hash-header", b"0" * 64))
    with pytest.raises(AuthenticationFailed, match="more than once"):
        verify_request(headers, lookup, NOW)


def test_loose_header_must_equal_signed_value() -> None:
    headers = [
        (k, "other") if k == "XroadVnpt-docId" else (k, v) for k, v in signed({"docId": "a"})
    ]
    with pytest.raises(AuthenticationFailed, match="differs") as exc:
        verify_request(raw(headers), lookup, NOW)
    assert reason(exc) == "loose header differs"


def test_loose_headers_absent_are_fine_and_unsigned_extras_ignored() -> None:
    headers = [(k, v) for k, v in signed({"docId": "a"}) if k != "XroadVnpt-docId"]
    headers.append(("XroadVnpt-unsigned", "whatever"))
    v = verify_request(raw(headers), lookup, NOW)
    assert v.param("docId") == "a"
    assert v.param("unsigned") is None


def test_both_docid_cases_with_folded_names() -> None:
    # The SDK accumulates docId and docid (§2.1); a folding HTTP stack sees two
    # "xroadvnpt-docid" headers, each must be one of the signed values.
    headers = signed({"docId": "nope", "docid": "nope2", "status": "done"})
    v = verify_request(raw(headers), lookup, NOW)
    assert v.params["docId"] == "nope"
    assert v.params["docid"] == "nope2"
    with pytest.raises(InvalidRequest, match="conflicting values for docId/docid"):
        v.param("docId")
    assert v.param("status") == "done"
    # exact-case names are compared exactly: swapping the values is caught
    swapped = [
        (k, {"XroadVnpt-docId": "nope2", "XroadVnpt-docid": "nope"}.get(k, v)) for k, v in headers
    ]
    with pytest.raises(AuthenticationFailed, match="differs"):
        verify_request(raw(swapped, fold=False), lookup, NOW)


def test_both_docid_cases_with_equal_values_read_fine() -> None:
    v = verify_request(raw(signed({"docId": "x", "docid": "x"})), lookup, NOW)
    assert v.param("DOCID") == "x"


def test_require_names_the_missing_parameter() -> None:
    v = verify_request(raw(signed()), lookup, NOW)
    with pytest.raises(InvalidRequest, match="XroadVnpt-docId"):
        v.require("docId")


def test_freshness_window() -> None:
    old = "21112025T091500+0000"  # 15 min 15 s before TS; 16 min before NOW
    with pytest.raises(AuthenticationFailed, match="too old") as exc:
        verify_request(raw(signed(ts=old)), lookup, NOW)
    assert exc.value.details["age_s"] == 960
    # a system allowed a day (long-lived SDK service objects) passes
    v = verify_request(raw(signed(ts=old, system_id="patient")), lookup, NOW)
    assert v.age_s == pytest.approx(960)
    future = "21112025T094700+0000"  # 16 min ahead of NOW
    with pytest.raises(AuthenticationFailed, match="future"):
        verify_request(raw(signed(ts=future, system_id="patient")), lookup, NOW)
    near_future = "21112025T094000+0000"
    assert verify_request(raw(signed(ts=near_future)), lookup, NOW).age_s < 0


def test_timestamp_read_in_the_system_zone() -> None:
    # The same text is 7 hours later when read as UTC: too far in the future for NOW.
    with pytest.raises(AuthenticationFailed, match="future"):
        verify_request(raw(signed(system_id="utc.system")), lookup, NOW)
    utc_ts = "21112025T023015+0123"
    assert verify_request(raw(signed(system_id="utc.system", ts=utc_ts)), lookup, NOW)


def test_check_hash_file_candidates() -> None:
    package = b"<edXML/>"
    v = verify_request(
        raw(signed(content_type=OCTET_CT, hash_file=lossy_hash_file(package))), lookup, NOW
    )
    assert check_hash_file(v, package + b"\r\n") == package
    assert check_hash_file(v, package) == package
    crlf_package = b"<edXML/>\r\n"
    v2 = verify_request(
        raw(signed(content_type=OCTET_CT, hash_file=lossy_hash_file(crlf_package))), lookup, NOW
    )
    assert check_hash_file(v2, crlf_package + b"\r\n") == crlf_package
    assert check_hash_file(v2, crlf_package) == crlf_package
    with pytest.raises(AuthenticationFailed, match="does not match") as exc:
        check_hash_file(v, b"<other/>\r\n")
    assert reason(exc) == "hash-file mismatch"


def test_check_hash_file_accepts_ordinary_hex() -> None:
    import hashlib

    v = verify_request(
        raw(signed(content_type=OCTET_CT, hash_file=hashlib.sha256(b"abc").hexdigest())),
        lookup,
        NOW,
    )
    assert check_hash_file(v, b"abc\r\n") == b"abc"


def test_check_hash_file_must_be_signed() -> None:
    v = verify_request(raw(signed(content_type=OCTET_CT)), lookup, NOW)
    with pytest.raises(AuthenticationFailed, match="not signed"):
        check_hash_file(v, b"abc")


def test_non_ascii_values_are_verified_as_utf8() -> None:
    v = verify_request(raw(signed({"note": "Văn bản"})), lookup, NOW)
    assert v.param("note") == "Văn bản"
    assert json.loads(json.dumps(dict(v.params)))["note"] == "Văn bản"
