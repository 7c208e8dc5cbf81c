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

Profile *warnings* (an element QCVN 102 asks for that the package omits, such as
``profile.signer_info_missing``; a malformed agency code; an SDK placeholder signature) are
flagged by default: one flag per warning code, stored on the document and shown to the sender
(push answer, sent list) and the recipients (inbox). An agency whose recipients cannot work
without a field escalates its code in ``warnings`` (``{"profile.signer_info_missing":
"refuse"}``), or silences a family (``{"signature.*": "accept"}``). The profile decides what
is a warning; the policy only decides what to do with it (:mod:`hub.edxml.profile_rules`).

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from hub.agency.codes import lookup_key
from hub.edxml.problems import Problem
from hub.edxml.profile_rules import WARNING_CODES
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
    profile_warnings: Action = Action.FLAG
    """A profile warning not named in :attr:`warnings` (an omitted ``SignerInfo``, a malformed
    agency code…): the package is accepted and each warning code becomes a flag."""
    warnings: Mapping[str, Action] = field(default_factory=dict)
    """Per warning code, the action instead of :attr:`profile_warnings` — ``REFUSE`` makes that
    warning an error for this sender. A key ``family.*`` covers a family (``agency.*``); an exact
    code wins over a family. Every key must name a code the profile can report
    (:data:`hub.edxml.profile_rules.WARNING_CODES`): a misspelt code would otherwise never
    match, so it raises ``ValueError``. Like every field, a per-sender override that does not
    set it gets this default (empty), not ``policy.default``'s map."""

    def __post_init__(self) -> None:
        actions: dict[str, Action] = {}
        for key, value in self.warnings.items():
            family = key[:-1] if key.endswith(".*") else None
            known = (
                any(c.startswith(family) for c in WARNING_CODES) if family else key in WARNING_CODES
            )
            if not known:
                raise ValueError(f"{key!r} is not a warning code the profile reports")
            actions[key] = Action(value)
        object.__setattr__(self, "warnings", MappingProxyType(actions))

    def warning_action(self, code: str) -> Action:
        """What this sender's policy does with the profile warning ``code``."""
        exact = self.warnings.get(code)
        if exact is not None:
            return exact
        family = code
        while "." in family:
            family = family.rsplit(".", 1)[0]
            found = self.warnings.get(f"{family}.*")
            if found is not None:
                return found
        return self.profile_warnings

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
        """Build from a settings mapping; unknown keys, actions or warning codes raise
        ``ValueError`` naming the setting."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{where}: unknown policy key {unknown[0]!r}")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "warnings":
                values[key] = _warning_actions(value, where=f"{where}.warnings")
            else:
                values[key] = _action(value, where=f"{where}.{key}")
        try:
            return cls(**values)
        except ValueError as exc:  # a warning code the profile never reports
            raise ValueError(f"{where}.warnings: {exc}") from None


def _action(value: Any, *, where: str) -> Action:
    try:
        return Action(str(value))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not one of {[a.value for a in Action]}") from None


def _warning_actions(raw: Any, *, where: str) -> dict[str, Action]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping of warning code to action")
    return {str(code): _action(value, where=f"{where}.{code}") for code, value in raw.items()}


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
    path: str | None = None
    """The element path, for a finding that comes from one profile warning."""


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


def decide(
    policy: SenderPolicy,
    *,
    profile_ok: bool,
    verdicts: Verdicts,
    warnings: Sequence[Problem] = (),
) -> PolicyDecision:
    """Apply ``policy`` to the profile outcome, its ``warnings`` and the signature verdicts.

    One finding per warning code (the first occurrence gives the path and text), in the order
    the profile reported them, after ``profile.errors`` and before the signature findings.
    """
    findings: list[Finding] = []
    if not profile_ok:
        findings.append(
            Finding("profile.errors", "gói tin không đúng hồ sơ edXML", policy.profile_errors)
        )
    seen: set[str] = set()
    for problem in warnings:
        if problem.is_error or problem.code in seen:
            continue
        seen.add(problem.code)
        action = policy.warning_action(problem.code)
        findings.append(Finding(problem.code, problem.message_vi, action, problem.path))
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
