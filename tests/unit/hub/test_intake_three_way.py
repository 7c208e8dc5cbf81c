"""Indeterminate is decided apart from invalid: the policy keys, then the whole intake.

The intake cases push packages signed over the generated PKI through the real signature port
(:class:`signing.envelope_port.HubSignatureVerifier` with the envelope and PDF verifiers) into
the services, with the loopback CRL/OCSP server up or down: the stored verdicts carry the
three-way outcome and the sender's policy decides on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.errors import PolicyRefused
from hub.policy import Action, PolicyBook, SenderPolicy, decide
from hub.ports import EnvelopeStatus, Indication, Verdicts
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.hub import HubServices
from signing.envelope_port import HubSignatureVerifier, pdf_check_from
from signing.keys import LoadedKey
from signing.pdf_sign import PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from signing.xmldsig import SignatureVerifier, sign_envelope
from tests.factories import make_edoc, pdf_attachment
from tests.pki import RevocationServer, TestPki
from tests.unit.hub.conftest import UBND
from tests.unit.signing.pdf.pdfkit import make_pdf, signer_for

SENDER = "000.00.00.H41"  # hosted by UBND
RECIPIENT = "000.00.02.H41"  # hosted by the other test system


def _edoc(code: str, **kw: object) -> bytes:
    return make_edoc(sender=SENDER, to=[RECIPIENT], code_number=code, **kw)  # type: ignore[arg-type]


# -- the policy alone ------------------------------------------------------------------------


def test_indeterminate_envelope_is_flagged_by_default() -> None:
    decision = decide(
        SenderPolicy(), profile_ok=True, verdicts=Verdicts(EnvelopeStatus.INDETERMINATE)
    )
    assert decision.accepted
    assert decision.flags == ("signature.indeterminate",)


def test_indeterminate_follows_untrusted_unless_set() -> None:
    strict = SenderPolicy(envelope_untrusted=Action.REFUSE)
    verdicts = Verdicts(EnvelopeStatus.INDETERMINATE)
    assert [f.code for f in decide(strict, profile_ok=True, verdicts=verdicts).refused] == [
        "signature.indeterminate"
    ]
    apart = SenderPolicy(envelope_untrusted=Action.REFUSE, envelope_indeterminate=Action.ACCEPT)
    assert decide(apart, profile_ok=True, verdicts=verdicts).findings == ()
    # and untrusted keeps its own key
    untrusted = decide(apart, profile_ok=True, verdicts=Verdicts(EnvelopeStatus.UNTRUSTED))
    assert [f.code for f in untrusted.refused] == ["signature.untrusted"]


def test_pdf_invalid_and_indeterminate_are_counted_apart() -> None:
    verdicts = Verdicts(EnvelopeStatus.VALID, pdf_checked=4, pdf_bad=3, pdf_indeterminate=1)
    assert (verdicts.pdf_invalid, verdicts.pdf_indeterminate) == (2, 1)
    assert verdicts.verdict is Indication.INVALID
    flagged = decide(SenderPolicy(), profile_ok=True, verdicts=verdicts)
    assert flagged.flags == ("pdf_signature.bad", "pdf_signature.undecided")
    only_unsure = Verdicts(EnvelopeStatus.VALID, pdf_checked=2, pdf_bad=1, pdf_indeterminate=1)
    strict = SenderPolicy(pdf_indeterminate=Action.REFUSE)
    assert [f.code for f in decide(strict, profile_ok=True, verdicts=only_unsure).refused] == [
        "pdf_signature.undecided"
    ]
    # pdf_bad set to refuse, pdf_indeterminate unset: an older policy refuses both, as before
    older = SenderPolicy(pdf_bad=Action.REFUSE)
    assert decide(older, profile_ok=True, verdicts=only_unsure).refused


def test_new_keys_read_from_settings_mappings() -> None:
    pol = SenderPolicy.from_mapping(
        {"envelope_indeterminate": "refuse", "pdf_indeterminate": "accept"}, where="t"
    )
    assert (pol.on_envelope_indeterminate, pol.on_pdf_indeterminate) == (
        Action.REFUSE,
        Action.ACCEPT,
    )
    assert SenderPolicy().on_envelope_indeterminate is SenderPolicy().envelope_untrusted
    with pytest.raises(ValueError, match="envelope_indeterminate"):
        SenderPolicy.from_mapping({"envelope_indeterminate": "maybe"}, where="t")


# -- through the intake ----------------------------------------------------------------------


@pytest.fixture
def server(pki_online: TestPki, revocation_server: RevocationServer) -> Iterator[RevocationServer]:
    yield revocation_server
    revocation_server.down.clear()
    revocation_server.available = True


@pytest.fixture
def signed_deps(deps: Deps, trust_store: TrustStore, server: RevocationServer) -> Deps:
    """The services' dependencies with the real signature port (fresh trust caches)."""
    policy = TrustPolicy(network_timeout=2.0)
    pdf = PdfVerifier(TrustEvaluator(trust_store, policy))
    port = HubSignatureVerifier(SignatureVerifier(trust_store), pdf_check=pdf_check_from(pdf))
    return dataclasses.replace(deps, verifier=port)


