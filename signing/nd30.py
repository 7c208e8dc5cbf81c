"""Nghị định 30/2020/NĐ-CP for signed PDFs: who signed (person or agency) and the presence rules.

Nghị định 30, Art. 32–33 and Appendix I: an *issued* document (văn bản phát hành) carries the
competent person's signature and then the agency's signature, which the clerk (văn thư) applies
only to a document that already carries the person's. Appendices and separate attachments, and
electronic copies (sao y, sao lục, trích sao), carry the agency's signature alone.

Two pure pieces live here:

* :class:`SignerClassRule` and :func:`classify_signer` — decide from the certificate alone
  whether a signature is a person's or an agency's. Vietnamese certificates say it in the
  subject: personal certificates carry ``UID=CMND:…`` / ``CCCD:…`` (identity card) or ``HC:…``
  (passport); organisation certificates carry ``UID=MST:…`` (tax code) or ``MNS:…`` (budget unit
  code), or a common name that is the organisation's own name. The rule is data so that each
  deployment can add its CA's policy OIDs. The safe default answers :attr:`SignerClass.UNKNOWN`
  rather than guessing "agency": an unknown signer never satisfies the agency-signature rule.
* :func:`presence_warnings` — the presence and order rules, as *warnings*: a document missing
  the agency's signature is still delivered, but the recipient's clerk is told.

Nothing here opens files or talks to the network.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from signing.verdicts import Finding


class SignerClass(enum.StrEnum):
    """Whose signature it is, in Nghị định 30's sense."""

    PERSON = "person"  # the competent person (người có thẩm quyền)
    AGENCY = "agency"  # the agency or organisation (replaces the seal)
    UNKNOWN = "unknown"  # the certificate does not say


class DocumentKind(enum.StrEnum):
    """What the PDF is, which decides the signatures Nghị định 30 expects on it."""

    ISSUED = "issued"  # the issued document: person's signature, then the agency's
    ATTACHMENT = "attachment"  # an appendix or separate attachment: the agency's signature
    COPY = "copy"  # an electronic copy (sao y / sao lục / trích sao): the agency's signature


