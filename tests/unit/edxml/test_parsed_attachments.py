"""``iter_parsed_attachments`` (the PDF check reusing the intake's one parse) yields exactly what
``iter_attachments`` streams from the bytes: the same items in the same order, and the same
error after the same items, for every payload shape and failure the streaming path knows."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from hub import xmlsafe
from hub.edxml import OutgoingAttachment, iter_attachments
from hub.edxml.attachments import iter_parsed_attachments
from hub.edxml.reader import ParsedPackage, parse_package, read
from hub.errors import HubError
from tests.factories import make_edoc, make_pdf_bytes, pdf_attachment
from tests.unit.edxml.test_attachments import _att, _package

SAMPLES = Path("/work/shared/edxml-samples")


def _zip(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _outcome(items: Any) -> tuple[list[tuple[Any, ...]], tuple[Any, ...] | None]:
    """Every item's description and bytes, then the error (type, code, path, text, details)."""
    got: list[tuple[Any, ...]] = []
    try:
        for item in items:
            with item:
                got.append(
                    (
                        item.content_id,
                        item.attachment_name,
                        item.content_type,
                        item.description,
                        item.manifest,
                        item.was_zip,
                        item.entry_name,
                        item.zip_entry_names,
                        item.sha256,
                        item.size,
                        item.payload_sha256,
                        item.payload_size,
                        item.path,
                        item.read_bytes(),
                    )
                )
    except HubError as exc:
        return got, (type(exc), exc.code, exc.path, exc.message_en, exc.details)
    return got, None


_CORRUPT = _zip({"a.pdf": b"%PDF-" + b"x" * 100}, zipfile.ZIP_STORED).replace(
    b"x" * 100, b"y" * 100
)

CASES = {
    "zipped pdf": make_edoc(attachments=[pdf_attachment(data=make_pdf_bytes("Quyết định"))]),
    "two attachments": make_edoc(
        attachments=[
            pdf_attachment(data=make_pdf_bytes("Văn bản")),
            OutgoingAttachment("2", "phu-luc.txt", "text/plain", "Phụ lục".encode(), zip=False),
        ]
    ),
    "no attachment": make_edoc(attachments=[]),
    "raw, cid normalised": _package(_att("&lt;cid:x1&gt;", _b64(b"%PDF-raw")), ["x1"]),
    "multi-entry zip": _package(
        _att("z", _b64(_zip({"a.pdf": b"first", "dir/": b"", "dir/b.txt": b"second"}))), ["z"]
    ),
    "wrapped lines": _package(
        _att("c", base64.encodebytes(bytes(range(256)) * 20).decode().replace("\n", "\r\n ")),
        ["c"],
    ),
    "bad base64 after a good one": _package(_att("209", "QUJD") + _att("210", "aGVs*G8="), []),
    "stray characters": _package(_att("1", "aGVsbG8"), ["1"]),
    "non-ASCII": _package(_att("1", "aGVsbG8é"), ["1"]),
    "content id after payload": _package(
        "<Attachment><ContentTransferEncoded>@@@@</ContentTransferEncoded>"
        "<ContentId>late</ContentId></Attachment>",
        ["late"],
    ),
    "attachment without reference": _package(_att("cid:9", "QUJD"), ["cid:8"]),
    "reference without attachment": _package(_att("1", "QUJD"), ["1", "2"]),
    "magic but no archive": _package(_att("z", _b64(b"PK\x03\x04" + b"\0" * 40)), ["z"]),
    "corrupt zip": _package(_att("z", _b64(_CORRUPT)), ["z"]),
    "office document": _package(
        _att("d", _b64(_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}))),
        ["d"],
    ),
    "comment inside the payload": _package(_att("c", "QUJD<!-- a note -->REVG"), ["c"]),
}


def _parsed(data: bytes) -> ParsedPackage:
    """The intake's parse; the minimal packages above are not whole edXML, so their tree is
    paired with any package value (the replay reads only the tree)."""
    try:
        return parse_package(data)
    except HubError:
        return ParsedPackage(xmlsafe.parse(data), read(make_edoc()))


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("require", [True, False])
def test_same_items_and_errors_as_streaming(name: str, require: bool) -> None:
    data = CASES[name]
    streamed = _outcome(iter_attachments(data, require_manifest_match=require))
    replayed = _outcome(
        iter_parsed_attachments(_parsed(data), data, require_manifest_match=require)
    )
    assert replayed == streamed


def test_every_case_is_exercised() -> None:
    """The table covers items, each error code of the streaming path, and both together."""
    outcomes = [_outcome(iter_attachments(d)) for d in CASES.values()]
    codes = {err[1] for _, err in outcomes if err is not None}
    assert codes == {
        "edxml.attachment.base64",
        "edxml.attachment.unmatched",
        "edxml.attachment.zip",
    }
    assert any(items and err for items, err in outcomes)  # an error after a good item


def test_zip_bomb_cap_applies_to_the_replay() -> None:
    bomb = _package(_att("z", _b64(_zip({"zeros.bin": b"\0" * 1_000_000}))), ["z"])
    streamed = _outcome(iter_attachments(bomb, max_unpacked_bytes=100_000))
    replayed = _outcome(iter_parsed_attachments(_parsed(bomb), bomb, max_unpacked_bytes=100_000))
    assert replayed == streamed
    assert streamed[1] is not None
    assert streamed[1][1] == "edxml.attachment.too_large"


def test_a_tree_without_attachment_text_streams_the_bytes() -> None:
    data = CASES["two attachments"]
    full = parse_package(data)
    elided = ParsedPackage(full.root, full.package, attachments_elided=True)
    elided.root.clear()  # nothing usable in the tree: the bytes must be what is read
    assert _outcome(iter_parsed_attachments(elided, data)) == _outcome(iter_attachments(data))


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples folder absent")
def test_shared_samples_agree() -> None:
    checked = 0
    for path in sorted(SAMPLES.rglob("*")):
        if not path.is_file() or path.stat().st_size > 8 * 1024 * 1024:
            continue
        data = path.read_bytes()
        try:
            parsed = parse_package(data)
        except HubError:
            continue
        assert _outcome(iter_parsed_attachments(parsed, data)) == _outcome(
            iter_attachments(data)
        ), path.name
        checked += 1
    assert checked > 0
