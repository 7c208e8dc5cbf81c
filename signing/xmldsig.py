"""Envelope XML-DSig: verify an edXML package's enveloped signature into a verdict; sign one.

Where the signature sits (edxml.md §6): ``edXML/edXMLEnvelope/edXMLHeader/Signature`` after
``MessageHeader``/``TraceHeaderList``; it is an *enveloped* signature over the whole ``edXML``
root (``Reference URI=""`` + the enveloped-signature transform), so ``AttachmentEncoded`` is
covered too. Appending a ``TraceHeader`` in transit changes the signed bytes: the hub verifies
the package *as received*, before it appends anything.

Contract of :meth:`SignatureVerifier.verify_envelope`: bytes (and optionally the tree the
hardened parser already made of them) in, a frozen :class:`~signing.verdicts.EnvelopeVerdict`
out. It raises only when it cannot look at all (:class:`hub.errors.XmlError` for bytes that are
not XML). signxml is the authority on the cryptography; this module decides *what must have
been signed* and refuses everything else:

* exactly one ``ds:Signature`` in the document, at the place above — a signature moved
  elsewhere, or a second one (signature wrapping, XSW), is ``unverifiable``;
* exactly one ``Reference``, with ``URI=""`` and only the enveloped-signature and C14N
  transforms — a reference to an ``Id`` (a copy of the header elsewhere) or an XPath/XSLT
  transform is ``unverifiable``;
* comments and processing instructions inside the document are refused when the signature's
  canonicalisation drops them: C14N without comments signs ``<a>x<!---->y</a>`` as ``xy``,
  while a reader taking ``.text`` sees ``x`` (the 2018 SAML comment-truncation attack);
* SHA-1 in the signature or digest method is ``weak_algorithm`` unless the sender's
  :class:`EnvelopePolicy` has ``allow_sha1`` (legacy SDK traffic uses rsa-sha1).

Performance (PERFORMANCE.md): signxml parses ~6× per verification and validates the
certificate chain each time unless a certificate is pinned. The chain is decided once per
certificate by :class:`signing.trust.TrustEvaluator` (cached with the revocation data's own
expiry) and signxml then verifies with that certificate pinned (``x509_cert``), given the tree
already parsed. Certificates are parsed once per distinct ``X509Certificate`` text.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cryptography import x509
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidDigest, InvalidInput, SignXMLException
from signxml.exceptions import InvalidSignature as SxInvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from hub import xmlsafe
from hub.errors import InternalError, XmlError
from signing.keys import LoadedKey
from signing.trust import (
    Fetcher,
    RevocationCache,
    TrustEvaluator,
    TrustPolicy,
    TrustStore,
    urllib_fetch,
)
from signing.verdicts import (
    EnvelopeStatus,
    EnvelopeVerdict,
    SignerIdentity,
    SubIndication,
    envelope_status_for,
)

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_DS = f"{{{DS_NS}}}"
_ED = f"{{{EDXML_NS}}}"
_ENVELOPED = SignatureConstructionMethod.enveloped.value
_C14N_NO_COMMENTS = frozenset(
    {
        CanonicalizationMethod.CANONICAL_XML_1_0.value,
        CanonicalizationMethod.CANONICAL_XML_1_1.value,
        CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value,
    }
)
_C14N_ALL = _C14N_NO_COMMENTS | {
    CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS.value,
    CanonicalizationMethod.CANONICAL_XML_1_1_WITH_COMMENTS.value,
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value,
}
#: signxml's location path (relative to the root) of the one place a signature may be.
_LOCATION = f"./{_ED}edXMLEnvelope/{_ED}edXMLHeader/"

#: The parser signxml is given for the received bytes: the same protections as
#: :mod:`hub.xmlsafe` (which has already accepted these bytes: prolog, size, encoding).
_SIGNXML_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
    collect_ids=False,
)

_STRONG_SIG = frozenset(
    sm for sm in SignatureMethod if "SHA1" not in sm.name and "HMAC" not in sm.name
)
_SHA1_SIG = frozenset(sm for sm in SignatureMethod if "SHA1" in sm.name and "HMAC" not in sm.name)
_STRONG_DIGEST = frozenset(da for da in DigestAlgorithm if "SHA1" not in da.name)


@dataclass(frozen=True)
class EnvelopePolicy:
    """What one sending agency's envelope signatures must satisfy."""

    require_signature: bool = False
    """Refuse packages whose envelope verdict is not ``valid`` (absent and unverifiable
    included). Off by default: edxml.md §6 — real SDK output is rarely a usable signature."""
    allow_sha1: bool = False
    """Accept rsa-sha1 / sha1 (legacy SDK traffic). Off: such signatures are
    ``weak_algorithm``."""
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    """How the signer certificate earns trust (revocation, grace, clock skew)."""


