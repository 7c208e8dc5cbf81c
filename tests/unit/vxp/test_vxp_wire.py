"""The SDK's wire details reproduced byte for byte: vectors from vxp-protocol.md §2–§6."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.vxp.wire import (
    JSON_CT,
    OCTET_CT,
    format_timestamp,
    gson_object,
    gson_quote,
    hashmap_order,
    java_string_hash,
    lossy_hash_file,
    parameter_map,
    parse_timestamp,
    render_lossy,
    sign_headers,
)

TS = "21112025T093015+0123"


def test_lossy_hash_file_of_abc_matches_the_spec_example() -> None:
    assert (
        lossy_hash_file(b"abc") == "ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad"
    )
    assert len(lossy_hash_file(b"abc")) == 61
    assert hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf8f01cfea")


def test_lossy_rendering_drops_zero_padding_only() -> None:
    assert render_lossy(bytes([0x00, 0x0A, 0x10, 0xFF])) == "0a10ff"


@given(st.binary(max_size=64))
def test_lossy_rendering_is_ordinary_hex_without_leading_zeros(data: bytes) -> None:
    digest = hashlib.sha256(data).digest()
    expected = "".join(f"{b:02x}".lstrip("0") or "0" for b in digest)
    assert lossy_hash_file(data) == expected


def test_captured_hash_files() -> None:
    # vxp-captured-requests.md requests 2 and 7: ordinary hex vs what the SDK signed.
    full = bytes.fromhex("d01975c6e6e11d845d3edfcbd0257a4229f62f1e0a4633688963a56ae872ac13")
    assert render_lossy(full) == "d01975c6e6e11d845d3edfcbd0257a4229f62f1ea4633688963a56ae872ac13"
    full = bytes.fromhex("97be2e122f941cc40c8d794671e0526000c772fac93b67995737569fd017dd95")
    assert render_lossy(full) == "97be2e122f941cc4c8d794671e052600c772fac93b67995737569fd017dd95"


def test_timestamp_milliseconds_are_four_digits_not_an_offset() -> None:
    ict = dt.timezone(dt.timedelta(hours=7))
    assert format_timestamp(dt.datetime(2025, 11, 21, 9, 30, 15, 123000, tzinfo=ict)) == TS
    assert format_timestamp(dt.datetime(2025, 11, 21, 9, 30, 15, 7000, tzinfo=ict)).endswith(
        "+0007"
    )
    # The same instant written in UTC (the capture machine's zone).
    utc = dt.datetime(2025, 11, 21, 2, 30, 15, 123000, tzinfo=dt.UTC)
    assert format_timestamp(utc, "UTC") == "21112025T023015+0123"
    assert format_timestamp(utc) == TS


def test_timestamp_round_trip_and_zone() -> None:
    parsed = parse_timestamp(TS)
    assert parsed == dt.datetime(2025, 11, 21, 2, 30, 15, 123000, tzinfo=dt.UTC)
    assert parse_timestamp("21112026T050453+0760", "UTC").microsecond == 760000
    assert format_timestamp(parsed) == TS


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(dt.datetime(2025, 1, 1))


@pytest.mark.parametrize(
    "text",
    [
        "21112025T093015",
        "21112025T093015+07:00",
        "21112025 093015+0123",
        "21112025T093015+1000",
        "32112025T093015+0123",
        "21132025T093015+0123",
        "",
    ],
)
def test_malformed_timestamps_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


@pytest.mark.parametrize(
    ("s", "h"),
    [
        ("", 0),
        ("a", 97),
        ("hello", 99162322),
        ("Hello World", -862545276),
        ("polygenelubricants", -(2**31)),  # the well-known Integer.MIN_VALUE string
    ],
)
def test_java_string_hash(s: str, h: int) -> None:
    assert java_string_hash(s) == h


def test_java_string_hash_uses_utf16_units() -> None:
    # U+1F600 is the surrogate pair D83D DE00 in Java: 0xD83D * 31 + 0xDE00.
    assert java_string_hash("\U0001f600") == 0xD83D * 31 + 0xDE00


# The §2.2 table: the SDK's insertion order in, the observed wire order out.
ORDERS = [
    ([], "systemid;timestamp;Content-Type"),
    (["level"], "systemid;level;timestamp;Content-Type"),
    (["AgencyCode"], "systemid;AgencyCode;timestamp;Content-Type"),
    (["servicetype", "messagetype"], "systemid;servicetype;messagetype;timestamp;Content-Type"),
    (["docId", "filePath"], "systemid;docId;filePath;timestamp;Content-Type"),
    (["docId", "status"], "systemid;docId;timestamp;Content-Type;status"),
    (["status", "docId"], "systemid;docId;timestamp;Content-Type;status"),
    (
        ["servicetype", "messagetype", "docId"],
        "systemid;servicetype;messagetype;docId;timestamp;Content-Type",
    ),
    (["servicetype"], "systemid;servicetype;timestamp;Content-Type"),
    # accumulated on one service object (vxp-captured-requests.md, first capture)
    (
        ["servicetype", "messagetype", "docId", "filePath", "status", "docid"],
        "systemid;servicetype;messagetype;docId;docid;filePath;timestamp;Content-Type;status",
    ),
]


@pytest.mark.parametrize(("caller_keys", "expected"), ORDERS)
def test_hashmap_orders_of_the_spec_table(caller_keys: list[str], expected: str) -> None:
    entries = parameter_map(
        system_id="s", timestamp=TS, content_type=JSON_CT, params=dict.fromkeys(caller_keys, "v")
    )
    assert ";".join(k for k, _ in entries) == expected


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (False, "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type"),
        (True, "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type"),
    ],
)
def test_hashmap_order_of_send_edoc(to: bool, expected: str) -> None:
    params = {"from": "x", "servicetype": "eDoc", "messagetype": "edoc"}
    if to:
        params["to"] = '["y"]'
    entries = parameter_map(
        system_id="s", timestamp=TS, content_type=OCTET_CT, params=params, hash_file="h"
    )
    assert ";".join(k for k, _ in entries) == expected


def test_hashmap_resizes_past_twelve_entries() -> None:
    # "p" (hash 112) sits in bucket 0 of a 16-slot table but bucket 16 of a 32-slot one;
    # "a" (97) is in bucket 1 either way. Twelve keys fit in 16 slots (threshold 12).
    twelve = ["a", "p", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
    order = hashmap_order(twelve)
    assert order[:2] == ["p", "a"]
    order = hashmap_order([*twelve, "l"])
    assert order.index("a") < order.index("l") < order.index("p")
    assert sorted(order) == sorted([*twelve, "l"])


def test_hashmap_keeps_first_insertion_place_of_a_repeated_key() -> None:
    assert hashmap_order(["q", "a", "q"]) == hashmap_order(["q", "a"])
    # same bucket (1): "q" (113) and "a" (97) keep insertion order
    assert hashmap_order(["q", "a"]) == ["q", "a"]
    assert hashmap_order(["a", "q"]) == ["a", "q"]


def test_gson_escaping() -> None:
    assert gson_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert gson_quote("\t\n\r\b\f") == '"\\t\\n\\r\\b\\f"'
    assert gson_quote("\x01\x1f") == '"\\u0001\\u001f"'
    assert gson_quote("\u2028\u2029") == '"\\u2028\\u2029"'
    assert gson_quote("<>&='/") == '"<>&=\'/"'
    assert gson_quote("Văn bản\x7f") == '"Văn bản\x7f"'


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=5))
def test_gson_object_is_json_that_reads_back(members: dict[str, str]) -> None:
    text = gson_object(list(members.items()))
    assert json.loads(text) == members
    # compact: with every string literal taken out, only the punctuation is left, no spaces
    # (a value may itself hold ": ", which an earlier check here mistook for a separator)
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    assert skeleton == "{" + ",".join(":" for _ in members) + "}"


def test_worked_example_one_get_received_edoc_list() -> None:
    headers = sign_headers(
        system_id="demo.system",
        secret="demo-secret",
        timestamp=TS,
        content_type=JSON_CT,
        params={"servicetype": "eDoc", "messagetype": "edoc"},
    )
    assert headers == [
        ("XroadVnpt-systemid", "demo.system"),
        ("XroadVnpt-servicetype", "eDoc"),
        ("XroadVnpt-messagetype", "edoc"),
        ("XroadVnpt-timestamp", TS),
        ("Content-Type", "application/json"),
        ("XroadVnpt-Content-Type", "application/json"),
        ("XroadVnpt-sign-header-key", "systemid;servicetype;messagetype;timestamp;Content-Type"),
        (
            "XroadVnpt-sign-header",
            '{"XroadVnpt-systemid":"demo.system","XroadVnpt-servicetype":"eDoc",'
            '"XroadVnpt-messagetype":"edoc","XroadVnpt-timestamp":"21112025T093015+0123",'
            '"XroadVnpt-Content-Type":"application/json"}',
        ),
        (
            "XroadVnpt-hash-header",
            "820a6218cf40d65bc0eb4b1b17fd342426508039c322e9b622e00878ffd72673",
        ),
        ("User-Agent", "JAVASDKAgent/1.0.0 XRoad/VPCP"),
        ("XroadVnpt-version", "3.0.201608"),
    ]


def test_worked_example_two_send_edoc() -> None:
    headers = dict(
        sign_headers(
            system_id="demo.system",
            secret="demo-secret",
            timestamp=TS,
            content_type=OCTET_CT,
            params={"from": "000.00.00.G22", "servicetype": "eDoc", "messagetype": "edoc"},
            hash_file=lossy_hash_file(b"abc"),
        )
    )
    assert headers["XroadVnpt-sign-header"] == (
        '{"XroadVnpt-systemid":"demo.system","XroadVnpt-servicetype":"eDoc",'
        '"XroadVnpt-messagetype":"edoc","XroadVnpt-hash-file":'
        '"ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad",'
        '"XroadVnpt-from":"000.00.00.G22","XroadVnpt-timestamp":"21112025T093015+0123",'
        '"XroadVnpt-Content-Type":"application/octet-stream"}'
    )
    assert (
        headers["XroadVnpt-hash-header"]
        == "0d735ed0c3f98fcaad164c2bac3532911494fbd20f80c469880c703570538271"
    )


def test_captured_send_edoc_with_to_signs_identically() -> None:
    # vxp-captured-requests.md request 2: the `to` value is JSON text, quotes escaped.
    headers = dict(
        sign_headers(
            system_id="demo.system",
            secret="demo-secret",
            timestamp="21112026T050544+0364",
            content_type=OCTET_CT,
            params={
                "from": "000.00.00.G22",
                "to": '["000.00.00.H41"]',
                "servicetype": "eDoc",
                "messagetype": "edoc",
            },
            hash_file="d01975c6e6e11d845d3edfcbd0257a4229f62f1ea4633688963a56ae872ac13",
        )
    )
    assert (
        headers["XroadVnpt-hash-header"]
        == "bdec28d359eecbef0b2143f744053c0fb2377c02c82d296635f78c9f22f1daa1"
    )
