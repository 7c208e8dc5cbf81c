"""Hostile "PDFs" inside packages: the verifier must not hand them to a parser that scans them
byte by byte (regression: a 11 KB package carrying a ZIP of 5 MiB of NULs behind ``%PDF-`` cost
55 s of the intake's CPU; ``bench/RESULTS-hostile-input.md``)."""

from __future__ import annotations

import tempfile
from io import BytesIO
from typing import IO, Any

import pytest

from signing import pdf_verify
from signing.pdf_verify import PdfVerifier
from tests.unit.signing.pdf.pdfkit import make_pdf


def _file_backed(data: bytes) -> IO[bytes]:
    """``data`` in a spooled file already rolled to disk, as large attachments arrive."""
    spool = tempfile.SpooledTemporaryFile(max_size=1024)  # noqa: SIM115 (the caller reads it)
    spool.write(data)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def test_no_trailer_is_unreadable_without_parsing(
    verifier: PdfVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("the parser was given a file without a trailer")

    monkeypatch.setattr(pdf_verify, "PdfFileReader", never)
    bomb = b"%PDF-1.4\n" + b"\0" * (4 << 20)
    verdict = verifier.verify(_file_backed(bomb))
    assert [p.code for p in verdict.problems] == ["pdf.unreadable"]
    assert "startxref" in verdict.problems[0].message_en


def test_trailing_junk_after_eof_is_still_read(verifier: PdfVerifier) -> None:
    """Some bytes after ``%%EOF`` (scanners append a few; the parser allows its last line to
    start up to 1 KiB before the end) pass the trailer check and are parsed as before."""
    pdf = make_pdf(1) + b"\n" + b"junk " * 150
    assert [p.code for p in verifier.verify(pdf).problems] == ["pdf.unsigned"]


def test_file_backed_pdf_is_parsed_from_memory(
    verifier: PdfVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[type] = []
    real = pdf_verify.PdfFileReader

    def spy(stream: IO[bytes], **kw: Any) -> Any:
        seen.append(type(stream))
        return real(stream, **kw)

    monkeypatch.setattr(pdf_verify, "PdfFileReader", spy)
    verdict = verifier.verify(_file_backed(make_pdf(1)))
    assert [p.code for p in verdict.problems] == ["pdf.unsigned"]
    assert seen == [BytesIO]
