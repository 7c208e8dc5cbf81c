"""An RFC 3161 time-stamping authority on loopback HTTP, for PAdES B-T tests.

:class:`TsaServer` issues itself a TSA certificate (critical ``timeStamping`` extended key usage,
RFC 3161 §2.3) under a given CA — or under its own self-signed root — and answers
``application/timestamp-query`` POSTs with pyHanko's ``DummyTimeStamper`` (a real, signed
``TimeStampResp``; "dummy" only in that it keeps no serial-number state). ``available = False``
makes it answer 503, to test a TSA outage; :attr:`hits` counts requests.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from tests.loopback import LoopbackServer, QuietHandler

UTC = dt.UTC


def _self_signed_root(name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


class TsaServer:
    """A time-stamping authority listening on ``127.0.0.1`` (ephemeral port).

    ``issuer`` is ``(ca_cert, ca_key)`` to sign the TSA certificate with; by default a fresh
    self-signed root is made and exposed as :attr:`root_cert` (add it as a timestamp anchor).
    """

    def __init__(
        self, issuer: tuple[x509.Certificate, Any] | None = None, *, name: str = "Test TSA"
    ) -> None:
        if issuer is None:
            issuer = _self_signed_root(f"{name} Root")
        self.root_cert: x509.Certificate = issuer[0]
        ca_cert, ca_key = issuer
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        der_key = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._stamper = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER)),
            tsa_key=asn1_keys.PrivateKeyInfo.load(der_key),
            certs_to_embed=[
                asn1_x509.Certificate.load(ca_cert.public_bytes(serialization.Encoding.DER))
            ],
        )
        self.available = True
        self.hits = 0
        self._server: LoopbackServer | None = None
        self._lock = threading.Lock()

    def start(self) -> TsaServer:
        server = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server.hits += 1
                ctype = self.headers.get("Content-Type", "")
                if not server.available:
                    self._answer(503, b"", "text/plain")
                    return
                if ctype != "application/timestamp-query":
                    self._answer(415, b"", "text/plain")
                    return
                try:
                    req = tsp.TimeStampReq.load(body)
                    with server._lock:
                        resp = server._stamper.request_tsa_response(req)
                except ValueError:
                    self._answer(400, b"", "text/plain")
                    return
                self._answer(200, resp.dump(), "application/timestamp-reply")

        self._server = LoopbackServer(Handler)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"{self._server.base_url}/tsa"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> TsaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
