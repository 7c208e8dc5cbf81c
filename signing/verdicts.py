"""Signature verdicts: frozen values that are stored, shown and decided on.

A verdict is the answer to "what did checking this signature find?" — never an exception.
Exceptions (:class:`hub.errors.KeyAccessError`, …) are kept for failing to check at all.
The shape follows pyHanko's ``SignatureStatus`` (``bottom_line``) and signxml's
``VerifyResult``: integrity (did the bytes change?), trust (is the signer's certificate
chained to an anchor, in its validity period, not revoked?) and the algorithms are separate
facts, and ``bottom_line`` is ``True`` only when all of them are good.

Shared between the envelope (XML-DSig, :mod:`signing.xmldsig`) and the PDF side
(:mod:`signing.pdf_verify`): :class:`SignerIdentity` and :class:`TrustStatus` are common;
:class:`EnvelopeVerdict` is the envelope's result. The PDF verdict lives in
:mod:`signing.pdf_verify` as ``PdfSignatureVerdict``, built on :class:`SignatureVerdictBase`.

Every verdict also carries its :class:`Outcome`, the three-way answer of ETSI EN 319 102-1
(valid / invalid / indeterminate, :class:`hub.ports.Indication`) with an ETSI sub-indication
and a Vietnamese/English reason. It is computed once, where the verifier knows what it found
(:func:`trust_outcome` for the trust part, the verifiers for integrity and format), and stored
with the verdict; consumers (CLI, hub port, policy, dashboard) read it and never re-derive it.
Aggregation over several signatures is :func:`combine`: invalid if any is, else indeterminate
if any is, else valid.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from hub.ports import Indication


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


@dataclass(frozen=True)
class SignerIdentity:
    """Who a certificate says the signer is (facts read from the certificate, not trust)."""

    common_name: str | None
    """Subject CN: a person's name, or the agency name on an agency certificate."""
    organization: str | None
    """Subject O: the agency."""
    serial: str
    """Certificate serial number, upper-case hex without separators."""
    issuer: str
    """Issuer DN (RFC 4514)."""
    subject: str
    """Subject DN (RFC 4514)."""
    fingerprint: str
    """SHA-256 of the certificate DER, lower-case hex: the key of every trust cache."""
    not_before: dt.datetime
    """Start of validity (UTC)."""
    not_after: dt.datetime
    """End of validity (UTC)."""
    uid: str | None = None
    """Subject UID: the agency identifier code (mã định danh) on agency certificates."""
    title: str | None = None
    """Subject title (chức vụ) on person certificates."""

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> SignerIdentity:
        """Read the identity fields of ``cert``."""
        return cls(
            common_name=_first(cert.subject, NameOID.COMMON_NAME),
            organization=_first(cert.subject, NameOID.ORGANIZATION_NAME),
            serial=format(cert.serial_number, "X"),
            issuer=cert.issuer.rfc4514_string(),
            subject=cert.subject.rfc4514_string(),
            fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            uid=_first(cert.subject, NameOID.USER_ID),
            title=_first(cert.subject, NameOID.TITLE),
        )

    @property
    def is_agency(self) -> bool:
        """An agency ("tổ chức") certificate: it names an identifier code (UID) or CN == O."""
        return self.uid is not None or (
            self.common_name is not None and self.common_name == self.organization
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "common_name": self.common_name,
            "organization": self.organization,
            "serial": self.serial,
            "issuer": self.issuer,
            "subject": self.subject,
            "fingerprint": self.fingerprint,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "uid": self.uid,
            "title": self.title,
        }


class Trust(enum.StrEnum):
    """The trust outcome for one certificate at one time."""

    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"  # no chain to a configured anchor (or a broken chain)
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    UNKNOWN_REVOCATION = "unknown_revocation"  # chain good, revocation data required but absent


