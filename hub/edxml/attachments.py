"""Stream attachment payloads out of edXML package bytes (QCVN 102:2016, edxml.md §4).

Contract: :func:`iter_attachments` takes the package (bytes, a path or a binary file object) and
yields one :class:`ExtractedAttachment` per extracted file, in document order. Nothing is held in
memory twice: the package is fed to the hardened streaming parser
(:func:`hub.xmlsafe.feed_parser`) in chunks, the ``ContentTransferEncoded`` text goes through an
incremental base64 decoder straight into a spooled temporary file (in memory up to
:data:`SPOOL_MAX`, then on disk), and a ZIP payload is unpacked entry by entry into further spooled
files. This is also how payloads over libxml2's 10 MB text-node limit are read without enabling
``huge_tree``.

Hazards and what stops them:

* **Bad base64** (stray characters, a note in place of the payload as in the SDK sample with an
  elided attachment, padding in the middle): :class:`AttachmentError` naming the ``Attachment``
  element path and its ``ContentId``. Whitespace and line breaks are tolerated (MIME-style
  76-column lines are common).
* **ZIP detection** (§4): a payload starting with ``PK\x03\x04`` whose central directory opens is
  unpacked (one item per entry); one that does not open, or that is itself a ZIP-based document
  format (OOXML ``[Content_Types].xml``, ODF ``mimetype``) sent without the SDK wrapper, is
  passed on as raw bytes. A ZIP that opens but whose entry data is corrupt (CRC, deflate) is an
  :class:`AttachmentError` (``edxml.attachment.zip``).
* **ZIP bombs**: each unpacked entry is capped at ``max_unpacked_bytes``, and all the entries of
  one archive together at :data:`MAX_ZIP_RATIO` times the archive's size (never below
  :data:`ZIP_RATIO_FLOOR`) — ``edxml.attachment.too_large``. The per-entry cap alone let a
  700 KB package inflate 512 MiB onto disk (7 s of CPU) and be accepted; documents compress
  by a few times, text by tens, a bomb by a thousand.
* **Manifest mismatch**: ``Manifest/Reference`` and ``AttachmentEncoded/Attachment`` are matched by
  normalised ``ContentId`` (``cid:`` dropped). With ``require_manifest_match`` (the default) an
  ``Attachment`` without a ``Reference`` is refused when it ends, and ``Reference`` entries with no
  ``Attachment`` are refused after the last one (``edxml.attachment.unmatched``).

Each yielded item owns its temporary file: read it with :meth:`ExtractedAttachment.read_bytes`
or :meth:`~ExtractedAttachment.copy_to`, and :meth:`~ExtractedAttachment.close` it (or use it as a
context manager) when done; an unclosed file is deleted when garbage-collected.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from lxml import etree

from hub import xmlsafe
from hub.edxml.model import NS, ManifestReference
from hub.edxml.reader import ParsedPackage, normalise_content_id
from hub.edxml.source import Package, PackageFile
from hub.errors import AttachmentError, XmlError

__all__ = [
    "MAX_ZIP_RATIO",
    "SPOOL_MAX",
    "ZIP_RATIO_FLOOR",
    "ExtractedAttachment",
    "iter_attachments",
    "iter_parsed_attachments",
]

#: Payloads up to this size stay in memory; larger ones roll over to a temporary file.
SPOOL_MAX = 4 * 1024 * 1024
_FEED = 1 << 20
_COPY = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"
#: Most an archive may inflate to, as a multiple of its own (decoded) size.
MAX_ZIP_RATIO = 100
#: An archive may always inflate to this much, whatever its ratio (small archives of text).
ZIP_RATIO_FLOOR = 64 * 1024 * 1024
#: Entries that mark a ZIP as a document format of its own (OOXML, ODF, EPUB), not a wrapper.
_PACKAGE_FORMAT_MARKERS = frozenset({"[Content_Types].xml", "mimetype"})
_WS = b" \t\r\n"
_NS_PREFIX = "{" + NS + "}"
_ATTACHMENT_FIELDS = frozenset({"ContentId", "AttachmentName", "Description", "ContentType"})
_BAD_B64 = re.compile(rb"[^A-Za-z0-9+/=]")


@dataclass(frozen=True, slots=True, eq=False)
class ExtractedAttachment:
    """One extracted file of an ``Attachment``.

    ``content_id`` is normalised (no ``cid:``); ``manifest`` is the matching ``Reference`` (or
    ``None`` when matching is not required and there is none). ``was_zip`` says the decoded
    payload was a ZIP; then ``entry_name`` is this file's entry and ``zip_entry_names`` all
    entries (one item is yielded per entry). ``sha256``/``size`` describe this file;
    ``payload_sha256``/``payload_size`` the decoded base64 payload (the ZIP itself when zipped).
    """

    content_id: str
    attachment_name: str | None
    content_type: str | None
    description: str | None
    manifest: ManifestReference | None
    was_zip: bool
    entry_name: str | None
    zip_entry_names: tuple[str, ...]
    sha256: str
    size: int
    payload_sha256: str
    payload_size: int
    path: str
    content: IO[bytes] = field(repr=False)

    def read_bytes(self) -> bytes:
        """The whole file in memory (for small files; large ones: :meth:`copy_to`)."""
        self.content.seek(0)
        return self.content.read()

    def copy_to(self, out: IO[bytes]) -> int:
        """Copy the file to ``out`` in chunks; return the bytes copied."""
        self.content.seek(0)
        n = 0
        while chunk := self.content.read(_COPY):
            out.write(chunk)
            n += len(chunk)
        return n

    def close(self) -> None:
        self.content.close()

    def __enter__(self) -> ExtractedAttachment:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX, mode="w+b")


def _local(tag: str) -> str | None:
    if tag.startswith(_NS_PREFIX):
        return tag[len(_NS_PREFIX) :]
    if tag[0] != "{":
        return tag
    return None


class _Decoder:
    """Incremental base64 → file, with SHA-256 and size; remembers the first error."""

    def __init__(self) -> None:
        self.out = _spool()
        self.hash = hashlib.sha256()
        self.size = 0
        self.chars = 0
        self._carry = b""
        self.error: str | None = None
        self.head = b""

    def feed(self, text: str) -> None:
        if self.error is not None:
            return
        self.chars += len(text)
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            self.error = "non-ASCII character in base64 text"
            return
        data = self._carry + raw.translate(None, _WS)
        cut = len(data) - len(data) % 4
        self._carry = data[cut:]
        if cut:
            self._decode(data[:cut])

    def _decode(self, chunk: bytes) -> None:
        try:
            out = binascii.a2b_base64(chunk, strict_mode=True)
        except binascii.Error as exc:
            bad = _BAD_B64.search(chunk)
            self.error = (
                f"invalid character {chr(chunk[bad.start()])!r} in base64 text"
                if bad
                else f"malformed base64 ({exc})"
            )
            return
        if len(self.head) < 4:
            self.head += out[: 4 - len(self.head)]
        self.hash.update(out)
        self.size += len(out)
        self.out.write(out)

    def finish(self) -> None:
        if self.error is None and self._carry:
            self.error = f"base64 text ends with {len(self._carry)} stray character(s)"


@dataclass(slots=True)
class _Pending:
    path: str
    fields: dict[str, str] = field(default_factory=dict)
    decoder: _Decoder | None = None


class _Target:
    """Parser target: collects manifest entries and attachment payloads as they end."""

    def __init__(self, require_match: bool, max_unpacked: int) -> None:
        self.require_match = require_match
        self.max_unpacked = max_unpacked
        self.stack: list[str | None] = []
        self.manifest: dict[str, ManifestReference] = {}
        self.seen: set[str] = set()
        self.ready: list[ExtractedAttachment] = []
        #: The first attachment error; raised by the iterator after the items that precede it.
        self.failed: AttachmentError | None = None
        self._ref: dict[str, str] | None = None
        self._att: _Pending | None = None
        self._n_att = 0
        self._text: list[str] | None = None

    def start(self, tag: str, attrib: Any) -> None:
        name = _local(tag)
        parent = self.stack[-1] if self.stack else None
        self.stack.append(name)
        if len(self.stack) > xmlsafe.MAX_DEPTH:
            raise xmlsafe.too_deep()
        if name == "Reference" and parent == "edXMLManifest":
            self._ref = {}
        elif name == "Attachment" and parent == "AttachmentEncoded":
            self._n_att += 1
            self._att = _Pending(path=f"/edXML/AttachmentEncoded/Attachment[{self._n_att}]")
        elif name == "ContentTransferEncoded" and self._att is not None and parent == "Attachment":
            self._att.decoder = _Decoder()
        elif name in _ATTACHMENT_FIELDS and parent in ("Attachment", "Reference"):
            self._text = []

    def data(self, data: str) -> None:
        if self.failed is not None:
            return
        if self._att is not None and self._att.decoder is not None and self._text is None:
            if self.stack and self.stack[-1] == "ContentTransferEncoded":
                self._att.decoder.feed(data)
        elif self._text is not None:
            self._text.append(data)

    def end(self, tag: str) -> None:
        name = self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        if self._text is not None and name in _ATTACHMENT_FIELDS:
            text = "".join(self._text).strip()
            self._text = None
            if parent == "Reference" and self._ref is not None:
                self._ref[name] = text
            elif parent == "Attachment" and self._att is not None:
                self._att.fields[name] = text
        elif name == "Reference" and self._ref is not None:
            f = self._ref
            cid = normalise_content_id(f.get("ContentId"))
            self.manifest[cid] = ManifestReference(
                content_id=cid,
                content_type=f.get("ContentType") or None,
                description=f.get("Description") or None,
                attachment_name=f.get("AttachmentName") or None,
            )
            self._ref = None
        elif name == "Attachment" and self._att is not None:
            att, self._att = self._att, None
            self._finish(att)

    def close(self) -> None:
        return None

    def doctype(self, name: str | None, pubid: str | None, system: str | None) -> None:
        # Defence in depth: check_prolog already refuses a DOCTYPE in the first 64 KB.
        raise xmlsafe.doctype_refused()

    def _error(self, att: _Pending, cid: str, en: str, vi: str, code: str) -> AttachmentError:
        shown = cid or "(none)"
        return AttachmentError(
            f"attachment ContentId {shown}: {en}",
            message_vi=f"tệp đính kèm ContentId {shown}: {vi}",
            code=code,
            path=att.path,
            details={"content_id": cid},
        )

    def _finish(self, att: _Pending) -> None:
        cid = normalise_content_id(att.fields.get("ContentId"))
        dec = att.decoder
        if self.failed is not None:
            if dec is not None:
                dec.out.close()
            return
        try:
            if dec is None:
                raise self._error(
                    att,
                    cid,
                    "no ContentTransferEncoded element",
                    "thiếu phần tử ContentTransferEncoded",
                    "edxml.attachment.missing",
                )
            dec.finish()
            if dec.error is not None:
                raise self._error(
                    att,
                    cid,
                    f"ContentTransferEncoded is not valid base64: {dec.error}",
                    f"ContentTransferEncoded không phải base64 hợp lệ: {dec.error}",
                    "edxml.attachment.base64",
                )
            ref = self.manifest.get(cid)
            if ref is None and self.require_match:
                raise self._error(
                    att,
                    cid,
                    "no matching Reference in edXMLManifest",
                    "không có Reference tương ứng trong edXMLManifest",
                    "edxml.attachment.unmatched",
                )
            self.seen.add(cid)
            self.ready.extend(self._extract(att, cid, ref, dec))
        except AttachmentError as err:
            if dec is not None:
                dec.out.close()
            self.failed = err
        except BaseException:
            if dec is not None:
                dec.out.close()
            raise

    def _extract(
        self, att: _Pending, cid: str, ref: ManifestReference | None, dec: _Decoder
    ) -> list[ExtractedAttachment]:
        common: dict[str, Any] = {
            "content_id": cid,
            "attachment_name": att.fields.get("AttachmentName") or None,
            "content_type": att.fields.get("ContentType") or None,
            "description": att.fields.get("Description") or None,
            "manifest": ref,
            "payload_sha256": dec.hash.hexdigest(),
            "payload_size": dec.size,
            "path": att.path,
        }
        raw = ExtractedAttachment(
            was_zip=False,
            entry_name=None,
            zip_entry_names=(),
            sha256=common["payload_sha256"],
            size=dec.size,
            content=dec.out,
            **common,
        )
        if dec.head != _ZIP_MAGIC:
            return [raw]  # §4: "fall back to the raw bytes"
        try:
            zf = zipfile.ZipFile(dec.out)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
            # Starts with the magic but has no readable central directory: not a ZIP wrapper
            # (e.g. a raw file that happens to begin with "PK\x03\x04"); pass it on as is.
            return [raw]
        if {i.filename for i in zf.infolist()} & _PACKAGE_FORMAT_MARKERS:
            # The payload is itself a document in a ZIP-based format (OOXML .docx/.xlsx, ODF),
            # sent without the SDK's ZIP wrapper: the file is the payload, not its parts.
            zf.close()
            return [raw]
        items: list[ExtractedAttachment] = []
        try:
            with zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                names = tuple(i.filename for i in infos)
                budget = max(ZIP_RATIO_FLOOR, MAX_ZIP_RATIO * dec.size)
                for info in infos:
                    out, digest, size = self._unpack(zf, info, att, cid, budget)
                    budget -= size
                    items.append(
                        ExtractedAttachment(
                            was_zip=True,
                            entry_name=info.filename,
                            zip_entry_names=names,
                            sha256=digest,
                            size=size,
                            content=out,
                            **common,
                        )
                    )
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            NotImplementedError,
            EOFError,
            zlib.error,
        ) as exc:
            for it in items:
                it.close()
            raise self._error(
                att,
                cid,
                f"the ZIP archive in the payload cannot be unpacked: {exc}",
                f"không giải nén được tệp ZIP trong nội dung: {exc}",
                "edxml.attachment.zip",
            ) from exc
        finally:
            dec.out.close()
        return items

    def _unpack(
        self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, att: _Pending, cid: str, budget: int
    ) -> tuple[IO[bytes], str, int]:
        """One entry into a spooled file; ``budget`` is what the archive may still inflate to."""
        out = _spool()
        h = hashlib.sha256()
        size = 0
        try:
            with zf.open(info) as src:
                while chunk := src.read(_COPY):
                    size += len(chunk)
                    if size > budget:
                        raise self._error(
                            att,
                            cid,
                            f"the ZIP archive unpacks to more than {MAX_ZIP_RATIO} times its "
                            f"size (a ZIP bomb); stopped at entry {info.filename!r}",
                            f"tệp ZIP giải nén vượt {MAX_ZIP_RATIO} lần kích thước của nó "
                            f"(ZIP bomb); dừng ở mục {info.filename!r}",
                            "edxml.attachment.too_large",
                        )
                    if size > self.max_unpacked:
                        raise self._error(
                            att,
                            cid,
                            f"ZIP entry {info.filename!r} unpacks to more than "
                            f"{self.max_unpacked} bytes",
                            f"mục ZIP {info.filename!r} giải nén vượt {self.max_unpacked} byte",
                            "edxml.attachment.too_large",
                        )
                    h.update(chunk)
                    out.write(chunk)
        except BaseException:
            out.close()
            raise
        return out, h.hexdigest(), size


def _chunks(source: bytes | PackageFile | Path | str | IO[bytes]) -> Iterator[bytes]:
    if isinstance(source, PackageFile):
        yield from source.chunks(_FEED)
        return
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for pos in range(0, len(view), _FEED):
            yield bytes(view[pos : pos + _FEED])
        return
    if isinstance(source, str | Path):
        with Path(source).open("rb") as f:
            yield from _chunks(f)
        return
    while chunk := source.read(_FEED):
        yield chunk


def iter_attachments(
    source: bytes | PackageFile | Path | str | IO[bytes],
    *,
    require_manifest_match: bool = True,
    max_unpacked_bytes: int = 1024 * 1024 * 1024,
    max_bytes: int | None = None,
) -> Iterator[ExtractedAttachment]:
    """Yield every extracted attachment file of the package in ``source``.

    ``source`` is the package bytes, a :class:`~hub.edxml.source.PackageFile` (read from its
    start), a path, or a binary file object read from its current position. ``max_bytes`` caps
    the package size read (:class:`XmlError` ``xml.too_large``).
    Raises :class:`XmlError` for unsafe/malformed XML and :class:`AttachmentError` as described in
    the module docstring. Items already yielded stay valid after an error.
    """
    target = _Target(require_manifest_match, max_unpacked_bytes)
    parser = xmlsafe.feed_parser(target)
    total = 0
    first = True
    try:
        for chunk in _chunks(source):
            if first:
                xmlsafe.check_prolog(chunk[: 64 * 1024])
                first = False
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise XmlError(
                    f"package exceeds the cap of {max_bytes} bytes",
                    message_vi=f"gói tin vượt giới hạn {max_bytes} byte",
                    code="xml.too_large",
                )
            parser.feed(chunk)
            yield from _drain(target)
        if first:
            xmlsafe.check_prolog(b"")
        parser.close()
        yield from _drain(target)
    except etree.XMLSyntaxError as exc:
        _discard(target)
        raise xmlsafe.syntax_error(exc) from exc
    except BaseException:
        _discard(target)
        raise
    yield from _check_unmatched(target, require_manifest_match)


def iter_parsed_attachments(
    parsed: ParsedPackage,
    data: Package,
    *,
    require_manifest_match: bool = True,
    max_unpacked_bytes: int = 1024 * 1024 * 1024,
) -> Iterator[ExtractedAttachment]:
    """:func:`iter_attachments` over the intake's ONE parse instead of a second one.

    The tree of :func:`hub.edxml.reader.parse_package` is replayed, in document order, into the
    same parser target the streaming path uses, so the items, their order and every error are
    those of ``iter_attachments(data)``; only the XML parse is saved (≈ 2.9 ms of the PDF
    check of a 277 KB edoc, ``bench/RESULTS-hub.md``). A tree whose attachment text was left
    out (``attachments_elided``: packages over the reader's tree limit) is streamed from
    ``data`` instead.
    """
    if parsed.attachments_elided:
        yield from iter_attachments(
            data,
            require_manifest_match=require_manifest_match,
            max_unpacked_bytes=max_unpacked_bytes,
        )
        return
    target = _Target(require_manifest_match, max_unpacked_bytes)
    try:
        yield from _replay(parsed.root, target)
    except BaseException:
        _discard(target)
        raise
    yield from _check_unmatched(target, require_manifest_match)


def _replay(el: Any, target: _Target) -> Iterator[ExtractedAttachment]:
    """Feed ``el``'s subtree to ``target`` as the streaming parser would, in document order:
    the text of an element is split by its children (comments too, whose tails continue it).
    Recursion depth is bounded by the hardened parser's ``MAX_DEPTH``."""
    element = isinstance(el.tag, str)  # not a comment or processing instruction
    if element:
        target.start(el.tag, el.attrib)
        if el.text:
            target.data(el.text)
        for child in el:
            yield from _replay(child, target)
            if child.tail:
                target.data(child.tail)
        target.end(el.tag)
    yield from _drain(target)


def _check_unmatched(
    target: _Target, require_manifest_match: bool
) -> Iterator[ExtractedAttachment]:
    """Refuse ``Reference`` entries no ``Attachment`` carried (a generator for ``yield from``)."""
    missing = sorted(set(target.manifest) - target.seen)
    if missing and require_manifest_match:
        ids = ", ".join(missing)
        raise AttachmentError(
            f"edXMLManifest lists ContentId {ids} but no Attachment carries it",
            message_vi=f"edXMLManifest khai báo ContentId {ids} nhưng không có Attachment nào",
            code="edxml.attachment.unmatched",
            path="/edXML/edXMLEnvelope/edXMLBody/edXMLManifest",
            details={"content_ids": missing},
        )
    yield from ()


def _drain(target: _Target) -> Iterator[ExtractedAttachment]:
    while target.ready:
        yield target.ready.pop(0)
    if target.failed is not None:
        raise target.failed


def _discard(target: _Target) -> None:
    for item in target.ready:
        item.close()
    target.ready.clear()
