"""The values a PDF verification produces: one verdict per signature, one per PDF.

Frozen, JSON-ready and stored as they are (``to_dict``); made by
:class:`signing.pdf_verify.PdfVerifier`, which documents what each field means and how the
three-way :class:`~signing.verdicts.Outcome` of a signature is decided. A PDF's own outcome is
derived here, once, at construction: invalid (``FORMAT_FAILURE``) when the file cannot be read,
indeterminate ``NO_SIGNATURE`` when it carries no signature, else the worst of its signatures'
(:func:`signing.verdicts.combine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from signing.nd30 import DocumentKind, Nd30Warning, SignerClass
from signing.verdicts import (
    NO_SIGNATURE,
    Finding,
    Outcome,
    SignatureVerdictBase,
    SubIndication,
    Trust,
    combine,
    outcome_of,
)

#: One reason a signature or a PDF is not good, with a stable code.
Problem = Finding


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class PdfSignatureVerdict(SignatureVerdictBase):
    """The verdict on one PDF signature. ``bottom_line`` requires every check to pass."""

    field_name: str
    """The signature field's fully qualified name."""
    revision: int
    """The document revision (0-based) the signature signs; signatures are listed by it."""
    signer_class: SignerClass
    """Person or agency (Nghị định 30), by :attr:`PdfVerifyPolicy.signer_class_rule`."""
    intact: bool
    """The signed byte ranges hash to the CMS ``messageDigest``."""
    valid: bool
    """The CMS signature value verifies under the (bound) signer certificate."""
    signing_time: datetime | None
    """The signer's claimed time (CMS ``signingTime`` or the PDF ``/M`` entry); unproven."""
    timestamp: datetime | None
    """The RFC 3161 signature timestamp's ``genTime``, when one is embedded."""
    timestamp_ok: bool | None
    """The timestamp token is intact, valid and from a trusted TSA (``None``: no timestamp)."""
    level: str
    """``PAdES-B-B``, ``PAdES-B-T`` (with timestamp), ``PAdES-B-LT`` (timestamp, and the
    document carries validation data in its DSS), or ``CMS`` (``adbe.pkcs7.detached``)."""
    coverage: str
    """``entire_file``, ``entire_revision`` (later updates exist) or ``partial``."""
    modification_level: str | None
    """What changed after signing: ``none``, ``lta_updates``, ``form_filling``, ``annotations``
    or ``other`` (pyHanko's difference analysis)."""
    modified_after_signing: bool
    """Changes after signing beyond :attr:`PdfVerifyPolicy.tolerated_modification`."""
    outcome: Outcome
    """Valid, invalid or indeterminate, with the ETSI sub-indication (module docstring)."""
    problems: tuple[Problem, ...] = ()
    """Every finding that keeps the signature from being good."""

    @property
    def trusted(self) -> bool:
        return self.trust is not None and self.trust.ok

    @property
    def revoked(self) -> bool:
        return self.trust is not None and self.trust.status is Trust.REVOKED

    @property
    def best_time(self) -> datetime | None:
        """The timestamp when it is good, else the signer's claim."""
        return self.timestamp if self.timestamp_ok else self.signing_time

    @property
    def bottom_line(self) -> bool:
        return self.outcome.valid

    def to_dict(self, lang: str = "vi") -> dict[str, Any]:
        out: dict[str, Any] = {
            "field_name": self.field_name,
            "revision": self.revision,
            **self.outcome.to_dict(),
            "reason": self.outcome.reason(lang),
            "bottom_line": self.bottom_line,
            "intact": self.intact,
            "valid": self.valid,
            "trusted": self.trusted,
            "revoked": self.revoked,
            "signer_class": self.signer_class.value,
            "signing_time": _iso(self.signing_time),
            "timestamp": _iso(self.timestamp),
            "timestamp_ok": self.timestamp_ok,
            "level": self.level,
            "coverage": self.coverage,
            "modification_level": self.modification_level,
            "modified_after_signing": self.modified_after_signing,
            "problems": [p.to_dict(lang) for p in self.problems],
        }
        out.update(self._base_dict())
        return out


@dataclass(frozen=True)
class PdfVerdict:
    """The verdict on one PDF: its signatures (oldest first), Nghị định 30 warnings, problems.

    ``bottom_line`` is ``True`` when the PDF was readable, carries at least one signature and
    every signature's ``bottom_line`` holds. Nghị định 30 warnings do not change it.
    """

    sha256: str
    size: int
    kind: DocumentKind
    signatures: tuple[PdfSignatureVerdict, ...]
    nd30_warnings: tuple[Nd30Warning, ...] = ()
    problems: tuple[Problem, ...] = ()
    name: str | None = None
    """The file name, when known (attachment name inside an edXML package)."""
    verified_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    outcome: Outcome = field(init=False)
    """The PDF's outcome: invalid (``FORMAT_FAILURE``) when unreadable, ``NO_SIGNATURE`` when
    unsigned, else its signatures' combined (:func:`signing.verdicts.combine`)."""

    def __post_init__(self) -> None:
        if self.problems:
            first = self.problems[0]
            if first.code == UNSIGNED.code:
                outcome = NO_SIGNATURE
            else:
                outcome = outcome_of(
                    SubIndication.FORMAT_FAILURE, first.message_en, first.message_vi
                )
        else:
            outcome = combine(s.outcome for s in self.signatures)
        object.__setattr__(self, "outcome", outcome)

    @property
    def bottom_line(self) -> bool:
        return self.outcome.valid

    def to_dict(self, lang: str = "vi") -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "size": self.size,
            "kind": self.kind.value,
            **self.outcome.to_dict(),
            "reason": self.outcome.reason(lang),
            "bottom_line": self.bottom_line,
            "verified_at": self.verified_at.isoformat(),
            "signatures": [s.to_dict(lang) for s in self.signatures],
            "nd30_warnings": [w.to_dict(lang) for w in self.nd30_warnings],
            "problems": [p.to_dict(lang) for p in self.problems],
        }


#: The problem of a file that is not a readable PDF.
UNREADABLE = Problem("pdf.unreadable", "Tệp PDF không đọc được", "the PDF cannot be read")
#: The problem of a PDF without any signature.
UNSIGNED = Problem("pdf.unsigned", "Tệp PDF không có chữ ký số", "the PDF carries no signature")
