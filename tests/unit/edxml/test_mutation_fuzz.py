"""Mutation fuzzing of the edXML pipeline on real packages: nothing escapes the hub's errors.

Seeds are real packages — the official SDK samples (``../shared/edxml-samples``, when present)
and packages made by the project's writer (``tests/factories.py``: an edoc with a zipped PDF,
one with two plain attachments, a status). Each example applies one to three mutations:
byte flips, truncation, inserted hostile snippets (DOCTYPE, entity references, CDATA, NUL),
element deletion and duplication, attribute and namespace changes, replaced element text, and
base64 damage inside ``ContentTransferEncoded``.

The property is what intake relies on (``hub/services/intake.py::_check``): parsing
(:func:`parse_package`), the profile (:func:`profile.validate_parsed`), streaming every
attachment out (:func:`iter_attachments`) and the relay's ``TraceHeader`` insertion
(:func:`append_trace`) either succeed or raise a :class:`hub.errors.HubError` — never
``ValueError``, ``KeyError``, ``UnicodeError``, ``zipfile`` or ``lxml`` exceptions, which the HTTP
layer would answer as a 500.

Bounded by ``max_examples``; figures in ``bench/RESULTS-hostile-input.md``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import io
import zipfile

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from hub.edxml import iter_attachments, parse_package
from hub.edxml import profile as edxml_profile
from hub.edxml.trace import append_trace
from hub.edxml.writer import OutgoingAttachment
from hub.errors import HubError
from tests.conftest import SHARED_SAMPLES
from tests.factories import make_edoc, make_status, pdf_attachment

WHEN = dt.datetime(2026, 11, 21, 5, 5, 45, tzinfo=dt.UTC)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _zip_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def _seeds() -> list[tuple[str, bytes]]:
    seeds = [
        ("factory-edoc-zipped-pdf", make_edoc()),
        (
            "factory-edoc-two-attachments",
            make_edoc(
                attachments=[
                    pdf_attachment("a.pdf", content_id="1"),
                    OutgoingAttachment(
                        "2", "b.zip", "application/zip", _zip_of("x.txt", b"x" * 4000), zip=False
                    ),
                ]
            ),
        ),
        ("factory-status", make_status()),
    ]
    if SHARED_SAMPLES.is_dir():
        seeds += [(p.name, p.read_bytes()) for p in sorted(SHARED_SAMPLES.glob("*.edxml"))]
    return seeds


SEEDS = _seeds()

HOSTILE_SNIPPETS = [
    b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    b"&x;",
    b"&#0;",
    b"&#x110000;",
    b"<![CDATA[ ]]>",
    b"\x00",
    b"\xff\xfe",
    b"<?xml version='1.0'?>",
    b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>',
    b"</edXML>",
    b"<a>" * 50,
    b"\xc3\x28",
    b"]]>",
]
NAMESPACES = [
    None,
    "http://www.mic.gov.vn/TBT/QCVN_102_2016",
    "http://www.w3.org/2000/09/xmldsig#",
    "urn:x-hostile",
    "http://www.w3.org/2001/XMLSchema-instance",
]
TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "99999999999999999999999999",
            "2026-02-30",
            "9999/99/99",
            "NaN",
            "cid:",
            "../../etc/passwd",
            "000.00.00.H41",
            "true",
            "1e309",
        ]
    ),
)


def _xml_mutation(data: bytes, draw: st.DrawFn) -> bytes:
    """One tree-level mutation (on a plain lxml parse of a well-formed seed)."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return data  # an earlier byte mutation broke it: nothing tree-shaped to do
    elements = [el for el in root.iter() if isinstance(el.tag, str)]
    el = elements[draw(st.integers(0, len(elements) - 1))]
    op = draw(st.sampled_from(["delete", "duplicate", "attribute", "namespace", "text", "b64"]))
    event(f"mutation: {op}")
    parent = el.getparent()
    if op == "delete" and parent is not None:
        parent.remove(el)
    elif op == "duplicate" and parent is not None:
        for _ in range(draw(st.integers(1, 3))):
            parent.insert(parent.index(el), copy.deepcopy(el))
    elif op == "attribute":
        name = draw(st.sampled_from(["id", "{urn:x-hostile}a", "href", "mustUnderstand"]))
        el.set(name, draw(TEXTS.filter(_xml_safe)))
    elif op == "namespace":
        local = etree.QName(el).localname
        ns = draw(st.sampled_from(NAMESPACES))
        el.tag = f"{{{ns}}}{local}" if ns else local
    elif op == "text":
        el.text = draw(TEXTS.filter(_xml_safe))
    elif op == "b64":
        encoded = [e for e in elements if etree.QName(e).localname == "ContentTransferEncoded"]
        if encoded:
            target = encoded[draw(st.integers(0, len(encoded) - 1))]
            target.text = _damage_b64(target.text or "", draw)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _xml_safe(text: str) -> bool:
    try:
        etree.Element("x").text = text
    except ValueError:
        return False
    return True


