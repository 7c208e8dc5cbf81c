"""The fixture builders other suites rely on produce what they promise."""

from __future__ import annotations

import io
import re

from hub.edxml import EdocPackage, StatusPackage, iter_attachments, read
from tests.factories import edoc_package, make_edoc, make_pdf_bytes, make_status, status_package


def test_pdf_is_well_formed_with_exact_xref_offsets() -> None:
    pdf = make_pdf_bytes("Công văn (số 1)")
    assert pdf.startswith(b"%PDF-1.4")
    assert pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[startxref:].startswith(b"xref")
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n", pdf)]
    assert len(offsets) == 5
    for i, off in enumerate(offsets, start=1):
        assert pdf[off:].startswith(f"{i} 0 obj".encode())


def test_pdf_opens_in_a_pdf_library() -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(make_pdf_bytes()), strict=True)
    assert reader.root["/Pages"]["/Count"] == 1


def test_make_edoc_overrides_and_attachment() -> None:
    data = make_edoc(sender="000.00.00.H41", to=["000.00.00.G22"], subject="Về việc thử")
    pkg = read(data)
    assert isinstance(pkg, EdocPackage)
    assert (
        pkg.header
        == edoc_package(sender="000.00.00.H41", to=["000.00.00.G22"], subject="Về việc thử").header
    )
    [item] = list(iter_attachments(data))
    with item:
        assert item.read_bytes().startswith(b"%PDF-1.4")


def test_make_status_overrides() -> None:
    pkg = read(make_status(status_code="15", response_to="000.00.00.H14"))
    assert isinstance(pkg, StatusPackage)
    assert pkg == status_package(status_code="15", response_to="000.00.00.H14")
