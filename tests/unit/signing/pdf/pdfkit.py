"""Test material for the PDF signature tests, all generated: PDFs, PNG images, pyHanko signers.

* :func:`make_pdf` — a small, valid PDF written by hand (exact ``xref`` offsets), optionally
  padded with a real content stream (lines of text) to a target size, e.g. 200 KB.
* :func:`signature_png` / :func:`seal_png` — transparent RGBA PNGs (a blue handwritten stroke,
  a round red seal) from a minimal encoder (zlib + struct), no imaging library needed.
* :func:`signer_for` — a pyHanko ``SimpleSigner`` for an :class:`tests.pki.Issued` key,
  carrying the chain certificates.
* :func:`append_update` — an incremental update written by hand, as an attacker would.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Sequence

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tests.pki import Issued


def _page_content(page: int, pad_to: int) -> bytes:
    lines = [
        b"BT /F1 14 Tf 72 760 Td (UY BAN NHAN DAN TINH THU NGHIEM) Tj ET",
        f"BT /F1 12 Tf 72 730 Td (Trang {page + 1} - Van ban thu nghiem) Tj ET".encode(),
    ]
    n = 0
    size = sum(len(x) + 1 for x in lines)
    while size < pad_to:
        y = 700 - (n % 110) * 6
        line = (
            f"BT /F1 5 Tf 72 {y} Td (Dong {n:06d}: noi dung van ban de kiem tra chu ky so "
            f"PAdES tren tep PDF co kich thuoc lon) Tj ET"
        ).encode()
        lines.append(line)
        size += len(line) + 1
        n += 1
    return b"\n".join(lines) + b"\n"


def make_pdf(pages: int = 1, pad_to: int = 0) -> bytes:
    """A valid PDF of ``pages`` A4 pages; the first page's content is padded to ``pad_to``
    bytes (uncompressed), so the whole file is a little larger than that."""
    objs: list[bytes] = []
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(pages))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>")
    for i in range(pages):
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        content = _page_content(i, pad_to if i == 0 else 0)
        objs.append(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream")
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def append_update(pdf: bytes, new_objects: dict[int, bytes]) -> bytes:
    """Append an incremental update replacing/adding objects ``{number: body}`` — what an
    attacker does to change a signed PDF (the earlier signature's bytes stay intact)."""
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    size = max(int(m) for m in re.findall(rb"/Size (\d+)", pdf))
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = {}
    for num, body in sorted(new_objects.items()):
        offsets[num] = len(out)
        out += f"{num} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n"
    for num, off in sorted(offsets.items()):
        out += f"{num} 1\n{off:010d} 00000 n \n".encode()
    root = re.findall(rb"/Root (\d+ \d+ R)", pdf)[-1].decode()
    new_size = max(size, max(new_objects) + 1)
    out += (
        f"trailer\n<< /Size {new_size} /Root {root} /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def _png(width: int, height: int, pixel: object) -> bytes:
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type None
        for x in range(width):
            rows += bytes(pixel(x, y))  # type: ignore[operator]

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def signature_png(width: int = 240, height: int = 90) -> bytes:
    """A blue handwritten-looking stroke on a transparent background."""

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        curve = height / 2 + math.sin(x / 14) * height / 4 + math.sin(x / 5) * 4
        return (20, 40, 200, 255) if abs(y - curve) < 2.2 else (0, 0, 0, 0)

    return _png(width, height, pixel)


def seal_png(size: int = 160) -> bytes:
    """A round red seal (two rings and a star) on a transparent background."""
    c = size / 2

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        r = math.hypot(x - c, y - c)
        ring = c - 4 >= r >= c - 12 or c - 22 >= r >= c - 25
        angle = math.atan2(y - c, x - c)
        star = r < 18 + 10 * math.cos(5 * angle)
        return (220, 20, 30, 255) if ring or star else (0, 0, 0, 0)

    return _png(size, size, pixel)


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def signer_for(issued: Issued, chain: Sequence[x509.Certificate] = ()) -> signers.SimpleSigner:
    """A pyHanko signer for ``issued``, embedding ``chain`` (intermediates, optionally root)."""
    key_der = issued.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return signers.SimpleSigner(
        signing_cert=_asn1(issued.cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in chain]),
    )


def make_ttf(path: str, upem: int = 2048, text: str = "") -> None:
    """A tiny TrueType font (square glyphs, each half an em wide) covering ``text``'s letters
    plus ASCII, with ``unitsPerEm`` = ``upem`` — for the embedded-font tests."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    chars = sorted(set(text) | {chr(c) for c in range(32, 127)})
    names = [".notdef"] + [f"uni{ord(c):04X}" for c in chars]
    fb = FontBuilder(upem, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({ord(c): f"uni{ord(c):04X}" for c in chars})
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        if name != "uni0020":
            w = upem // 2
            pen.moveTo((w // 8, 0))
            pen.lineTo((w // 8, upem * 7 // 10))
            pen.lineTo((w - w // 8, upem * 7 // 10))
            pen.lineTo((w - w // 8, 0))
            pen.closePath()
        glyphs[name] = pen.glyph()
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics(dict.fromkeys(names, (upem // 2, 0)))
    fb.setupHorizontalHeader(ascent=upem * 8 // 10, descent=-upem * 2 // 10)
    fb.setupNameTable(
        {"familyName": "LienthongTest", "styleName": "Regular", "psName": "LienthongTest-Regular"}
    )
    fb.setupOS2(sTypoAscender=upem * 8 // 10, usWinAscent=upem * 8 // 10, usWinDescent=upem // 5)
    fb.setupPost()
    fb.save(path)
