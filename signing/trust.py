"""Trust in signer certificates: anchors, chains, CRL/OCSP revocation, one cached decision each.

Contract: :meth:`TrustEvaluator.evaluate` takes a signer certificate (plus intermediates the
signature carried) and returns a frozen :class:`~signing.verdicts.TrustStatus`; it never raises
for a bad certificate. Decisions are cached by the certificate's SHA-256 fingerprint until the
earliest of: the revocation data's own ``nextUpdate`` (+ grace), the certificate's
``notAfter``, and :attr:`TrustPolicy.decision_ttl` — chain building and revocation dominate
verification cost (PERFORMANCE.md), so each distinct signer is examined once per period.

Hazards and what this module does about them:

* **Isolated networks.** Agencies on the specialised data network ("mạng truyền số liệu chuyên
  dùng") often cannot reach a CA. Revocation data (CRL files given in the policy, or CRLs and
  OCSP answers fetched earlier) stays usable for :attr:`TrustPolicy.revocation_grace` past its
  ``nextUpdate``; the status then says ``revocation_stale`` and how old the data is.
* **Clock skew.** Validity periods are checked with :attr:`TrustPolicy.clock_skew` tolerance
  (sender clocks and ours disagree by minutes; Nghị định 130/2018 Art. 9 only requires the
  certificate to be valid at signing time, which the envelope cannot prove).
* **Chain building** is delegated to ``cryptography.x509.verification`` (RFC 5280 path
  validation, web-PKI CA rules) with an end-entity policy that only requires ``KeyUsage``
  ``digitalSignature`` or ``nonRepudiation`` — government signing certificates carry no SAN.
* **Revocation** is checked for the end-entity certificate and, unless
  :attr:`TrustPolicy.check_ca_revocation` is off, for every intermediate CA up to the anchor
  (OCSP first when the policy prefers it and the certificate names a responder, then CRL). A
  revoked link makes the decision ``revoked``; a link without usable data makes it
  ``unknown_revocation`` when revocation is required. An OCSP answer must be signed by the
  issuer or by a responder certificate the issuer issued with the OCSPSigning EKU (RFC 6960
  §4.2.2.2). A CRL must be signed by the issuer.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from hub.errors import KeyAccessError
from signing.verdicts import RevocationSource, Trust, TrustStatus

UTC = dt.UTC

#: ``fetch(url, body_or_None, content_type, timeout) -> bytes``; raises ``OSError`` on failure.
Fetcher = Callable[[str, bytes | None, str, float], bytes]


def urllib_fetch(url: str, body: bytes | None, content_type: str, timeout: float) -> bytes:
    """Fetch ``url`` (GET, or POST of ``body``) with a timeout; only http(s) URLs are followed."""
    if not url.lower().startswith(("http://", "https://")):
        raise OSError(f"refusing to fetch non-HTTP revocation URL {url!r}")
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")  # noqa: S310
    if body is not None:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked above)
        data: bytes = resp.read(16 * 1024 * 1024)
        return data


@dataclass(frozen=True)
class TrustPolicy:
    """How a signer certificate earns trust. Defaults are the safe ones."""

    check_revocation: bool = True
    """Look for revocation data (OCSP, CRL) at all."""
    require_revocation: bool = True
    """With no usable revocation data, answer ``unknown_revocation`` instead of ``trusted``."""
    prefer_ocsp: bool = True
    """Ask the OCSP responder named in the certificate before the CRL."""
    allow_network: bool = True
    """Fetch CRLs / OCSP from the URLs in the certificate. Off: only :attr:`crl_files` and the
    revocation cache are used (isolated network)."""
    revocation_grace: dt.timedelta = dt.timedelta(days=3)
    """How long past its ``nextUpdate`` revocation data is still used when no fresh data can be
    fetched; the status is then marked stale with its age."""
    clock_skew: dt.timedelta = dt.timedelta(minutes=5)
    """Tolerance on certificate validity periods (and on revocation ``thisUpdate``)."""
    network_timeout: float = 5.0
    """Seconds per CRL / OCSP fetch."""
    decision_ttl: dt.timedelta = dt.timedelta(hours=1)
    """Longest time a trust decision is reused, whatever the revocation data says."""
    crl_files: tuple[Path, ...] = ()
    """CRL files (DER or PEM) loaded at start: the isolated network's revocation source."""
    check_ca_revocation: bool = True
    """Check the intermediate CA certificates for revocation too (their issuer's CRL or OCSP,
    under the same rules as the signer's). Off: intermediates are trusted as configured."""


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    """All certificates in a PEM bundle (an empty bundle is an empty list)."""
    return x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else []


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors and known intermediates (from PEM bundles)."""

    anchors: tuple[x509.Certificate, ...]
    """Self-signed roots that end a chain (e.g. the government root CA)."""
    intermediates: tuple[x509.Certificate, ...] = ()
    """Sub-CAs offered to the chain builder in addition to those a signature carries."""

    @classmethod
    def from_pem(cls, anchors: bytes, intermediates: bytes = b"") -> TrustStore:
        found = load_pem_bundle(anchors)
        if not found:
            raise KeyAccessError(
                "the trust anchor bundle holds no certificate",
                message_vi="tệp chứng thư gốc tin cậy không chứa chứng thư nào",
                code="trust.no_anchor",
            )
        return cls(tuple(found), tuple(load_pem_bundle(intermediates)))

    @classmethod
    def from_files(cls, anchors: Path, intermediates: Iterable[Path] = ()) -> TrustStore:
        inter = b"".join(p.read_bytes() for p in intermediates)
        return cls.from_pem(anchors.read_bytes(), inter)

    def issuer_of(
        self, cert: x509.Certificate, extra: Sequence[x509.Certificate] = ()
    ) -> x509.Certificate | None:
        """The certificate among anchors/intermediates/``extra`` that signed ``cert``."""
        for cand in (*extra, *self.intermediates, *self.anchors):
            if cand.subject == cert.issuer:
                try:
                    cert.verify_directly_issued_by(cand)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                return cand
        return None


def _key_usage_ok(policy: object, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    if ku is None or not (ku.digital_signature or ku.content_commitment):
        raise ValueError("KeyUsage allows neither digitalSignature nor nonRepudiation")


_EE_POLICY = ExtensionPolicy.permit_all().require_present(
    x509.KeyUsage, Criticality.AGNOSTIC, _key_usage_ok
)
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca()


@dataclass(frozen=True)
class _Revocation:
    """One revocation answer for one certificate."""

    source: RevocationSource
    revoked: bool
    revoked_at: dt.datetime | None
    this_update: dt.datetime
    next_update: dt.datetime | None


@dataclass
class RevocationCache:
    """CRLs by issuer and OCSP answers by (issuer, serial), kept across decisions.

    In memory; the composition root keeps one per process. It is what lets an isolated hub keep
    answering on data fetched earlier (within the grace period).
    """

    crls: dict[bytes, x509.CertificateRevocationList] = field(default_factory=dict)
    ocsp: dict[tuple[bytes, int], _Revocation] = field(default_factory=dict)

    def add_crl(self, crl: x509.CertificateRevocationList) -> None:
        key = crl.issuer.public_bytes()
        old = self.crls.get(key)
        if old is None or crl.last_update_utc >= old.last_update_utc:
            self.crls[key] = crl


class TrustEvaluator:
    """Answers "is this signer certificate trusted now?" with a per-fingerprint cache.

    Thread-safe; keep one per (trust store, policy) alive for the process.
    """

    def __init__(
        self,
        store: TrustStore,
        policy: TrustPolicy | None = None,
        *,
        fetch: Fetcher = urllib_fetch,
        cache: RevocationCache | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
    ) -> None:
        self.store = store
        self.policy = policy or TrustPolicy()
        self._fetch = fetch
        self.revocation_cache = cache or RevocationCache()
        self._clock = clock
        self._decisions: dict[str, tuple[dt.datetime, TrustStatus]] = {}
        self._lock = threading.Lock()
        # An empty anchor set is legal (a hub not yet given the CA chain): nothing is trusted.
        self._x509_store = Store(list(store.anchors)) if store.anchors else None
        for path in self.policy.crl_files:
            self.revocation_cache.add_crl(_load_crl(path.read_bytes()))

    def clear(self) -> None:
        """Forget every cached decision (revocation data is kept)."""
        with self._lock:
            self._decisions.clear()

    def evaluate(
        self,
        cert: x509.Certificate,
        extra_intermediates: Sequence[x509.Certificate] = (),
        *,
        fingerprint: str | None = None,
    ) -> TrustStatus:
        """The trust decision for ``cert`` now, from the cache when still fresh.

        ``fingerprint`` (SHA-256 hex of the DER) may be passed by a caller that has it already.
        """
        fp = fingerprint or cert.fingerprint(hashes.SHA256()).hex()
        now = self._clock()
        with self._lock:
            hit = self._decisions.get(fp)
        if hit is not None and now < hit[0]:
            return hit[1]
        status, expires = self._decide(cert, extra_intermediates, now)
        with self._lock:
            self._decisions[fp] = (expires, status)
        return status

    # -- the decision ------------------------------------------------------------------------

    def _decide(
        self, cert: x509.Certificate, extra: Sequence[x509.Certificate], now: dt.datetime
    ) -> tuple[TrustStatus, dt.datetime]:
        pol = self.policy
        ttl_end = now + pol.decision_ttl
        nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
        # Build the chain at a time inside the leaf's validity, so an expired but genuine
        # certificate is reported as "expired", not as "untrusted".
        at = min(max(now, nb), na)
        if self._x509_store is None:
            st = TrustStatus(Trust.UNTRUSTED, now, detail="no trust anchor is configured")
            return st, ttl_end
        try:
            chain = self._chain(self._x509_store, cert, extra, at)
        except (VerificationError, ValueError) as exc:
            st = TrustStatus(Trust.UNTRUSTED, now, detail=f"no trusted chain: {exc}")
            return st, ttl_end
        subjects = tuple(c.subject.rfc4514_string() for c in chain)
        if now + pol.clock_skew < nb:
            st = TrustStatus(Trust.NOT_YET_VALID, now, chain=subjects, detail=f"valid from {nb}")
            return st, min(ttl_end, nb - pol.clock_skew)
        if now - pol.clock_skew > na:
            st = TrustStatus(Trust.EXPIRED, now, chain=subjects, detail=f"expired at {na}")
            return st, ttl_end
        expires = min(ttl_end, na + pol.clock_skew)
        if not pol.check_revocation:
            return TrustStatus(
                Trust.TRUSTED, now, chain=subjects, detail="revocation not checked"
            ), expires
        # Revocation of every link below the anchor: the signer, then each intermediate CA
        # (a revoked sub-CA revokes everything it issued, RFC 5280 §6.3).
        links = list(itertools.pairwise(chain))
        if not pol.check_ca_revocation:
            links = links[:1]
        leaf_rev: _Revocation | None = None
        unknown: x509.Certificate | None = None
        stale = False
        for n, (subject_cert, issuer) in enumerate(links):
            rev = self._revocation(subject_cert, issuer, now)
            if rev is None:
                unknown = unknown or subject_cert
                continue
            if n == 0:
                leaf_rev = rev
            link_stale = rev.next_update is not None and now > rev.next_update
            stale |= link_stale
            if rev.next_update is not None:
                limit = rev.next_update + (pol.revocation_grace if link_stale else dt.timedelta(0))
                expires = min(expires, limit)
            if rev.revoked:
                what = "signer certificate" if n == 0 else f"CA certificate {subjects[n]}"
                return TrustStatus(
                    Trust.REVOKED,
                    now,
                    revocation_source=rev.source,
                    revocation_produced_at=rev.this_update,
                    revocation_stale=link_stale,
                    revoked_at=rev.revoked_at,
                    chain=subjects,
                    detail=f"{what} revoked ({rev.source.value})",
                ), expires
        if stale:
            expires = min(expires, now + dt.timedelta(minutes=5))
        if unknown is not None and pol.require_revocation:
            whose = "the signer" if unknown is cert else unknown.subject.rfc4514_string()
            st = TrustStatus(
                Trust.UNKNOWN_REVOCATION,
                now,
                chain=subjects,
                detail=f"no usable CRL or OCSP answer for {whose} (none reachable or all too old)",
            )
            # Retry soon: the network may come back.
            return st, min(expires, now + dt.timedelta(minutes=5))
        if leaf_rev is None:
            return TrustStatus(
                Trust.TRUSTED, now, chain=subjects, detail="no revocation data"
            ), expires
        age = now - leaf_rev.this_update
        return (
            TrustStatus(
                Trust.TRUSTED,
                now,
                revocation_source=leaf_rev.source,
                revocation_produced_at=leaf_rev.this_update,
                revocation_stale=stale,
                chain=subjects,
                detail=f"{leaf_rev.source.value} data {int(age.total_seconds())} s old"
                + (" (stale, inside the grace period)" if stale else ""),
            ),
            expires,
        )

    def _chain(
        self,
        store: Store,
        cert: x509.Certificate,
        extra: Sequence[x509.Certificate],
        at: dt.datetime,
    ) -> list[x509.Certificate]:
        """The chain from ``cert`` to an anchor, valid at ``at`` (RFC 5280 path validation);
        raises ``VerificationError`` / ``ValueError`` when there is none."""
        verifier = (
            PolicyBuilder()
            .store(store)
            .time(at)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
            .build_client_verifier()
        )
        return list(verifier.verify(cert, [*extra, *self.store.intermediates]).chain)

    def crls_for_chain(
        self, cert: x509.Certificate, extra: Sequence[x509.Certificate] = ()
    ) -> list[x509.CertificateRevocationList]:
        """The CRL of every issuer on ``cert``'s chain, fetched into the cache when allowed.

        For validators that judge the chain themselves (:mod:`signing.poe`): the revocation
        data still comes through this evaluator's cache, CRL files and fetch policy. Issuers
        whose CRL cannot be had are left out; the validator decides what that means.
        """
        if self._x509_store is None:
            return []
        at = min(max(self._clock(), cert.not_valid_before_utc), cert.not_valid_after_utc)
        try:
            chain = self._chain(self._x509_store, cert, extra, at)
        except (VerificationError, ValueError):
            return []
        now = self._clock()
        found: list[x509.CertificateRevocationList] = []
        for subject_cert, issuer in itertools.pairwise(chain):
            self._crl(subject_cert, issuer, _urls(subject_cert)[1], now)  # fills the cache
            crl = self.revocation_cache.crls.get(issuer.subject.public_bytes())
            if crl is not None and crl not in found:
                found.append(crl)
        return found

    def _usable(self, next_update: dt.datetime | None, now: dt.datetime, grace: bool) -> bool:
        if next_update is None:
            return True
        return now <= next_update + (self.policy.revocation_grace if grace else dt.timedelta(0))

    def _revocation(
        self, cert: x509.Certificate, issuer: x509.Certificate, now: dt.datetime
    ) -> _Revocation | None:
        """Fresh data first (cache, then network), then anything still inside the grace period."""
        ocsp_urls, crl_urls = _urls(cert)
        key = (issuer.fingerprint(hashes.SHA256()), cert.serial_number)
        order: list[Callable[[], _Revocation | None]] = []
        ocsp_step = lambda: self._ocsp(cert, issuer, ocsp_urls, key, now)  # noqa: E731
        crl_step = lambda: self._crl(cert, issuer, crl_urls, now)  # noqa: E731
        order = [ocsp_step, crl_step] if self.policy.prefer_ocsp else [crl_step, ocsp_step]
        for step in order:
            found = step()
            if found is not None and self._usable(found.next_update, now, grace=False):
                return found
        # Nothing fresh: fall back to cached data inside the grace period (isolated network).
        cached = self.revocation_cache.ocsp.get(key)
        if cached is not None and self._usable(cached.next_update, now, grace=True):
            return cached
        crl = self.revocation_cache.crls.get(issuer.subject.public_bytes())
        if crl is not None and self._usable(crl.next_update_utc, now, grace=True):
            return _from_crl(crl, cert)
        return None

    def _ocsp(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        urls: list[str],
        key: tuple[bytes, int],
        now: dt.datetime,
    ) -> _Revocation | None:
        cached = self.revocation_cache.ocsp.get(key)
        if cached is not None and self._usable(cached.next_update, now, grace=False):
            return cached
        if not self.policy.allow_network:
            return None
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()  # noqa: S303 (RFC 6960 CertID)
        body = req.public_bytes(serialization.Encoding.DER)
        for url in urls:
            try:
                raw = self._fetch(
                    url, body, "application/ocsp-request", self.policy.network_timeout
                )
                answer = _check_ocsp(raw, cert, issuer, now, self.policy.clock_skew)
            except (OSError, ValueError):
                continue
            if answer is not None:
                self.revocation_cache.ocsp[key] = answer
                return answer
        return None

    def _crl(
        self, cert: x509.Certificate, issuer: x509.Certificate, urls: list[str], now: dt.datetime
    ) -> _Revocation | None:
        ikey = issuer.subject.public_bytes()
        crl = self.revocation_cache.crls.get(ikey)
        if (
            crl is not None
            and _crl_signed_by(crl, issuer)
            and self._usable(crl.next_update_utc, now, grace=False)
        ):
            return _from_crl(crl, cert)
        if self.policy.allow_network:
            for url in urls:
                try:
                    fetched = _load_crl(self._fetch(url, None, "", self.policy.network_timeout))
                except (OSError, ValueError):
                    continue
                if fetched.issuer == issuer.subject and _crl_signed_by(fetched, issuer):
                    self.revocation_cache.add_crl(fetched)
                    return _from_crl(fetched, cert)
        return None


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    pub = issuer.public_key()
    if not isinstance(pub, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return False
    return crl.is_signature_valid(pub)


def _from_crl(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> _Revocation:
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    return _Revocation(
        RevocationSource.CRL,
        revoked=entry is not None,
        revoked_at=entry.revocation_date_utc if entry is not None else None,
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
    )


def _urls(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    ocsp_urls: list[str] = []
    crl_urls: list[str] = []
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [
            d.access_location.value
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        ]
    except x509.ExtensionNotFound:
        pass
    try:
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        for dp in dps:
            for name in dp.full_name or ():
                if isinstance(name, x509.UniformResourceIdentifier):
                    crl_urls.append(name.value)
    except x509.ExtensionNotFound:
        pass
    return ocsp_urls, crl_urls


def _verify_sig(signer: x509.Certificate, signature: bytes, data: bytes, algo: object) -> None:
    pub = signer.public_key()
    if not isinstance(algo, hashes.HashAlgorithm):
        raise ValueError("OCSP response without a known hash algorithm")
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(signature, data, padding.PKCS1v15(), algo)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(signature, data, ec.ECDSA(algo))
    else:
        raise ValueError("unsupported OCSP responder key type")


def _check_ocsp(
    raw: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    now: dt.datetime,
    skew: dt.timedelta,
) -> _Revocation | None:
    """Parse and authenticate an OCSP response; ``None`` when it does not answer for ``cert``."""
    resp = ocsp.load_der_ocsp_response(raw)
    if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return None
    if resp.serial_number != cert.serial_number:
        return None
    # The CertID must name our issuer (RFC 6960 §4.1.1 issuerKeyHash): a response about the same
    # serial from another CA says nothing about this certificate.
    issuer_key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    if resp.hash_algorithm.name == "sha1" and resp.issuer_key_hash != issuer_key_hash:
        return None
    # Who signed it: the issuer itself, or a delegated responder the issuer certified.
    signer = issuer
    if issuer.subject != _responder_name(resp, issuer):
        signer = next((c for c in resp.certificates if _is_delegate(c, issuer)), None)  # type: ignore[assignment]
        if signer is None:
            return None
    try:
        _verify_sig(signer, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm)
    except InvalidSignature:
        return None
    if resp.this_update_utc > now + skew:
        return None
    if resp.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
        return None
    revoked = resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    return _Revocation(
        RevocationSource.OCSP,
        revoked=revoked,
        revoked_at=resp.revocation_time_utc if revoked else None,
        this_update=resp.this_update_utc,
        next_update=resp.next_update_utc,
    )


def _responder_name(resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Name | None:
    if resp.responder_name is not None:
        return resp.responder_name
    ski = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    if resp.responder_key_hash == ski:
        return issuer.subject
    # Key hash of the issuer's public key as in RFC 6960 §4.2.1 (SHA-1 of the key bits).
    return None


def _is_delegate(cand: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cand.verify_directly_issued_by(issuer)
        eku = cand.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in eku