# The user-id attribute (RFC 4519 ``uid``), where Vietnamese CAs put CMND/CCCD/MST numbers.
_UID = x509.ObjectIdentifier("0.9.2342.19200300.100.1.1")
# QCVN 102:2016 agency identifier code, VVV.ZZ.YY.LNN (edxml.md §7).
_AGENCY_CODE = re.compile(r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


@dataclass(frozen=True)
class SignerClassRule:
    """How to tell an agency's certificate from a person's. Checked in the order of the fields."""

    agency_policy_oids: frozenset[str] = frozenset()
    """Certificate-policy OIDs that mark an organisation certificate (per CA; none by default)."""

    person_policy_oids: frozenset[str] = frozenset()
    """Certificate-policy OIDs that mark a personal certificate (per CA; none by default)."""

    person_uid_prefixes: tuple[str, ...] = ("CMND:", "CCCD:", "CMTND:", "HC:", "DDCN:")
    """``UID`` prefixes of personal identity numbers (identity card, citizen card, passport)."""

    agency_uid_prefixes: tuple[str, ...] = ("MST:", "MNS:", "MDD:")
    """``UID`` prefixes of organisation numbers (tax code, budget unit code, agency id code)."""

    agency_uid_is_agency_code: bool = True
    """A ``UID`` that is a QCVN 102 agency identifier code (``000.00.31.H99``) marks an agency."""

    agency_when_cn_is_organization: bool = True
    """A subject whose ``CN`` equals its ``O`` (or that has ``O`` and no ``CN``) is an agency."""

    agency_cn_prefixes: tuple[str, ...] = (
        "ủy ban",
        "uỷ ban",
        "ubnd",
        "bộ ",
        "sở ",
        "văn phòng",
        "cục ",
        "tổng cục",
        "ban ",
        "trường ",
        "bệnh viện",
        "công ty",
    )
    """Lower-case ``CN`` openings that name an organisation; only used when ``O`` is present."""

    person_when_cn_only: bool = True
    """A subject with a ``CN`` matching none of the rules above is a person."""


DEFAULT_SIGNER_CLASS_RULE = SignerClassRule()


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def _policy_oids(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES)
    except (x509.ExtensionNotFound, ValueError):
        return set()
    policies = ext.value
    assert isinstance(policies, x509.CertificatePolicies)
    return {p.policy_identifier.dotted_string for p in policies}


def classify_signer(
    cert: x509.Certificate, rule: SignerClassRule = DEFAULT_SIGNER_CLASS_RULE
) -> SignerClass:
    """Classify the signer of ``cert`` by ``rule``; :attr:`SignerClass.UNKNOWN` when unsure."""
    policies = _policy_oids(cert)
    if policies & rule.agency_policy_oids:
        return SignerClass.AGENCY
    if policies & rule.person_policy_oids:
        return SignerClass.PERSON
    subject = cert.subject
    uids = [u.strip().upper() for u in _attr(subject, _UID)]
    if any(u.startswith(p.upper()) for u in uids for p in rule.person_uid_prefixes):
        return SignerClass.PERSON
    if any(u.startswith(p.upper()) for u in uids for p in rule.agency_uid_prefixes):
        return SignerClass.AGENCY
    if rule.agency_uid_is_agency_code and any(_AGENCY_CODE.fullmatch(u) for u in uids):
        return SignerClass.AGENCY
    cns = [_norm(v) for v in _attr(subject, NameOID.COMMON_NAME)]
    orgs = [_norm(v) for v in _attr(subject, NameOID.ORGANIZATION_NAME)]
    if orgs and rule.agency_when_cn_is_organization and (not cns or set(cns) & set(orgs)):
        return SignerClass.AGENCY
    if orgs and any(cn.startswith(p) for cn in cns for p in rule.agency_cn_prefixes):
        return SignerClass.AGENCY
    if cns and rule.person_when_cn_only:
        return SignerClass.PERSON
    return SignerClass.UNKNOWN


#: One finding of the Nghị định 30 presence rules. Warnings inform; they do not refuse.
Nd30Warning = Finding


@dataclass(frozen=True)
class SignatureFacts:
    """What the presence rules need to know about one valid signature, in revision order."""

    signer_class: SignerClass
    signing_time: datetime | None


def presence_warnings(
    signatures: Sequence[SignatureFacts], kind: DocumentKind = DocumentKind.ISSUED
) -> tuple[Nd30Warning, ...]:
    """Check Nghị định 30 Art. 32–33 on the *valid* signatures of one PDF, oldest first.

    Issued documents need a person's and an agency's signature, the agency's not earlier than
    the person's (both by time and by revision order: the clerk signs what the person signed).
    Attachments and copies need an agency signature. Times compared are the best known signing
    time of each signature (timestamp, else the signer's claim); a missing time skips the time
    comparison but not the order one.
    """
    out: list[Nd30Warning] = []
    persons = [i for i, s in enumerate(signatures) if s.signer_class is SignerClass.PERSON]
    agencies = [i for i, s in enumerate(signatures) if s.signer_class is SignerClass.AGENCY]
    if kind is DocumentKind.ISSUED and not persons:
        out.append(
            Nd30Warning(
                "nd30.person_missing",
                "Văn bản thiếu chữ ký số của người có thẩm quyền (Nghị định 30, Điều 32)",
                "the document lacks the competent person's signature (Decree 30, Art. 32)",
            )
        )
    if not agencies:
        out.append(
            Nd30Warning(
                "nd30.agency_missing",
                "Văn bản thiếu chữ ký số của cơ quan, tổ chức (Nghị định 30, Điều 33)",
                "the document lacks the agency's signature (Decree 30, Art. 33)",
            )
        )
    if kind is DocumentKind.ISSUED and persons and agencies:
        first_person, last_agency = persons[0], agencies[-1]
        p_time = signatures[first_person].signing_time
        a_time = signatures[last_agency].signing_time
        if last_agency < first_person:
            out.append(
                Nd30Warning(
                    "nd30.agency_before_person",
                    "Chữ ký số của cơ quan được ký trước chữ ký của người có thẩm quyền",
                    "the agency signature was applied before the competent person's",
                )
            )
        elif p_time is not None and a_time is not None and a_time < p_time:
            out.append(
                Nd30Warning(
                    "nd30.agency_time_before_person",
                    "Thời gian ký của cơ quan sớm hơn thời gian ký của người có thẩm quyền",
                    "the agency's signing time is earlier than the competent person's",
                )
            )
    return tuple(out)
