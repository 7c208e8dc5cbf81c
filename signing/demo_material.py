"""Throw-away signing material for ``lienthong demo``: generated at run time, never committed.

Nothing here is fit for real use. Every CA subject is marked ``THỬ NGHIỆM - KHÔNG DÙNG THẬT``
(test material, not for real use), and the keys are generated fresh by ``cryptography`` on each
call, then written as PKCS#12 files protected by :data:`DEMO_PASSWORD` — a password printed in
this source, i.e. no protection at all. The shape is the smallest one that still exercises the
hub's trust path end to end::

    root     CN=Cơ quan chứng thực số THỬ NGHIỆM, OU=THỬ NGHIỆM…   self-signed CA, signs the CRL
    ├─ person  CN=<person>, O=<agency>, title=<office>            — a "cá nhân" certificate
    └─ agency  CN=O=<agency>, UID=<agency code>                   — a "tổ chức" certificate

Both leaves follow the signer-class hooks of :mod:`signing.nd30` (an agency certificate carries
the QĐ 20/2020 identifier code in ``UID``; a person's carries a ``title`` and no ``UID``), so the
PDF verifier recognises the two Nghị định 30 signatures for what they are.

Revocation: the hub's trust policy requires revocation data before it calls a signer trusted
(:class:`signing.trust.TrustPolicy`). The leaves therefore name a CRL distribution point (the
``crl_url`` given), and :func:`make_demo_pki` returns the root's empty CRL in DER for the caller
to publish there (:class:`CrlServer` does so on 127.0.0.1).

:func:`sign_demo_pdf` applies the two Nghị định 30 signatures with that material and
:func:`sign_demo_envelope` the XML-DSig of an edXML package. Also here: :func:`make_pdf` (a
minimal one-page PDF written by hand, ASCII text only) and the two PNG images the visible
signatures use, drawn with Pillow (:func:`signature_png`, :func:`seal_png`).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEMO_OU",
    "DEMO_PASSWORD",
    "CrlServer",
    "DemoPki",
    "make_demo_pki",
    "make_pdf",
    "seal_png",
    "sign_demo_envelope",
    "sign_demo_pdf",
    "signature_png",
]

#: Marks every CA subject as test material ("test – do not use for real").
DEMO_OU = "THỬ NGHIỆM - KHÔNG DÙNG THẬT"
DEMO_ROOT_NAME = "Cơ quan chứng thực số THỬ NGHIỆM (demo)"
#: The password of the PKCS#12 files: public on purpose, the keys protect nothing real.
DEMO_PASSWORD = "demo-1234"  # noqa: S105 (published on purpose: see the module docstring)
CRL_PATH = "/crl/demo-root.crl"


@dataclass(frozen=True)
class DemoPki:
    """Where :func:`make_demo_pki` wrote the material, and the CRL to publish."""

    anchors: Path
    """PEM of the demo root: the hub's ``signatures.trust_anchors``."""
    person_p12: Path
    agency_p12: Path
    crl_der: bytes
    """The root's (empty) CRL, to be served at the leaves' distribution point."""
    password: str = DEMO_PASSWORD

    @property
    def person_ref(self) -> str:
        """The :func:`signing.keys.load_key` reference of the person's key."""
        return f"file:{self.person_p12}"

    @property
    def agency_ref(self) -> str:
        return f"file:{self.agency_p12}"


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    subject: x509.Name,
    root_cert: x509.Certificate,
    root_key: rsa.RSAPrivateKey,
    now: dt.datetime,
    crl_url: str | None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
    )
    if crl_url:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(root_key, hashes.SHA256()), key


