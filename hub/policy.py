"""What the hub does with a package whose checks found something: refuse, or accept and flag.

Contract: a policy is a frozen value with safe defaults, chosen per *sending agency*
(From/OrganId) from a :class:`PolicyBook`; :func:`decide` is pure — it reads the profile
findings and the signature verdicts and returns a :class:`PolicyDecision`. The intake service
refuses with :class:`hub.errors.PolicyRefused` (or :class:`hub.errors.ProfileError` for profile
findings) when the decision says so; flags are stored on the document and shown to both ends.

Safe defaults (the reasoning, per Nghị định 30/2020 Art. 33 and QCVN 102 §2): a package that
breaks the edXML profile or whose envelope signature does not verify is refused — the bytes are
not what a conforming sender signed. A *missing* envelope signature, an untrusted signer and a
bad PDF signature are accepted and flagged: many connected QLVB systems still send unsigned
envelopes, trust anchors differ between provinces, and the recipient's clerk must see the
document to decide; the flag travels with it.

Invalid and indeterminate (ETSI EN 319 102-1, :class:`hub.ports.Indication`) are decided
apart: an envelope signature that proves a problem — changed bytes, a wrong key, a revoked
signer — falls under ``envelope_invalid``; one that is intact but cannot be judged now
(revocation data unreachable, certificate expired or not yet valid) under
``envelope_indeterminate``, and one whose chain leads to no configured anchor under
``envelope_untrusted``. PDF signatures likewise: ``pdf_bad`` for invalid ones,
``pdf_indeterminate`` for the others. The two newer keys, when not set, do what the older key
beside them says, so a policy written before them keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from hub.agency.codes import lookup_key
from hub.ports import EnvelopeStatus, Verdicts


class Action(StrEnum):
    REFUSE = "refuse"  # answer the sender with an error; nothing is stored but an audit row
    FLAG = "flag"  # accept; record a flag on the document, shown to sender and recipients
    ACCEPT = "accept"  # accept silently


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    """The decisions for one sending agency. Every field has a safe default."""

    profile_errors: Action = Action.REFUSE
    """A package with edXML profile errors (missing DocumentId, malformed dates, codes…)."""
    envelope_missing: Action = Action.FLAG
    """A package without an envelope (XML-DSig) signature."""
    envelope_invalid: Action = Action.REFUSE
    """An envelope signature that does not verify (the bytes changed), uses a refused
    algorithm or layout, or whose signer's chain holds a revoked certificate."""
    envelope_untrusted: Action = Action.FLAG
    """An intact envelope signature whose chain leads to no configured trust anchor."""
    envelope_indeterminate: Action | None = None
    """An intact envelope signature that cannot be judged now: revocation data unreachable,
    certificate expired or not yet valid. ``None``: as :attr:`envelope_untrusted`."""
    pdf_bad: Action = Action.FLAG
    """One or more PDF attachment signatures that are invalid (broken, changed, revoked)."""
    pdf_indeterminate: Action | None = None
    """One or more PDF attachment signatures that are indeterminate (untrusted chain,
    revocation unknown, expired without a timestamp…). ``None``: as :attr:`pdf_bad`."""

    @property
    def on_envelope_indeterminate(self) -> Action:
        """The action for an indeterminate envelope signature, the fallback applied."""
        return self.envelope_indeterminate or self.envelope_untrusted

    @property
    def on_pdf_indeterminate(self) -> Action:
        """The action for indeterminate PDF signatures, the fallback applied."""
        return self.pdf_indeterminate or self.pdf_bad

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, where: str) -> SenderPolicy:
        """Build from a settings mapping; unknown keys or actions raise ``ValueError``."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{where}: unknown policy key {unknown[0]!r}")
        values: dict[str, Action] = {}
        for key, value in raw.items():
            try:
                values[key] = Action(str(value))
            except ValueError:
                raise ValueError(
                    f"{where}.{key}: {value!r} is not one of {[a.value for a in Action]}"
                ) from None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class PolicyBook:
    """The default policy and per-sender overrides (keyed by agency code, any case)."""

    default: SenderPolicy = field(default_factory=SenderPolicy)
    overrides: Mapping[str, SenderPolicy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keyed = {lookup_key(k): v for k, v in self.overrides.items()}
        object.__setattr__(self, "overrides", MappingProxyType(keyed))

    def for_sender(self, code: str) -> SenderPolicy:
        return self.overrides.get(lookup_key(code), self.default)


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason the policy looked twice: a stable code and its Vietnamese text."""

    code: str
    message_vi: str
    action: Action


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    findings: tuple[Finding, ...] = ()

    @property
    def refused(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.action is Action.REFUSE)

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings if f.action is Action.FLAG)

    @property
    def accepted(self) -> bool:
        return not self.refused


def decide(policy: SenderPolicy, *, profile_ok: bool, verdicts: Verdicts) -> PolicyDecision:
    """Apply ``policy`` to the profile outcome and the signature verdicts."""
    findings: list[Finding] = []
    if not profile_ok:
        findings.append(
            Finding("profile.errors", "gói tin không đúng hồ sơ edXML", policy.profile_errors)
        )
    envelope = verdicts.envelope
    if envelope is EnvelopeStatus.MISSING:
        findings.append(
            Finding("signature.missing", "gói tin không có chữ ký số", policy.envelope_missing)
        )
    elif envelope is EnvelopeStatus.INVALID:
        findings.append(
            Finding("signature.invalid", "chữ ký số gói tin không hợp lệ", policy.envelope_invalid)
        )
    elif envelope is EnvelopeStatus.UNTRUSTED:
        findings.append(
            Finding(
                "signature.untrusted",
                "chứng thư ký gói tin không được tin cậy",
                policy.envelope_untrusted,
            )
        )
    elif envelope is EnvelopeStatus.INDETERMINATE:
        findings.append(
            Finding(
                "signature.indeterminate",
                "chưa xác định được tính hợp lệ của chữ ký số gói tin",
                policy.on_envelope_indeterminate,
            )
        )
    if verdicts.pdf_invalid:
        findings.append(
            Finding(
                "pdf_signature.bad",
                f"{verdicts.pdf_invalid} chữ ký số trên tệp PDF không hợp lệ",
                policy.pdf_bad,
            )
        )
    if verdicts.pdf_indeterminate:
        # "undecided", not "indeterminate": a refusal is audited as "policy.<code>" in a
        # 32-character column.
        findings.append(
            Finding(
                "pdf_signature.undecided",
                f"{verdicts.pdf_indeterminate} chữ ký số trên tệp PDF chưa xác định được "
                "tính hợp lệ",
                policy.on_pdf_indeterminate,
            )
        )
    return PolicyDecision(tuple(f for f in findings if f.action is not Action.ACCEPT))
