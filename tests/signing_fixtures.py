"""Pytest plugin: the generated test PKI, its revocation server, key files, trust objects.

Loaded from ``tests/conftest.py`` (``pytest_plugins``). Everything is generated at test time
(:mod:`tests.pki`); nothing private is committed. Session scope: RSA-2048 generation is slow.

Fixtures:

* ``revocation_server`` — :class:`tests.pki.RevocationServer` on 127.0.0.1 (ephemeral port),
  serving the CRL and OCSP of ``pki``; reset to ``available = True`` for every test that
  uses ``pki_online``.
* ``pki`` — :class:`tests.pki.TestPki` whose leaf certificates point at that server.
* ``pki_online`` — the same PKI with the server guaranteed available (function scope).
* ``key_files`` — ``dict[str, Path]`` of PKCS#12/PEM files (see :func:`tests.pki.write_key_files`),
  password :data:`tests.pki.KEY_PASSWORD`.
* ``trust_store`` — :class:`signing.trust.TrustStore` of the PKI.
* ``make_trust_evaluator`` — factory ``(policy=None, **kw) -> TrustEvaluator``, a fresh cache
  each call.
* ``loaded_keys`` — ``dict[str, LoadedKey]`` for ``agency``, ``agency_ec``, ``person``,
  ``revoked`` (file keys, loaded once per session).

:func:`build_package` makes a small edoc package in the official SDK layout (default namespace
on the root, ``edXML:`` prefix on the envelope, ``AttachmentEncoded`` outside the envelope) of
about the requested size, so envelope tests do not depend on ``/work/shared``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from signing.keys import LoadedKey, load_key
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from tests.pki import KEY_PASSWORD, RevocationServer, TestPki, build_pki, write_key_files

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def build_package(
    *,
    size: int = 4096,
    sender: str = "000.00.31.H99",
    code: str = "123/STTTT-VP",
    sdk_signature: bool = False,
) -> bytes:
    """A well-formed edoc package of roughly ``size`` bytes (the attachment pads it).

    ``sdk_signature`` adds the SDK's edXML-namespace ``<Signature>`` with placeholder values.
    """
    sdk_sig = (
        """      <Signature>
        <SignedInfo>
          <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" />
          <SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1" />
          <Reference URI="">
            <Transforms>
              <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" />
            </Transforms>
            <DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1" />
            <DigestValue>FwgIqsSYJshUS2+wlOM61L+q7Aw=</DigestValue>
          </Reference>
        </SignedInfo>
        <SignatureValue>AAAA</SignatureValue>
        <KeyInfo><X509Data><X509Certificate>MIIFqTCCBJG</X509Certificate></X509Data></KeyInfo>
      </Signature>
"""
        if sdk_signature
        else ""
    )
    head = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{EDXML_NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{EDXML_NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
          <edXML:OrganId>{sender}</edXML:OrganId>
          <edXML:OrganName>Sở Thông tin và Truyền thông tỉnh Thử Nghiệm</edXML:OrganName>
        </edXML:From>
        <edXML:To>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
        </edXML:To>
        <edXML:DocumentId>{sender},2026/11/20,{code}</edXML:DocumentId>
        <edXML:Code><edXML:CodeNumber>123</edXML:CodeNumber></edXML:Code>
        <edXML:Subject>Về việc thử nghiệm chữ ký số trên gói tin</edXML:Subject>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader>
          <edXML:OrganId>{sender}</edXML:OrganId>
          <edXML:Timestamp>2026/11/20 08:00:00</edXML:Timestamp>
        </edXML:TraceHeader>
        <edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType></edXML:Bussiness>
      </edXML:TraceHeaderList>
{sdk_sig}    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference>
          <edXML:ContentId>cid:1</edXML:ContentId>
          <edXML:ContentType>application/pdf</edXML:ContentType>
          <edXML:AttachmentName>vanban.pdf</edXML:AttachmentName>
        </edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentId>cid:1</ContentId>
      <AttachmentName>vanban.pdf</AttachmentName>
      <ContentType>application/pdf</ContentType>
      <ContentTransferEncoded>"""
    tail = """</ContentTransferEncoded>
    </Attachment>
  </AttachmentEncoded>
</edXML>
"""
    body = head.encode()
    room = max(0, size - len(body) - len(tail) - 16)
    seed = hashlib.sha256(code.encode()).digest()
    raw = (seed * (room // 32 + 1))[: room * 3 // 4]
    return body + base64.b64encode(b"%PDF-1.7\n" + raw) + tail.encode()


@pytest.fixture(scope="session")
def revocation_server() -> Iterator[RevocationServer]:
    server = RevocationServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pki(revocation_server: RevocationServer) -> TestPki:
    built = build_pki(
        crl_url=revocation_server.crl_url,
        ocsp_url=revocation_server.ocsp_url,
        root_crl_url=revocation_server.root_crl_url,
    )
    revocation_server.pki = built
    return built


@pytest.fixture
def pki_online(pki: TestPki, revocation_server: RevocationServer) -> Iterator[TestPki]:
    revocation_server.available = True
    yield pki
    revocation_server.available = True


@pytest.fixture(scope="session")
def key_files(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_key_files(pki, tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def trust_store(pki: TestPki) -> TrustStore:
    return TrustStore.from_pem(pki.anchors_pem, pki.intermediates_pem)


@pytest.fixture
def make_trust_evaluator(
    trust_store: TrustStore,
) -> Callable[..., TrustEvaluator]:
    def make(policy: TrustPolicy | None = None, **kw: Any) -> TrustEvaluator:
        return TrustEvaluator(trust_store, policy or TrustPolicy(network_timeout=2.0), **kw)

    return make


@pytest.fixture(scope="session")
def loaded_keys(key_files: dict[str, Path]) -> Iterator[dict[str, LoadedKey]]:
    keys = {
        "agency": load_key(f"file:{key_files['agency.p12']}", pin=KEY_PASSWORD),
        "agency_ec": load_key(f"file:{key_files['agency_ec.pem']}"),
        "person": load_key(f"file:{key_files['person.p12']}", pin=KEY_PASSWORD),
        "revoked": load_key(f"file:{key_files['revoked.p12']}", pin=KEY_PASSWORD),
    }
    yield keys
    for key in keys.values():
        key.close()
