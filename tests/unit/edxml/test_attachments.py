"""Streaming attachment extraction: ZIP and raw payloads, errors, manifest matching, memory."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hub.edxml import NS, OutgoingAttachment, iter_attachments, write_edoc
from hub.edxml.attachments import SPOOL_MAX
from hub.errors import AttachmentError, XmlError
from tests.factories import edoc_package, make_edoc, make_pdf_bytes, pdf_attachment

ROOT = Path(__file__).resolve().parents[3]


def _package(attachment_xml: str, manifest_cids: list[str]) -> bytes:
    refs = "".join(
        f"<edXML:Reference><edXML:ContentId>{c}</edXML:ContentId></edXML:Reference>"
        for c in manifest_cids
    )
    return (
        f'<edXML xmlns="{NS}"><edXML:edXMLEnvelope xmlns:edXML="{NS}"><edXML:edXMLHeader>'
        "<edXML:MessageHeader><edXML:From><edXML:OrganId>1</edXML:OrganId></edXML:From>"
        "</edXML:MessageHeader></edXML:edXMLHeader><edXML:edXMLBody>"
        f'<edXML:edXMLManifest version="1.0">{refs}</edXML:edXMLManifest></edXML:edXMLBody>'
        f"</edXML:edXMLEnvelope><AttachmentEncoded>{attachment_xml}</AttachmentEncoded></edXML>"
    ).encode()


def _att(cid: str, b64: str, name: str = "a.pdf") -> str:
    return (
        f"<Attachment><ContentId>{cid}</ContentId><AttachmentName>{name}</AttachmentName>"
        f"<ContentType>application/pdf</ContentType>"
        f"<ContentTransferEncoded>{b64}</ContentTransferEncoded></Attachment>"
    )


def test_zipped_pdf_is_unpacked() -> None:
    pdf = make_pdf_bytes("Quyết định")
    [item] = list(iter_attachments(make_edoc(attachments=[pdf_attachment(data=pdf)])))
    with item:
        assert item.was_zip
        assert item.read_bytes() == pdf
        assert item.sha256 == hashlib.sha256(pdf).hexdigest()
        assert item.size == len(pdf)
        assert item.content_id == "1"
        assert item.manifest is not None
        assert item.manifest.attachment_name == "7816-VPCP-TTDT.pdf"
        assert item.zip_entry_names == (item.entry_name,)
        assert item.payload_size != item.size


def test_raw_payload_fallback_and_cid_normalisation() -> None:
    data = _package(_att("&lt;cid:x1&gt;", base64.b64encode(b"%PDF-raw").decode()), ["x1"])
    [item] = list(iter_attachments(data))
    assert (item.content_id, item.was_zip, item.read_bytes()) == ("x1", False, b"%PDF-raw")
    assert item.entry_name is None
    assert item.sha256 == item.payload_sha256


def test_multi_entry_zip_gives_one_item_per_entry() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.pdf", b"first")
        zf.writestr("dir/", b"")
        zf.writestr("dir/b.txt", b"second")
    data = _package(_att("cid:z", base64.b64encode(buf.getvalue()).decode()), ["cid:z"])
    items = list(iter_attachments(data))
    assert [i.entry_name for i in items] == ["a.pdf", "dir/b.txt"]
    assert [i.read_bytes() for i in items] == [b"first", b"second"]
    assert all(i.zip_entry_names == ("a.pdf", "dir/b.txt") for i in items)


def test_wrapped_base64_lines_are_tolerated() -> None:
    payload = os.urandom(5000)
    wrapped = base64.encodebytes(payload).decode().replace("\n", "\r\n  ")
    [item] = list(iter_attachments(_package(_att("c", wrapped), ["c"])))
    assert item.read_bytes() == payload


@pytest.mark.parametrize(
    ("b64", "fragment"),
    [
        ("aGVs*G8=", "invalid character '*'"),
        ("aGVsbG8", "stray"),
        ("aGVs=G8=", "base64"),
        ("aGVsbG8é", "non-ASCII"),
        ("[ELIDED: 361100 base64 chars]", "invalid character '['"),
    ],
)
def test_bad_base64_names_path_and_content_id(b64: str, fragment: str) -> None:
    data = _package(_att("cid:209", "QUJD") + _att("cid:210", b64), ["209", "210"])
    it = iter_attachments(data)
    first = next(it)
    assert first.read_bytes() == b"ABC"
    with pytest.raises(AttachmentError) as exc:
        next(it)
    err = exc.value
    assert err.code == "edxml.attachment.base64"
    assert err.path == "/edXML/AttachmentEncoded/Attachment[2]"
    assert "ContentId 210" in err.message_en
    assert fragment in err.message_en
    assert err.details["content_id"] == "210"


def test_content_id_after_payload_is_still_named() -> None:
    att = (
        "<Attachment><ContentTransferEncoded>@@@@</ContentTransferEncoded>"
        "<ContentId>late</ContentId></Attachment>"
    )
    with pytest.raises(AttachmentError, match="ContentId late"):
        list(iter_attachments(_package(att, ["late"])))


def test_attachment_without_manifest_entry() -> None:
    data = _package(_att("cid:9", "QUJD"), ["cid:8"])
    with pytest.raises(AttachmentError) as exc:
        list(iter_attachments(data))
    assert exc.value.code == "edxml.attachment.unmatched"
    assert exc.value.path == "/edXML/AttachmentEncoded/Attachment[1]"
    [item] = list(
        iter_attachments(_package(_att("cid:9", "QUJD"), []), require_manifest_match=False)
    )
    assert item.manifest is None


def test_manifest_entry_without_attachment() -> None:
    data = _package(_att("1", "QUJD"), ["1", "2"])
    it = iter_attachments(data)
    assert next(it).content_id == "1"
    with pytest.raises(AttachmentError) as exc:
        next(it)
    assert exc.value.code == "edxml.attachment.unmatched"
    assert exc.value.details["content_ids"] == ["2"]


def test_corrupt_zip_and_zip_bomb_cap() -> None:
    not_a_zip = b"PK\x03\x04" + b"\0" * 40  # the magic, but no archive: passed on raw
    [item] = list(
        iter_attachments(_package(_att("z", base64.b64encode(not_a_zip).decode()), ["z"]))
    )
    assert (item.was_zip, item.read_bytes()) == (False, not_a_zip)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.pdf", b"%PDF-" + b"x" * 100)
    corrupt = buf.getvalue().replace(b"x" * 100, b"y" * 100)  # CRC no longer matches
    with pytest.raises(AttachmentError) as exc:
        list(iter_attachments(_package(_att("z", base64.b64encode(corrupt).decode()), ["z"])))
    assert exc.value.code == "edxml.attachment.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * 1_000_000)
    bomb = base64.b64encode(buf.getvalue()).decode()
    with pytest.raises(AttachmentError) as exc:
        list(iter_attachments(_package(_att("z", bomb), ["z"]), max_unpacked_bytes=100_000))
    assert exc.value.code == "edxml.attachment.too_large"


def test_unwrapped_office_document_is_not_unpacked() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", b"<Types/>")
        zf.writestr("word/document.xml", b"<w:document/>")
    docx = buf.getvalue()
    [item] = list(iter_attachments(_package(_att("d", base64.b64encode(docx).decode()), ["d"])))
    assert (item.was_zip, item.read_bytes()) == (False, docx)


def test_sources_bytes_path_and_file_object(tmp_path: Path) -> None:
    data = make_edoc()
    path = tmp_path / "p.edxml"
    path.write_bytes(data)
    shas = set()
    for src in (data, path, str(path), io.BytesIO(data)):
        [item] = list(iter_attachments(src))
        shas.add(item.sha256)
        item.close()
    assert len(shas) == 1


def test_unsafe_or_truncated_xml_is_an_xml_error() -> None:
    with pytest.raises(XmlError):
        list(iter_attachments(b'<!DOCTYPE edXML [<!ENTITY x "y">]><edXML/>'))
    with pytest.raises(XmlError) as exc:
        list(iter_attachments(make_edoc()[:-300]))
    assert exc.value.code == "xml.truncated"
    with pytest.raises(XmlError):
        list(iter_attachments(b""))
    with pytest.raises(XmlError) as exc:
        list(iter_attachments(make_edoc(), max_bytes=100))
    assert exc.value.code == "xml.too_large"


def test_payload_over_libxml2_text_limit_streams_through() -> None:
    payload = os.urandom(12 * 1024 * 1024)  # base64 text ≈ 16 MB: over the 10 MB node limit
    att = OutgoingAttachment("b", "b.bin", "application/octet-stream", payload)
    [item] = list(iter_attachments(write_edoc(edoc_package(), [att])))
    with item:
        assert item.size == len(payload)
        assert item.sha256 == hashlib.sha256(payload).hexdigest()
        assert item.size > SPOOL_MAX  # rolled over to disk, not kept in memory


def _run(*args: str) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("bigpackage.py")), *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_100mb_attachment_peak_memory_growth_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.edxml"
    built = _run("build", str(path), "100")
    # The builder streams: the package (≈ 140 MB of XML) is never in memory.
    measured = _run("measure", str(path))
    size = 100 * 1024 * 1024
    assert measured["attachment_bytes"] == size
    assert measured["sha256"] == built["sha256"]
    growth = measured["growth_bytes"]
    assert isinstance(growth, int)
    assert growth <= 1.5 * size, measured
