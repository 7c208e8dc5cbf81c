"""A package held in a file (:class:`hub.edxml.source.PackageFile`) reads exactly as its bytes:
the reader's streaming parse, the attachment stream, the payload checks and the relay's
TraceHeader; and the one size limit is the caller's, named when exceeded."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator

import pytest

from hub.edxml import OutgoingAttachment, append_trace, iter_attachments
from hub.edxml.profile import validate_parsed
from hub.edxml.reader import TREE_LIMIT, parse_package
from hub.edxml.source import PackageFile, package_digest, package_size
from hub.edxml.trace import append_trace_stream
from hub.errors import EdxmlError, XmlError
from tests.factories import make_edoc, make_status

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
HUB = "000.00.00.H99"


def _file(data: bytes, *, junk: bytes = b"") -> PackageFile:
    """``data`` at the start of a file, possibly followed by bytes that are not the package."""
    return PackageFile(io.BytesIO(data + junk), len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture(scope="module")
def large() -> bytes:
    payload = bytes(range(256)) * (TREE_LIMIT // 256 + 4096)
    att = OutgoingAttachment("big", "big.bin", "application/octet-stream", payload, zip=False)
    data = make_edoc(attachments=[att])
    assert len(data) > TREE_LIMIT
    return data


def test_size_and_digest_of_either_form() -> None:
    data = make_edoc()
    pf = _file(data)
    assert (package_size(pf), package_digest(pf)) == (len(data), package_digest(data))
    assert pf.head(5) == data[:5]
    assert pf.read_all() == data


def test_a_large_file_parses_as_its_bytes_without_reading_past_the_package(large: bytes) -> None:
    from_bytes = parse_package(large, max_bytes=len(large))
    from_file = parse_package(_file(large, junk=b"<trailing garbage"), max_bytes=len(large))
    assert from_file.attachments_elided
    assert from_bytes.attachments_elided
    assert from_file.package == from_bytes.package


def test_a_small_file_is_parsed_into_a_whole_tree() -> None:
    data = make_edoc()
    parsed = parse_package(_file(data))
    assert not parsed.attachments_elided
    assert parsed.package == parse_package(data).package


def test_the_limit_is_the_callers_and_the_error_names_it(large: bytes) -> None:
    cap = len(large) - 1
    for source in (large, _file(large)):
        with pytest.raises(XmlError) as caught:
            parse_package(source, max_bytes=cap)
        assert caught.value.code == "xml.too_large"
        assert str(cap) in caught.value.message_en
        assert caught.value.details == {"max_bytes": cap, "size": len(large)}
    # No second limit below it: a package larger than the old fixed 64 MiB default would be
    # read under a cap above it (here: the parse path does not consult any other constant).
    assert parse_package(_file(large), max_bytes=10 * len(large)).package is not None


def test_attachments_stream_from_the_file_as_from_the_bytes(large: bytes) -> None:
    def digests(source: bytes | PackageFile) -> list[str]:
        out = []
        for item in iter_attachments(source):
            with item:
                out.append(item.sha256)
        return out

    assert digests(_file(large, junk=b"garbage")) == digests(large)


def test_payload_checks_read_the_file(large: bytes) -> None:
    pf = _file(large)
    report = validate_parsed(parse_package(pf, max_bytes=len(large)), data=pf)
    assert not [p for p in report.problems if p.code.startswith("attachment.")]


def _pieces(data: bytes, step: int) -> Iterator[bytes]:
    return (data[i : i + step] for i in range(0, len(data), step))


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize("kind", ["edoc", "status", "large"])
def test_the_streamed_trace_is_the_whole_one(step: int, kind: str, large: bytes) -> None:
    data = {"edoc": make_edoc(), "status": make_status(), "large": large}[kind]
    size, chunks = append_trace_stream(_pieces(data, step), len(data), HUB, WHEN)
    out = b"".join(chunks)
    assert out == append_trace(data, HUB, WHEN)
    assert size == len(out)


def test_the_streamed_trace_refuses_as_the_whole_one() -> None:
    doc = b"<edXML><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>"
    with pytest.raises(EdxmlError):
        append_trace(doc, HUB, WHEN)
    with pytest.raises(EdxmlError):
        append_trace_stream(_pieces(doc, 5), len(doc), HUB, WHEN)