def _services(
    deps: Deps, config: HubConfig, policy: SenderPolicy | None = None, *, add: bool = True
) -> HubServices:
    if policy is not None:
        config = dataclasses.replace(config, policy=PolicyBook(overrides={SENDER: policy}))
    services = HubServices(deps, config, SecretBox(generate_key()))
    if add:
        services.systems.add(UBND, [SENDER], secret="s")
    return services


def _stored(deps: Deps, doc_id: str) -> dict[str, object]:
    with deps.uow() as uow:
        doc = uow.documents.get(doc_id)
        assert doc is not None
        return dict(doc.verdicts or {})


def test_unreachable_revocation_is_flagged_not_refused(
    signed_deps: Deps,
    config: HubConfig,
    server: RevocationServer,
    loaded_keys: dict[str, LoadedKey],
) -> None:
    data = sign_envelope(_edoc("31", attachments=[]), loaded_keys["agency"])
    server.available = False
    result = _services(signed_deps, config).push(UBND, data)
    # No attachment is a profile warning of its own (flagged, not refused); the signature's
    # finding is the one this test is about.
    assert result.warnings == ("profile.attachments_missing", "signature.indeterminate")
    stored = _stored(signed_deps, result.doc_id)
    assert stored["envelope"] == "indeterminate"
    assert (stored["envelope_verdict"], stored["envelope_subindication"]) == (
        "indeterminate",
        "TRY_LATER",
    )
    assert stored["verdict"] == "indeterminate"
    (row,) = _services(signed_deps, config, add=False).list_sent(UBND, result.doc_id)
    assert row.verdict == "indeterminate"


def test_policy_may_refuse_indeterminate(
    signed_deps: Deps,
    config: HubConfig,
    server: RevocationServer,
    loaded_keys: dict[str, LoadedKey],
) -> None:
    data = sign_envelope(_edoc("32", attachments=[]), loaded_keys["agency"])
    server.down.add("root")  # the sub-CA's revocation cannot be established
    strict = _services(signed_deps, config, SenderPolicy(envelope_indeterminate=Action.REFUSE))
    with pytest.raises(PolicyRefused) as info:
        strict.push(UBND, data)
    assert info.value.code == "policy.signature.indeterminate"


def test_revoked_sub_ca_is_refused_as_invalid(
    signed_deps: Deps, config: HubConfig, key_files: dict[str, Path]
) -> None:
    from signing.keys import load_key
    from tests.pki import KEY_PASSWORD

    key = load_key(f"file:{key_files['revoked_ca_leaf.p12']}", pin=KEY_PASSWORD)
    try:
        data = sign_envelope(_edoc("33", attachments=[]), key)
    finally:
        key.close()
    with pytest.raises(PolicyRefused) as info:
        _services(signed_deps, config).push(UBND, data)
    assert info.value.code == "policy.signature.invalid"


def _resigned(data: bytes, key: LoadedKey) -> bytes:
    """The same package under another code (not a duplicate of the one already taken)."""
    return sign_envelope(data.replace(b">34<", b">35<", 1), key)


def test_pdf_outcomes_are_stored_and_decided(
    signed_deps: Deps,
    config: HubConfig,
    pki: TestPki,
    loaded_keys: dict[str, LoadedKey],
) -> None:
    good = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))
    old = PdfSigningService(signer_for(pki.expired, [pki.sub_ca.cert]))
    request = SignRequest(SignatureRole.ATTACHMENT, number="34/UBND")
    attachments = [
        pdf_attachment("a.pdf", content_id="1", data=good.sign(make_pdf(1), request)),
        pdf_attachment("b.pdf", content_id="2", data=old.sign(make_pdf(1), request)),
    ]
    data = sign_envelope(_edoc("34", attachments=attachments), loaded_keys["agency"])
    result = _services(signed_deps, config).push(UBND, data)
    assert result.warnings == ("pdf_signature.undecided",)
    stored = _stored(signed_deps, result.doc_id)
    assert (stored["pdf_checked"], stored["pdf_invalid"], stored["pdf_indeterminate"]) == (2, 0, 1)
    assert stored["verdict"] == "indeterminate"
    strict = SenderPolicy(pdf_indeterminate=Action.REFUSE)
    refusing = _services(signed_deps, config, strict, add=False)
    with pytest.raises(PolicyRefused) as info:
        refusing.push(UBND, _resigned(data, loaded_keys["agency"]))
    assert info.value.code == "policy.pdf_signature.undecided"


def test_every_finding_code_fits_the_audit_log() -> None:
    """A refusal is audited as ``policy.<code>`` in a 32-character column (PostgreSQL
    refuses longer values), so every code the policy can produce must fit."""
    everything = SenderPolicy(
        envelope_missing=Action.REFUSE,
        envelope_untrusted=Action.REFUSE,
        envelope_indeterminate=Action.REFUSE,
        pdf_bad=Action.REFUSE,
    )
    codes = set()
    for status in EnvelopeStatus:
        verdicts = Verdicts(status, pdf_checked=3, pdf_bad=2, pdf_indeterminate=1)
        decision = decide(everything, profile_ok=False, verdicts=verdicts)
        codes |= {f.code for f in decision.refused}
    assert "pdf_signature.undecided" in codes
    assert "signature.indeterminate" in codes
    assert max(len(f"policy.{code}") for code in codes) <= 32