def make_demo_pki(
    directory: Path,
    *,
    agency_name: str,
    agency_code: str,
    person_name: str,
    person_title: str,
    crl_url: str | None = None,
) -> DemoPki:
    """Generate a demo root, a person and an agency certificate; write them into ``directory``.

    Files: ``demo-root.pem`` (the trust anchor), ``person.p12`` and ``agency.p12`` (key,
    certificate and the root as chain; password :data:`DEMO_PASSWORD`), ``demo-root.crl``.
    Three RSA-2048 keys: a fraction of a second. The leaves are valid from yesterday for 30 days.
    """
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_subject = _name(
        (NameOID.COUNTRY_NAME, "VN"),
        (NameOID.ORGANIZATION_NAME, "lienthong demo"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, DEMO_OU),
        (NameOID.COMMON_NAME, DEMO_ROOT_NAME),
    )
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_subject)
        .issuer_name(root_subject)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    person_cert, person_key = _leaf(
        _name(
            (NameOID.COUNTRY_NAME, "VN"),
            (NameOID.ORGANIZATION_NAME, agency_name),
            (NameOID.TITLE, person_title),
            (NameOID.COMMON_NAME, person_name),
        ),
        root_cert,
        root_key,
        now,
        crl_url,
    )
    agency_cert, agency_key = _leaf(
        _name(
            (NameOID.COUNTRY_NAME, "VN"),
            (NameOID.ORGANIZATION_NAME, agency_name),
            (NameOID.USER_ID, agency_code),
            (NameOID.COMMON_NAME, agency_name),
        ),
        root_cert,
        root_key,
        now,
        crl_url,
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root_subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=7))
        .add_extension(x509.CRLNumber(1), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    enc = serialization.BestAvailableEncryption(DEMO_PASSWORD.encode())
    anchors = directory / "demo-root.pem"
    anchors.write_bytes(root_cert.public_bytes(serialization.Encoding.PEM))
    paths = {}
    for role, cert, key in (
        ("person", person_cert, person_key),
        ("agency", agency_cert, agency_key),
    ):
        path = directory / f"{role}.p12"
        path.write_bytes(
            pkcs12.serialize_key_and_certificates(role.encode(), key, cert, [root_cert], enc)
        )
        path.chmod(0o600)
        paths[role] = path
    crl_der = crl.public_bytes(serialization.Encoding.DER)
    (directory / "demo-root.crl").write_bytes(crl_der)
    return DemoPki(anchors, paths["person"], paths["agency"], crl_der)


class CrlServer:
    """Serves one CRL at ``http://127.0.0.1:<port>/crl/demo-root.crl`` (ephemeral port).

    Start it before :func:`make_demo_pki` (the leaves must name its URL), then :meth:`publish`
    the CRL. Anything else is answered 404.
    """

    def __init__(self) -> None:
        self._crl = b""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = server._crl if self.path == CRL_PATH else b""
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the demo prints its own timeline

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="demo-crl", daemon=True
        )

    @property
    def url(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}{CRL_PATH}"

    def publish(self, crl_der: bytes) -> None:
        self._crl = crl_der

    def start(self) -> CrlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def make_pdf(lines: tuple[str, ...] = ("lienthong demo",)) -> bytes:
    """A minimal valid one-page A4 PDF 1.4 written by hand (correct xref offsets, no library).

    The text is set in the standard Helvetica font, which has no Vietnamese letters: give ASCII
    lines (anything else is replaced by ``?``).
    """
    ops = ["BT", "/F1 14 Tf", "72 770 Td", "18 TL"]
    for line in lines:
        safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({safe}) '")
    ops.append("ET")
    stream = "\n".join(ops).encode("ascii", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    # Each xref entry is exactly 20 bytes, ending in space + LF (ISO 32000-1 §7.5.4).
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def signature_png(width: int = 360, height: int = 140) -> bytes:
    """A blue handwritten-looking stroke on a transparent background (the person's signature)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    blue = (20, 50, 170, 255)
    # A decaying loop-and-flourish curve: looks like a signature, reads as nothing.
    points = []
    for i in range(400):
        t = i / 399
        x = 20 + t * (width - 60)
        y = height / 2 + 38 * math.sin(t * 5 * math.pi) * (1.1 - t) + 14 * math.cos(t * 17)
        points.append((x, y))
    draw.line(points, fill=blue, width=4, joint="curve")
    draw.line([(40, height - 24), (width - 30, height - 34)], fill=blue, width=3)
    return _png(img)


def seal_png(size: int = 240) -> bytes:
    """A round red seal (two rings and a five-pointed star) on a transparent background."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    red = (200, 20, 30, 230)
    c = size / 2
    draw.ellipse([4, 4, size - 4, size - 4], outline=red, width=8)
    inner = size * 0.3
    draw.ellipse([c - inner, c - inner, c + inner, c + inner], outline=red, width=4)
    star = []
    for k in range(10):
        r = inner * (0.85 if k % 2 == 0 else 0.36)
        a = -math.pi / 2 + k * math.pi / 5
        star.append((c + r * math.cos(a), c + r * math.sin(a)))
    draw.polygon(star, fill=red)
    # Tick marks standing in for the ring's lettering.
    for k in range(36):
        a = k * math.pi / 18
        r1, r2 = size / 2 - 16, size / 2 - 30
        draw.line(
            [
                (c + r1 * math.cos(a), c + r1 * math.sin(a)),
                (c + r2 * math.cos(a), c + r2 * math.sin(a)),
            ],
            fill=red,
            width=5,
        )
    return _png(img)


def sign_demo_pdf(pki: DemoPki, pdf: bytes, *, agency_name: str) -> bytes:
    """``pdf`` signed by the person (visible signature, blue) and then by the agency (the red
    seal over the person's signature), as Nghị định 30/2020 Phụ lục I lays out an issued text.

    Each signature is an incremental update (:class:`signing.pdf_sign.PdfSigningService`), so
    the person's signature still verifies after the agency's. The appearance text uses a
    Vietnamese-capable serif font when one is installed.
    """
    from signing.keys import load_key
    from signing.pdf_layout import LayoutStyle, find_serif_font
    from signing.pdf_sign import PdfSigningService, SignatureRole, SignRequest

    style = LayoutStyle(font_file=find_serif_font())
    person = load_key(pki.person_ref, pin=pki.password)
    agency = load_key(pki.agency_ref, pin=pki.password)
    try:
        signed = PdfSigningService(person.pyhanko_signer(), style=style).sign(
            pdf, SignRequest(role=SignatureRole.PERSON, image=signature_png())
        )
        return PdfSigningService(agency.pyhanko_signer(), style=style).sign(
            signed,
            SignRequest(role=SignatureRole.AGENCY, image=seal_png(), agency_name=agency_name),
        )
    finally:
        person.close()
        agency.close()


def sign_demo_envelope(pki: DemoPki, package: bytes) -> bytes:
    """``package`` (edXML bytes) with an enveloped XML-DSig by the agency's key."""
    from signing.keys import load_key
    from signing.xmldsig import sign_envelope

    key = load_key(pki.agency_ref, pin=pki.password)
    try:
        return sign_envelope(package, key)
    finally:
        key.close()
