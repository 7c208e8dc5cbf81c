"""append_trace: one TraceHeader spliced in, every other byte unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from hub import xmlsafe
from hub.edxml import NS, EdocPackage, StatusPackage, append_trace, read
from hub.edxml.model import VN_TZ
from hub.errors import EdxmlError
from tests.factories import edoc_package, make_edoc, make_status

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
HUB = "000.00.00.H99"


def _splice(before: bytes, after: bytes) -> tuple[int, bytes]:
    """Where ``after`` differs from ``before``, and the inserted segment (pure insertion)."""
    i = 0
    while i < len(before) and before[i] == after[i]:
        i += 1
    inserted = after[i : i + len(after) - len(before)]
    assert after[:i] == before[:i]
    assert after[i + len(inserted) :] == before[i:]
    return i, inserted


def test_appended_after_last_trace_header_with_its_prefix() -> None:
    data = make_edoc(trace=[("000.00.00.G22", dt.datetime(2024, 1, 1, tzinfo=VN_TZ))])
    out = append_trace(data, HUB, WHEN)
    _, seg = _splice(data, out)
    assert seg.startswith(b"<edXML:TraceHeader><edXML:OrganId>000.00.00.H99</edXML:OrganId>")
    assert b"<edXML:Timestamp>2026/01/02 10:04:05</edXML:Timestamp>" in seg
    frag = etree.fromstring(b'<w xmlns:edXML="' + NS.encode() + b'">' + seg + b"</w>")
    assert frag[0].tag == f"{{{NS}}}TraceHeader"
    pkg = read(out)
    assert isinstance(pkg, EdocPackage)
    assert pkg.trace is not None
    assert [t.organ_id for t in pkg.trace.trace_headers] == ["000.00.00.G22", HUB]
    assert pkg.trace.trace_headers[1].timestamp.utc == WHEN
    assert pkg.trace.bussiness == edoc_package().trace.bussiness  # type: ignore[union-attr]
    assert pkg.header == read(data).header  # type: ignore[union-attr]


def test_repeated_relays_keep_order() -> None:
    data = make_edoc()
    for i in range(3):
        data = append_trace(data, f"R{i}", WHEN + dt.timedelta(minutes=i))
    pkg = read(data)
    assert isinstance(pkg, EdocPackage)
    assert pkg.trace is not None
    assert [t.organ_id for t in pkg.trace.trace_headers][1:] == ["R0", "R1", "R2"]


def test_status_gets_a_new_trace_header_list_after_message_header() -> None:
    data = make_status()
    out = append_trace(data, HUB, WHEN)
    at, seg = _splice(data, out)
    assert data[:at].endswith(b"</edXML:MessageHeader>")
    assert seg.startswith(b"<edXML:TraceHeaderList><edXML:TraceHeader>")
    pkg = read(out)
    assert isinstance(pkg, StatusPackage)
    assert pkg.trace is not None
    assert pkg.trace.trace_headers[0].organ_id == HUB
    assert pkg.header == read(data).header  # type: ignore[union-attr]


def test_default_namespace_and_list_without_headers() -> None:
    doc = (
        f'<edXML xmlns="{NS}"><edXMLEnvelope><edXMLHeader><MessageHeader><From><OrganId>1'
        '</OrganId></From></MessageHeader><TraceHeaderList id="x"><Bussiness/></TraceHeaderList>'
        "</edXMLHeader></edXMLEnvelope></edXML>"
    ).encode()
    out = append_trace(doc, "A&B", WHEN)
    seg = (
        b"<TraceHeader><OrganId>A&amp;B</OrganId>"
        b"<Timestamp>2026/01/02 10:04:05</Timestamp></TraceHeader>"
    )
    assert out == doc.replace(b"</TraceHeaderList>", seg + b"</TraceHeaderList>")
    pkg = read(out)
    assert isinstance(pkg, EdocPackage)
    assert pkg.trace is not None
    assert pkg.trace.trace_headers[0].organ_id == "A&B"


def test_self_closed_trace_header_list_is_opened() -> None:
    doc = (
        f'<edXML xmlns="{NS}"><edXMLEnvelope><edXMLHeader><MessageHeader><From><OrganId>1'
        "</OrganId></From></MessageHeader><TraceHeaderList />"
        "</edXMLHeader></edXMLEnvelope></edXML>"
    ).encode()
    pkg = read(append_trace(doc, HUB, WHEN))
    assert pkg.trace is not None
    assert pkg.trace.trace_headers[0].organ_id == HUB


def test_unbound_prefix_and_missing_header_are_refused() -> None:
    doc = (
        b'<edXML xmlns="urn:other"><x:MessageHeader xmlns:x="urn:other"></x:MessageHeader></edXML>'
    )
    with pytest.raises(EdxmlError) as exc:
        append_trace(doc, HUB, WHEN)
    assert exc.value.code == "edxml.trace"
    with pytest.raises(EdxmlError):
        append_trace(f'<edXML xmlns="{NS}"/>'.encode(), HUB, WHEN)
    with pytest.raises(ValueError, match="timezone"):
        append_trace(make_status(), HUB, dt.datetime(2026, 1, 1))


def test_attachment_bytes_are_not_scanned_or_touched() -> None:
    data = make_edoc()
    out = append_trace(data, HUB, WHEN)
    body = data.index(b"<edXML:edXMLBody>")
    at, _ = _splice(data, out)
    assert at < body
    xmlsafe.parse(out)


def test_shared_samples_keep_every_other_byte(shared_samples: Path | None) -> None:
    if shared_samples is None:
        pytest.skip("../shared/edxml-samples is absent; generated packages are covered above")
    files = sorted(shared_samples.glob("*.edxml"))
    assert files, f"no .edxml sample in {shared_samples}: the loop below would check nothing"
    for f in files:
        data = f.read_bytes()
        out = append_trace(data, HUB, WHEN)
        _, seg = _splice(data, out)
        assert b"000.00.00.H99" in seg
        pkg = read(out)
        assert pkg.trace is not None, f.name
        assert pkg.trace.trace_headers[-1].organ_id == HUB
        if isinstance(pkg, EdocPackage):
            assert pkg.signature == read(data).signature  # type: ignore[union-attr]