@dataclass(frozen=True)
class PolicySet:
    """One :class:`EnvelopePolicy` per sending agency code, and a default for the others."""

    default: EnvelopePolicy = field(default_factory=EnvelopePolicy)
    """The policy of every agency not listed."""
    by_sender: Mapping[str, EnvelopePolicy] = field(default_factory=dict)
    """Agency identifier code (mã định danh, e.g. ``000.00.31.H99``) → its policy."""

    def for_sender(self, code: str) -> EnvelopePolicy:
        """The policy for the agency ``code`` (the default when it has none of its own)."""
        return self.by_sender.get(code, self.default)

    def __hash__(self) -> int:
        return hash((self.default, tuple(sorted(self.by_sender.items()))))


@dataclass(frozen=True)
class _CertInfo:
    cert: x509.Certificate
    identity: SignerIdentity
    extra: tuple[x509.Certificate, ...]

    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint


def _verdict(status: EnvelopeStatus, en: str, vi: str, **kw: Any) -> EnvelopeVerdict:
    return EnvelopeVerdict.make(status, en, vi, **kw)


class SignatureVerifier:
    """Verifies envelope signatures for the hub (wired by the composition root; keep one).

    Thread-safe. Holds one :class:`TrustEvaluator` per distinct :class:`TrustPolicy` (sharing one
    revocation cache) and a parsed-certificate cache.
    """

    def __init__(
        self,
        store: TrustStore,
        policies: PolicySet | None = None,
        *,
        fetch: Fetcher = urllib_fetch,
        revocation_cache: RevocationCache | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store = store
        self.policies = policies or PolicySet()
        self._fetch = fetch
        self._revocation_cache = revocation_cache or RevocationCache()
        self._clock = clock
        self._evaluators: dict[TrustPolicy, TrustEvaluator] = {}
        self._certs: dict[tuple[str, ...], _CertInfo] = {}
        self._lock = threading.Lock()

    def evaluator(self, policy: TrustPolicy) -> TrustEvaluator:
        """The (cached) trust evaluator for ``policy``."""
        with self._lock:
            ev = self._evaluators.get(policy)
            if ev is None:
                ev = TrustEvaluator(
                    self.store,
                    policy,
                    fetch=self._fetch,
                    cache=self._revocation_cache,
                    clock=self._clock,
                )
                self._evaluators[policy] = ev
            return ev

    def accepts(self, verdict: EnvelopeVerdict, sender: str) -> bool:
        """Whether the sender's policy lets a package with ``verdict`` through."""
        if verdict.bottom_line:
            return True
        if self.policies.for_sender(sender).require_signature:
            return False
        # Without a requirement, only a missing or non-XML-DSig signature is tolerated: a real
        # signature that fails is a tampered or forged package.
        return not verdict.xmldsig_present

    def verify_envelope(
        self, data: bytes, sender: str, root: etree._Element | None = None
    ) -> EnvelopeVerdict:
        """The verdict on the envelope signature of ``data`` as received, under ``sender``'s policy.

        ``root`` is the tree :func:`hub.xmlsafe.parse` made of exactly these bytes, when the
        caller has it (saves a parse); it must not have been modified.
        """
        policy = self.policies.for_sender(sender)
        if root is None:
            # No size cap of its own: the caller admitted these bytes under the one package
            # limit (``limits.max_package_bytes``). libxml2's safety limits stay on, so a
            # signed package whose attachment text exceeds them is a verdict, not a refusal.
            try:
                root = xmlsafe.parse(data, max_bytes=len(data))
            except XmlError as exc:
                if exc.code != "xml.limit":
                    raise
                return _verdict(
                    EnvelopeStatus.UNVERIFIABLE,
                    f"the package cannot be loaded for signature verification: {exc.message_en}",
                    f"không nạp được gói tin để kiểm tra chữ ký: {exc.message_vi}",
                )
        sigs = list(root.iter(f"{_DS}Signature"))
        if not sigs:
            if any(
                isinstance(el.tag, str) and etree.QName(el).localname == "Signature"
                for el in root.iter()
            ):
                return _verdict(
                    EnvelopeStatus.UNVERIFIABLE,
                    "the Signature element is not in the XML-DSig namespace (SDK layout); "
                    "it cannot be verified",
                    "phần tử Signature không thuộc không gian tên XML-DSig (định dạng của SDK); "
                    "không thể kiểm tra",
                    xmldsig_present=False,
                )
            return _verdict(
                EnvelopeStatus.ABSENT,
                "no envelope signature",
                "gói tin không có chữ ký",
                xmldsig_present=False,
            )
        if len(sigs) > 1:
            return _verdict(
                EnvelopeStatus.UNVERIFIABLE,
                f"{len(sigs)} XML-DSig signatures in the package; exactly one is allowed",
                f"gói tin có {len(sigs)} chữ ký XML-DSig; chỉ được phép một",
            )
        sig = sigs[0]
        parts = _read_signature(sig)
        problem = _check_shape(root, sig, parts)
        if problem is not None:
            return _verdict(EnvelopeStatus.UNVERIFIABLE, *problem)
        sm_uri, dm_uri = parts.signature_method, parts.digest_method
        algs = {"signature_algorithm": sm_uri, "digest_algorithm": dm_uri}
        sm, dm = _SIG_METHODS.get(sm_uri or ""), _DIGESTS.get(dm_uri or "")
        if sm is None or dm is None:
            return _verdict(
                EnvelopeStatus.UNVERIFIABLE,
                "unknown signature or digest algorithm",
                "thuật toán ký hoặc băm không được hỗ trợ",
                **algs,
                subindication=SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            )
        if sm.name.startswith(("HMAC", "DSA")):
            return _verdict(
                EnvelopeStatus.UNVERIFIABLE,
                f"signature method {sm.name} is not accepted",
                f"không chấp nhận phương thức ký {sm.name}",
                **algs,
                subindication=SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            )
        if ("SHA1" in sm.name or dm is DigestAlgorithm.SHA1) and not policy.allow_sha1:
            return _verdict(
                EnvelopeStatus.WEAK_ALGORITHM,
                "SHA-1 signatures are refused for this sender",
                "không chấp nhận chữ ký dùng SHA-1 đối với đơn vị gửi này",
                **algs,
            )
        info = self._cert_info(parts.cert_texts)
        if info is None:
            return _verdict(
                EnvelopeStatus.UNVERIFIABLE,
                "the signature carries no readable X.509 certificate",
                "chữ ký không kèm chứng thư số X.509 đọc được",
                **algs,
                subindication=SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            )
        cert = info.cert
        # signxml checks the pinned certificate's validity period; time validity is a trust
        # question answered below, so let signxml judge the cryptography at a time inside it.
        now = self._clock()
        at = min(max(now, cert.not_valid_before_utc), cert.not_valid_after_utc)
        config = _config(policy.allow_sha1, None if at == now else at)
        who = {"signer": info.identity, **algs}
        try:
            # The received bytes are the authority (the tree is only used for the checks above):
            # signxml parses them itself, which also spares it re-serialising our tree.
            result: Any = _Verifier().verify(
                data, x509_cert=cert, expect_config=config, parser=_SIGNXML_PARSER
            )
        except InvalidDigest:
            return _verdict(
                EnvelopeStatus.DIGEST_MISMATCH,
                "the package changed after it was signed (digest mismatch)",
                "nội dung gói tin đã bị thay đổi sau khi ký (sai giá trị băm)",
                **who,
            )
        except SxInvalidSignature as exc:
            return _verdict(
                EnvelopeStatus.BAD_SIGNATURE,
                f"the signature value does not verify with the certificate's key: {exc}",
                "giá trị chữ ký không khớp với khóa công khai của chứng thư",
                **who,
            )
        except (SignXMLException, ValueError, etree.Error, binascii.Error) as exc:
            return _verdict(
                EnvelopeStatus.UNVERIFIABLE,
                f"the signature is malformed: {exc}",
                f"chữ ký không đúng cấu trúc: {exc}",
                **who,
            )
        signed_root = result.signed_xml
        if signed_root is None or signed_root.tag != root.tag:
            return _verdict(
                EnvelopeStatus.UNVERIFIABLE,
                "the signature does not cover the whole edXML document",
                "chữ ký không bao trùm toàn bộ tài liệu edXML",
                **who,
            )
        trust = self.evaluator(policy.trust).evaluate(
            cert, info.extra, fingerprint=info.fingerprint
        )
        status = envelope_status_for(trust.status)
        digest = hashlib.sha256(result.signed_data).hexdigest()
        if status is EnvelopeStatus.VALID:
            return _verdict(status, "", "", trust=trust, signed_c14n_sha256=digest, **who)
        en, vi = _TRUST_PROBLEMS[status]
        return _verdict(status, f"{en} ({trust.detail})", vi, trust=trust, **who)

    def _cert_info(self, texts: tuple[str, ...]) -> _CertInfo | None:
        """The signer certificate among the X509Certificate texts, parsed once per text."""
        if not texts:
            return None
        hit = self._certs.get(texts)
        if hit is not None:
            return hit
        try:
            certs = [
                x509.load_der_x509_certificate(base64.b64decode("".join(t.split()), validate=True))
                for t in texts
            ]
        except (ValueError, binascii.Error):
            return None
        # The signer is the certificate no other one in X509Data was issued by... i.e. the one
        # that is not the issuer of another (XML-DSig 1.1 §4.5.4 implies no order).
        subjects_issuing = {c.issuer for c in certs if c.issuer != c.subject}
        leafs = [c for c in certs if c.subject not in subjects_issuing] or certs
        leaf = leafs[0]
        info = _CertInfo(
            leaf, SignerIdentity.from_certificate(leaf), tuple(c for c in certs if c is not leaf)
        )
        with self._lock:
            if len(self._certs) > 10_000:
                self._certs.clear()
            self._certs[texts] = info
        return info


_TRUST_PROBLEMS: dict[EnvelopeStatus, tuple[str, str]] = {
    EnvelopeStatus.UNTRUSTED: (
        "the signer's certificate does not chain to a trusted CA",
        "chứng thư của người ký không thuộc tổ chức chứng thực được tin cậy",
    ),
    EnvelopeStatus.EXPIRED: (
        "the signer's certificate has expired",
        "chứng thư của người ký đã hết hạn",
    ),
    EnvelopeStatus.NOT_YET_VALID: (
        "the signer's certificate is not valid yet",
        "chứng thư của người ký chưa có hiệu lực",
    ),
    EnvelopeStatus.REVOKED: (
        "the signer's certificate, or a CA certificate of its chain, is revoked",
        "chứng thư của người ký, hoặc chứng thư của tổ chức cấp trong chuỗi, đã bị thu hồi",
    ),
    EnvelopeStatus.UNKNOWN_REVOCATION: (
        "the revocation status of the signer's certificate cannot be established",
        "không xác định được tình trạng thu hồi của chứng thư người ký",
    ),
}


_SIGNED_INFO = f"{_DS}SignedInfo"
_SIGNATURE_METHOD = f"{_DS}SignatureMethod"
_REFERENCE = f"{_DS}Reference"
_TRANSFORMS = f"{_DS}Transforms"
_TRANSFORM = f"{_DS}Transform"
_DIGEST_METHOD = f"{_DS}DigestMethod"
_KEY_INFO = f"{_DS}KeyInfo"
_X509_DATA = f"{_DS}X509Data"
_X509_CERTIFICATE = f"{_DS}X509Certificate"
_EDXML_ROOT = f"{_ED}edXML"
_EDXML_HEADER = f"{_ED}edXMLHeader"
_EDXML_ENVELOPE = f"{_ED}edXMLEnvelope"
_SIG_METHODS = {sm.value: sm for sm in SignatureMethod}
_DIGESTS = {da.value: da for da in DigestAlgorithm}


@functools.lru_cache(maxsize=4)
def _base_config(allow_sha1: bool) -> SignatureConfiguration:
    return SignatureConfiguration(
        location=_LOCATION,
        expect_references=1,
        signature_methods=_STRONG_SIG | (_SHA1_SIG if allow_sha1 else frozenset()),
        digest_algorithms=_STRONG_DIGEST
        | (frozenset({DigestAlgorithm.SHA1}) if allow_sha1 else frozenset()),
    )


def _config(allow_sha1: bool, at: dt.datetime | None) -> SignatureConfiguration:
    base = _base_config(allow_sha1)
    return base if at is None else dataclasses.replace(base, verification_time=at)


class _Verifier(XMLVerifier):
    """signxml's verifier, with the certificate description (used only in messages, but built
    on every call from the subject DN — ≈ 50 µs) computed once per certificate."""

    _descriptions: ClassVar[dict[tuple[int, str], tuple[x509.Certificate, str]]] = {}

    def _get_cert_description(self, cert: x509.Certificate, cert_source: str) -> str:
        key = (id(cert), cert_source)
        hit = self._descriptions.get(key)
        if hit is not None and hit[0] is cert:
            return hit[1]
        text = str(super()._get_cert_description(cert, cert_source))  # type: ignore[no-untyped-call]
        if len(self._descriptions) > 4096:
            self._descriptions.clear()
        self._descriptions[key] = (cert, text)
        return text

    def _fromstring(self, xml_string: Any, **kwargs: Any) -> etree._Element:
        """signxml's parse without its walk over every node looking for entity references.

        Every input here either passed :func:`hub.xmlsafe.parse` (no DOCTYPE, so no entity can
        be declared, and an undeclared reference is a well-formedness error) or is signxml's own
        serialisation of such a tree; the DTD check is kept. signxml parses ≈ 6 times per
        verification, so the walk cost ≈ 25 % of a 4 KB verification (PERFORMANCE.md).
        """
        node: etree._Element = etree.fromstring(xml_string, parser=self.parser, **kwargs)
        docinfo = node.getroottree().docinfo
        if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise InvalidInput("DTD declarations are not supported in XML input")
        return node


def _has_unsigned_nodes(root: etree._Element) -> bool:
    return any(node is not root for node in root.iter(etree.Comment, etree.PI))


@dataclass(frozen=True)
class _SigParts:
    """What the checks need from a ``ds:Signature``, read in one walk over its few children."""

    refs: tuple[etree._Element, ...]
    transforms: tuple[str | None, ...]
    signature_method: str | None
    digest_method: str | None
    cert_texts: tuple[str, ...]


def _read_signature(sig: etree._Element) -> _SigParts:
    refs: list[etree._Element] = []
    transforms: list[str | None] = []
    sm = dm = None
    certs: list[str] = []
    for part in sig:
        if part.tag == _SIGNED_INFO:
            for item in part:
                if item.tag == _SIGNATURE_METHOD:
                    sm = item.get("Algorithm")
                elif item.tag == _REFERENCE:
                    refs.append(item)
        elif part.tag == _KEY_INFO:
            for data in part.iterchildren(_X509_DATA):
                certs.extend(c.text or "" for c in data.iterchildren(_X509_CERTIFICATE))
    if refs:
        for item in refs[0]:
            if item.tag == _TRANSFORMS:
                transforms.extend(t.get("Algorithm") for t in item.iterchildren(_TRANSFORM))
            elif item.tag == _DIGEST_METHOD:
                dm = item.get("Algorithm")
    return _SigParts(tuple(refs), tuple(transforms), sm, dm, tuple(certs))


def _check_shape(
    root: etree._Element, sig: etree._Element, parts: _SigParts
) -> tuple[str, str] | None:
    """Why the signature cannot be a whole-envelope signature, or None when its shape is right."""
    header = sig.getparent()
    envelope = header.getparent() if header is not None else None
    if (
        root.tag != _EDXML_ROOT
        or header is None
        or header.tag != _EDXML_HEADER
        or envelope is None
        or envelope.tag != _EDXML_ENVELOPE
        or envelope.getparent() is not root
    ):
        return (
            "the signature is not where edXML puts it (edXML/edXMLEnvelope/edXMLHeader)",
            "chữ ký không nằm đúng vị trí quy định (edXML/edXMLEnvelope/edXMLHeader)",
        )
    if len(parts.refs) != 1 or parts.refs[0].get("URI") != "":
        return (
            'the signature must have exactly one Reference with URI="" (the whole document)',
            'chữ ký phải có đúng một Reference với URI="" (toàn bộ tài liệu)',
        )
    transforms = parts.transforms
    if _ENVELOPED not in transforms or any(
        t != _ENVELOPED and t not in _C14N_ALL for t in transforms
    ):
        return (
            "the reference must use the enveloped-signature transform and nothing but C14N",
            "Reference phải dùng phép biến đổi enveloped-signature và chỉ C14N",
        )
    c14n = [t for t in transforms if t != _ENVELOPED]
    drops_comments = not c14n or c14n[-1] in _C14N_NO_COMMENTS
    if drops_comments and _has_unsigned_nodes(root):
        return (
            "comments or processing instructions inside the document are not covered by the "
            "signature",
            "chú thích hoặc chỉ thị xử lý trong tài liệu không được chữ ký bảo vệ",
        )
    return None


def sign_envelope(
    package: bytes | etree._Element,
    key: LoadedKey,
    *,
    digest: str = "sha256",
    include_chain: bool = True,
) -> bytes:
    """Sign a package: an enveloped XML-DSig over the whole ``edXML`` root.

    The ``ds:Signature`` (RSA-SHA256, or ECDSA-SHA256 for EC keys; C14N 1.0; X.509 certificate
    and chain in ``KeyInfo``) is placed in ``edXMLHeader`` after ``MessageHeader`` /
    ``TraceHeaderList``. An existing ``Signature`` in the header (the SDK's edXML-namespace
    placeholder, or an older signature) is replaced. Returns the serialised UTF-8 document.
    """
    root = xmlsafe.parse(package) if isinstance(package, bytes) else _copy(package)
    header = root.find(f"{_ED}edXMLEnvelope/{_ED}edXMLHeader")
    if header is None:
        raise InternalError(
            "cannot sign: the package has no edXMLEnvelope/edXMLHeader",
            message_vi="không thể ký: gói tin thiếu edXMLEnvelope/edXMLHeader",
            code="signing.no_header",
        )
    for old in [
        c for c in header if isinstance(c.tag, str) and etree.QName(c).localname == "Signature"
    ]:
        header.remove(old)
    for old in root.iter(f"{_DS}Signature"):
        raise InternalError(
            "cannot sign: the package already carries an XML-DSig signature elsewhere",
            message_vi="không thể ký: gói tin đã có chữ ký XML-DSig ở vị trí khác",
            code="signing.existing_signature",
            path=str(old.getroottree().getpath(old)),
        )
    placeholder = etree.SubElement(header, f"{_DS}Signature", nsmap={"ds": DS_NS}, Id="placeholder")
    anchor = [
        c
        for c in header
        if isinstance(c.tag, str)
        and etree.QName(c).localname in ("MessageHeader", "TraceHeaderList")
    ]
    if anchor:
        anchor[-1].addnext(placeholder)
    hash_part = digest.upper().replace("-", "")
    method = SignatureMethod[f"{'ECDSA' if key.is_ec else 'RSA'}_{hash_part}"]
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm[hash_part],
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    certs = [key.certificate, *(key.chain if include_chain else ())]
    try:
        signed = signer.sign(root, key=key.signxml_key(), cert=certs)
    except SignXMLException as exc:
        raise InternalError(f"XML signing failed: {exc}", code="signing.failed") from exc
    out: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return out


def _copy(root: etree._Element) -> etree._Element:
    return xmlsafe.parse(etree.tostring(root))