def _damage_b64(text: str, draw: st.DrawFn) -> str:
    how = draw(st.sampled_from(["truncate", "bad-char", "padding", "not-base64", "zip-bomb"]))
    event(f"base64: {how}")
    if how == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if how == "bad-char":
        i = draw(st.integers(0, len(text)))
        return text[:i] + draw(st.sampled_from(["!", "-", "_", "é", "=", "\t"])) + text[i:]
    if how == "padding":
        i = draw(st.integers(0, len(text)))
        return text[:i] + "==" + text[i:]
    if how == "not-base64":
        return "(tệp đính kèm đã được lược bỏ)"
    return _bomb_b64()


@functools.cache
def _bomb_b64() -> str:
    """A small ZIP whose entry inflates to 80 MiB: stopped by the archive ratio."""
    return base64.b64encode(_zip_of("bomb.pdf", b"\0" * (80 << 20))).decode("ascii")


@st.composite
def mutated_packages(draw: st.DrawFn) -> bytes:
    name, data = draw(st.sampled_from(SEEDS))
    event(f"seed: {name}")
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["tree", "tree", "flip", "truncate", "insert"]))
        if op == "tree":
            data = _xml_mutation(data, draw)
        elif op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
            event("mutation: byte flip")
        elif op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
            event("mutation: truncate")
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data = data[:i] + draw(st.sampled_from(HOSTILE_SNIPPETS)) + data[i:]
            event("mutation: hostile snippet")
    return data


def check_pipeline(data: bytes) -> list[str]:
    """The intake's checks on ``data``: each step passes or raises a HubError (then the later
    steps are not reached, as in intake). Returns the outcome of each step reached."""
    try:
        parsed = parse_package(data)
    except HubError as exc:
        return [f"parse: {exc.code}"]
    report = edxml_profile.validate_parsed(parsed, data=data)
    outcomes = ["parse: ok", "profile: ok" if report.ok else "profile: problems"]
    try:
        for item in iter_attachments(data, require_manifest_match=False):  # intake's caps
            item.close()
        outcomes.append("attachments: ok")
    except HubError as exc:
        outcomes.append(f"attachments: {exc.code}")
    try:
        relayed = append_trace(data, "000.00.00.H41", WHEN)
    except HubError as exc:
        return [*outcomes, f"trace: {exc.code}"]
    parse_package(relayed)  # what the hub relays must read back as the package it took
    return [*outcomes, "trace: ok"]


def test_every_seed_passes_the_pipeline_unmutated() -> None:
    """The seeds themselves are readable packages (else the fuzzer mutates garbage)."""
    assert len(SEEDS) >= 3
    for name, data in SEEDS:
        outcomes = check_pipeline(data)
        assert outcomes[0] == "parse: ok", name
        assert outcomes[-1] == "trace: ok", name
        if "elided" not in name:  # that sample has a note in place of its payload
            assert "attachments: ok" in outcomes, (name, outcomes)


@FUZZ
@given(data=mutated_packages())
def test_mutated_real_packages_raise_only_hub_errors(data: bytes) -> None:
    for outcome in check_pipeline(data):
        event(outcome)


@pytest.mark.parametrize("name", [n for n, _ in SEEDS])
def test_each_truncation_prefix_of_a_seed(name: str) -> None:
    """Every 97th cut point and the last 64 before the root's end tag is complete: a truncated
    upload is the commonest broken body, and it must never read as a (shorter) package."""
    data = dict(SEEDS)[name]
    end = len(data.rstrip())  # cutting only trailing layout whitespace leaves it whole
    cuts = set(range(0, end, 97)) | set(range(max(0, end - 64), end))
    for cut in sorted(cuts):
        with pytest.raises(HubError):
            parse_package(data[:cut])


def test_zip_bomb_under_the_entry_cap_is_stopped_by_the_ratio() -> None:
    """Regression: with only the 1 GiB per-entry cap, a 700 KB package inflating 512 MiB was
    unpacked to disk and accepted. 80 MiB of NULs (≈ 1000:1) passes the floor and the entry cap
    but not the archive ratio; 10 MiB (under the floor) is still read."""
    for size, refused in ((80 << 20, True), (10 << 20, False)):
        att = OutgoingAttachment("1", "a.pdf", "application/pdf", b"\0" * size)
        outcome = check_pipeline(make_edoc(attachments=[att]))[2]
        expected = "attachments: edxml.attachment.too_large" if refused else "attachments: ok"
        assert outcome == expected, (size, outcome)
    att = OutgoingAttachment("1", "a.pdf", "application/pdf", b"\0" * (80 << 20))
    with pytest.raises(HubError, match="100") as exc:
        list(iter_attachments(make_edoc(attachments=[att])))  # the hub's default entry cap
    assert exc.value.code == "edxml.attachment.too_large"