class RevocationSource(enum.StrEnum):
    """Where the revocation answer came from."""

    NONE = "none"  # not checked (policy does not require it, or the chain failed first)
    CRL = "crl"
    OCSP = "ocsp"


@dataclass(frozen=True)
class TrustStatus:
    """The trust decision for a signer certificate (cached per fingerprint by ``trust.py``)."""

    status: Trust
    """The outcome."""
    checked_at: dt.datetime
    """When the decision was made (UTC)."""
    revocation_source: RevocationSource = RevocationSource.NONE
    """Which revocation data answered."""
    revocation_produced_at: dt.datetime | None = None
    """When that revocation data was issued (CRL thisUpdate / OCSP thisUpdate)."""
    revocation_stale: bool = False
    """The revocation data is past its nextUpdate but inside the policy's grace period."""
    revoked_at: dt.datetime | None = None
    """Revocation time, when revoked."""
    chain: tuple[str, ...] = ()
    """Subjects (RFC 4514) from the signer to the anchor, when a chain was built."""
    detail: str = ""
    """Why, in English, for logs and the operator (never key material)."""

    @property
    def ok(self) -> bool:
        return self.status is Trust.TRUSTED

    def revocation_age(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        """How old the revocation data was at ``now`` (default: now)."""
        if self.revocation_produced_at is None:
            return None
        return (now or dt.datetime.now(dt.UTC)) - self.revocation_produced_at

    def to_dict(self) -> dict[str, Any]:
        age = self.revocation_age()
        return {
            "status": self.status.value,
            "checked_at": self.checked_at.isoformat(),
            "revocation_source": self.revocation_source.value,
            "revocation_produced_at": (
                self.revocation_produced_at.isoformat() if self.revocation_produced_at else None
            ),
            "revocation_age_seconds": int(age.total_seconds()) if age is not None else None,
            "revocation_stale": self.revocation_stale,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "chain": list(self.chain),
            "detail": self.detail,
        }


class SubIndication(enum.StrEnum):
    """Why a signature is invalid or indeterminate: ETSI EN 319 102-1 §5.1.3 names, plus
    :attr:`NO_SIGNATURE` (a file with nothing to judge), which ETSI has no name for."""

    # invalid (TOTAL-FAILED)
    FORMAT_FAILURE = "FORMAT_FAILURE"  # not a conforming signature (wrapping, layout, changed)
    HASH_FAILURE = "HASH_FAILURE"  # the signed bytes changed
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"  # the value does not verify with the key
    REVOKED = "REVOKED"  # the signer's or a CA's certificate is revoked
    # indeterminate
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"  # no chain to an anchor
    TRY_LATER = "TRY_LATER"  # revocation data unobtainable now, or all of it too old
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"  # expired, no proof of the signing time
    NOT_YET_VALID = "NOT_YET_VALID"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"  # algorithm refused by policy
    NO_SIGNATURE = "NO_SIGNATURE"


@dataclass(frozen=True)
class Outcome:
    """The three-way outcome of one signature (or of a file, aggregated), with its reason."""

    indication: Indication
    """Valid, invalid or indeterminate."""
    subindication: SubIndication | None = None
    """Why, in ETSI's words (``None`` when valid)."""
    reason_vi: str = ""
    """Why, in Vietnamese ('' when valid)."""
    reason_en: str = ""
    """Why, in English ('' when valid)."""

    @property
    def valid(self) -> bool:
        return self.indication is Indication.VALID

    def word(self, lang: str = "vi") -> str:
        """The outcome as printed: HỢP LỆ / KHÔNG HỢP LỆ / CHƯA XÁC ĐỊNH ĐƯỢC."""
        return _WORDS[self.indication][0 if lang == "vi" else 1]

    def reason(self, lang: str = "vi") -> str:
        return self.reason_vi if lang == "vi" else self.reason_en

    def to_dict(self) -> dict[str, Any]:
        """``verdict`` and ``subindication``, the keys every JSON form carries."""
        return {
            "verdict": self.indication.value,
            "subindication": self.subindication.value if self.subindication else None,
        }


_WORDS = {
    Indication.VALID: ("HỢP LỆ", "VALID"),
    Indication.INVALID: ("KHÔNG HỢP LỆ", "INVALID"),
    Indication.INDETERMINATE: ("CHƯA XÁC ĐỊNH ĐƯỢC", "INDETERMINATE"),
}

VALID = Outcome(Indication.VALID)
"""The outcome of a signature against which nothing was found."""


def outcome_of(sub: SubIndication, en: str, vi: str) -> Outcome:
    """The non-valid outcome with sub-indication ``sub`` (invalid for ``FORMAT_FAILURE``,
    ``HASH_FAILURE``, ``SIG_CRYPTO_FAILURE`` and ``REVOKED``, indeterminate otherwise)."""
    return Outcome(_INDICATION_OF[sub], sub, vi, en)


def indeterminate(sub: SubIndication, en: str, vi: str) -> Outcome:
    return Outcome(Indication.INDETERMINATE, sub, vi, en)


NO_SIGNATURE = indeterminate(
    SubIndication.NO_SIGNATURE,
    "no signature could be verified",
    "không có chữ ký số nào kiểm tra được",
)


def combine(outcomes: Iterable[Outcome]) -> Outcome:
    """The outcome of a file from its signatures' (the first invalid one, else the first
    indeterminate one, else valid); :data:`NO_SIGNATURE` when there is none."""
    items = list(outcomes)
    worst = Indication.worst(o.indication for o in items)
    if worst is None:
        return NO_SIGNATURE
    return next(o for o in items if o.indication is worst)


_TRUST_OUTCOMES: dict[Trust, tuple[Indication, SubIndication, str, str]] = {
    Trust.UNTRUSTED: (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
        "the signer's certificate does not chain to a trusted CA",
        "chứng thư của người ký không thuộc tổ chức chứng thực được tin cậy",
    ),
    Trust.EXPIRED: (
        Indication.INDETERMINATE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
        "the signer's certificate has expired and no timestamp proves the signature older",
        "chứng thư của người ký đã hết hạn và không có dấu thời gian chứng minh đã ký trước đó",
    ),
    Trust.NOT_YET_VALID: (
        Indication.INDETERMINATE,
        SubIndication.NOT_YET_VALID,
        "the signer's certificate is not valid yet",
        "chứng thư của người ký chưa có hiệu lực",
    ),
    Trust.REVOKED: (
        Indication.INVALID,
        SubIndication.REVOKED,
        "a certificate of the signer's chain is revoked",
        "chứng thư số trong chuỗi của người ký đã bị thu hồi",
    ),
    Trust.UNKNOWN_REVOCATION: (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
        "the revocation status of the signer's chain cannot be obtained now",
        "hiện chưa lấy được thông tin thu hồi của chuỗi chứng thư người ký",
    ),
}


def trust_outcome(trust: TrustStatus) -> Outcome:
    """The outcome a cryptographically intact signature gets from its trust decision."""
    if trust.ok:
        return VALID
    indication, sub, en, vi = _TRUST_OUTCOMES[trust.status]
    detail = f" ({trust.detail})" if trust.detail else ""
    return Outcome(indication, sub, vi, en + detail)


class EnvelopeStatus(enum.StrEnum):
    """The outcome of checking an edXML envelope's XML-DSig signature (edxml.md §6)."""

    ABSENT = "absent"
    UNVERIFIABLE = "unverifiable"  # not a usable XML-DSig (edXML-namespace SDK output, …)
    DIGEST_MISMATCH = "digest_mismatch"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    UNKNOWN_REVOCATION = "unknown_revocation"
    WEAK_ALGORITHM = "weak_algorithm"
    VALID = "valid"


_TRUST_TO_ENVELOPE = {
    Trust.UNTRUSTED: EnvelopeStatus.UNTRUSTED,
    Trust.EXPIRED: EnvelopeStatus.EXPIRED,
    Trust.NOT_YET_VALID: EnvelopeStatus.NOT_YET_VALID,
    Trust.REVOKED: EnvelopeStatus.REVOKED,
    Trust.UNKNOWN_REVOCATION: EnvelopeStatus.UNKNOWN_REVOCATION,
    Trust.TRUSTED: EnvelopeStatus.VALID,
}


def envelope_status_for(trust: Trust) -> EnvelopeStatus:
    """The envelope status that a (cryptographically intact) signature gets for ``trust``."""
    return _TRUST_TO_ENVELOPE[trust]


@dataclass(frozen=True)
class Finding:
    """One coded finding about a signature or a document (a problem, or a Nghị định 30
    warning), with its Vietnamese and English text."""

    code: str
    message_vi: str
    message_en: str

    def message(self, lang: str = "vi") -> str:
        return self.message_vi if lang == "vi" else self.message_en

    def to_dict(self, lang: str = "vi") -> dict[str, Any]:
        return {"code": self.code, "message": self.message(lang)}


@dataclass(frozen=True)
class SignatureVerdictBase:
    """What every signature verdict says; the envelope and PDF verdicts extend it."""

    signer: SignerIdentity | None
    """The signer certificate's identity, when a certificate could be read."""
    trust: TrustStatus | None
    """The trust decision, when one was made (None when integrity failed first)."""
    signature_algorithm: str | None
    """The signature algorithm URI / name as written in the signature."""
    digest_algorithm: str | None
    """The digest algorithm URI / name of the (first) reference."""
    problem_en: str
    """Why it is not valid, in English ('' when valid)."""
    problem_vi: str
    """Why it is not valid, in Vietnamese ('' when valid)."""

    def problem(self, lang: str = "vi") -> str:
        return self.problem_vi if lang == "vi" else self.problem_en

    def _base_dict(self) -> dict[str, Any]:
        return {
            "signer": self.signer.to_dict() if self.signer else None,
            "trust": self.trust.to_dict() if self.trust else None,
            "signature_algorithm": self.signature_algorithm,
            "digest_algorithm": self.digest_algorithm,
            "problem_en": self.problem_en,
            "problem_vi": self.problem_vi,
        }


@dataclass(frozen=True)
class EnvelopeVerdict(SignatureVerdictBase):
    """The verdict on one package's envelope signature.

    ``bottom_line`` is ``True`` only for :attr:`EnvelopeStatus.VALID`: the signature covers the
    whole ``edXML`` root (``Reference URI=""`` + enveloped transform), the digest and signature
    value check out under signxml, the algorithms are allowed by the sender's policy and the
    signer is trusted. ``signed_c14n_sha256`` identifies exactly what was signed (hex SHA-256 of
    the canonical signed bytes), for audit.
    """

    status: EnvelopeStatus = EnvelopeStatus.ABSENT
    """The outcome."""
    signed_c14n_sha256: str | None = None
    """SHA-256 (hex) of the canonicalised bytes the signature covers, when valid."""
    xmldsig_present: bool = False
    """An element in the XML-DSig namespace was found (False for absent and for the SDK's
    edXML-namespace look-alike): tells "no real signature" from "a real one that fails"."""
    outcome: Outcome = NO_SIGNATURE
    """The three-way outcome (:meth:`make` computes it from the facts above)."""

    @property
    def bottom_line(self) -> bool:
        return self.status is EnvelopeStatus.VALID

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        out: dict[str, Any] = {"status": self.status.value, "bottom_line": self.bottom_line}
        out.update(self.outcome.to_dict())
        out.update(self._base_dict())
        out["signed_c14n_sha256"] = self.signed_c14n_sha256
        out["xmldsig_present"] = self.xmldsig_present
        return out

    @classmethod
    def make(
        cls,
        status: EnvelopeStatus,
        problem_en: str = "",
        problem_vi: str = "",
        *,
        signer: SignerIdentity | None = None,
        trust: TrustStatus | None = None,
        signature_algorithm: str | None = None,
        digest_algorithm: str | None = None,
        signed_c14n_sha256: str | None = None,
        xmldsig_present: bool = True,
        subindication: SubIndication | None = None,
    ) -> EnvelopeVerdict:
        """Build a verdict with keyword-only facts (the dataclass order is inherited).

        The outcome follows from ``status`` (table :data:`_ENVELOPE_OUTCOMES`; the trust
        decision's own outcome for the trust statuses); ``subindication`` overrides the
        table's for an ``unverifiable`` signature the verifier knows more about (an unknown
        algorithm is indeterminate, not a format failure).
        """
        problem_vi = problem_vi or problem_en
        outcome: Outcome
        if status is EnvelopeStatus.VALID:
            outcome = VALID
        elif not xmldsig_present:
            outcome = indeterminate(SubIndication.NO_SIGNATURE, problem_en, problem_vi)
        elif trust is not None and status in _TRUST_STATUSES:
            outcome = trust_outcome(trust)
        else:
            indication, sub = _ENVELOPE_OUTCOMES[status]
            if subindication is not None:
                sub = subindication
                indication = _INDICATION_OF[sub]
            outcome = Outcome(indication, sub, problem_vi, problem_en)
        return cls(
            signer=signer,
            trust=trust,
            signature_algorithm=signature_algorithm,
            digest_algorithm=digest_algorithm,
            problem_en=problem_en,
            problem_vi=problem_vi,
            status=status,
            signed_c14n_sha256=signed_c14n_sha256,
            xmldsig_present=xmldsig_present,
            outcome=outcome,
        )


_TRUST_STATUSES = frozenset(
    {
        EnvelopeStatus.UNTRUSTED,
        EnvelopeStatus.EXPIRED,
        EnvelopeStatus.NOT_YET_VALID,
        EnvelopeStatus.REVOKED,
        EnvelopeStatus.UNKNOWN_REVOCATION,
    }
)

#: The outcome of each envelope status that is not ``valid`` (signature present).
_ENVELOPE_OUTCOMES: dict[EnvelopeStatus, tuple[Indication, SubIndication]] = {
    EnvelopeStatus.ABSENT: (Indication.INDETERMINATE, SubIndication.NO_SIGNATURE),
    EnvelopeStatus.UNVERIFIABLE: (Indication.INVALID, SubIndication.FORMAT_FAILURE),
    EnvelopeStatus.DIGEST_MISMATCH: (Indication.INVALID, SubIndication.HASH_FAILURE),
    EnvelopeStatus.BAD_SIGNATURE: (Indication.INVALID, SubIndication.SIG_CRYPTO_FAILURE),
    EnvelopeStatus.WEAK_ALGORITHM: (
        Indication.INDETERMINATE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
    ),
    EnvelopeStatus.UNTRUSTED: (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    ),
    EnvelopeStatus.EXPIRED: (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE),
    EnvelopeStatus.NOT_YET_VALID: (Indication.INDETERMINATE, SubIndication.NOT_YET_VALID),
    EnvelopeStatus.REVOKED: (Indication.INVALID, SubIndication.REVOKED),
    EnvelopeStatus.UNKNOWN_REVOCATION: (Indication.INDETERMINATE, SubIndication.TRY_LATER),
}

_INVALID_SUBS = frozenset(
    {
        SubIndication.FORMAT_FAILURE,
        SubIndication.HASH_FAILURE,
        SubIndication.SIG_CRYPTO_FAILURE,
        SubIndication.REVOKED,
    }
)
_INDICATION_OF = {
    sub: Indication.INVALID if sub in _INVALID_SUBS else Indication.INDETERMINATE
    for sub in SubIndication
}
