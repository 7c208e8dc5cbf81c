"""Harmless omissions through the intake: accepted with warnings that both ends see, refused
only where the sending agency's policy escalates them; what breaks meaning stays refused with
its element path."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from hub import xmlsafe
from hub.edxml.model import NS, MessageKind, PromulgationInfo
from hub.edxml.problems import warning
from hub.edxml.profile_rules import WARNING_CODES
from hub.errors import PolicyRefused, ProfileError
from hub.policy import Action, PolicyBook, SenderPolicy, decide
from hub.ports import EnvelopeStatus, Verdicts
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.hub import HubServices
from hub.settings import SettingsError, load_settings
from tests.factories import make_edoc, make_status
from tests.unit.hub.conftest import SO, UBND
from tests.unit.hub.test_hub_services import drain

SENDER = "000.00.00.H41"  # hosted by UBND
OTHER_SENDER = "000.00.01.H41"  # also hosted by UBND
SO_CODE = "000.00.02.H41"  # hosted by SO
MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
Q = "{" + NS + "}"


def library_style_edoc(sender: str = SENDER, **kw: object) -> bytes:
    """An edoc as the official EdXML102 builder writes it when the caller sets no SignerInfo,
    no place of issue, no ToPlaces and no OtherInfo: the elements are simply absent."""
    kw.setdefault("code_number", "42")
    return make_edoc(
        sender=sender,
        to=[SO_CODE],
        signer_info=None,
        to_places=(),
        other_info=None,
        promulgation_info=PromulgationInfo(None, None),
        **kw,  # type: ignore[arg-type]
    )


LIBRARY_WARNINGS = (
    "profile.issue_place_missing",
    "profile.issue_date_missing",
    "profile.signer_info_missing",
)


def services(deps: Deps, config: HubConfig, policy: PolicyBook | None = None) -> HubServices:
    if policy is not None:
        config = dataclasses.replace(config, policy=policy)
    hub = HubServices(deps, config, SecretBox(generate_key()))
    hub.systems.add(UBND, [SENDER, OTHER_SENDER], secret="s")
    hub.systems.add(SO, [SO_CODE], secret="s")
    return hub


# -------------------------------------------------------------------------- accepted, flagged


def test_library_package_without_signer_info_is_accepted_with_warnings(
    deps: Deps, config: HubConfig
) -> None:
    hub = services(deps, config)
    result = hub.push(UBND, library_style_edoc())
    assert result.warnings == LIBRARY_WARNINGS
    with deps.uow() as uow:
        doc = uow.documents.get(result.doc_id)
        assert doc is not None
        assert list(doc.flags) == list(LIBRARY_WARNINGS)
        stored = {p["code"]: p for p in doc.problems}
        assert stored["profile.signer_info_missing"]["path"] == f"{MH}/SignerInfo"
        assert stored["profile.signer_info_missing"]["severity"] == "warning"
        assert "SignerInfo" in stored["profile.signer_info_missing"]["message"]
    drain(hub)
    # The recipient sees the flags on its inbox item ...
    inbox = hub.list_received(SO, MessageKind.EDOC)
    assert [i.doc_id for i in inbox] == [result.doc_id]
    assert inbox[0].flags == LIBRARY_WARNINGS
    # ... and the sender on its sent list.
    sent = hub.list_sent(UBND, result.doc_id)
    assert [s.flags for s in sent] == [LIBRARY_WARNINGS]


def test_status_without_staff_info_and_timestamp_is_accepted_with_warnings(
    deps: Deps, config: HubConfig
) -> None:
    hub = services(deps, config)
    original = hub.push(UBND, make_edoc(sender=SENDER, to=[SO_CODE]))
    drain(hub)

    def change(root: etree._Element) -> None:
        for name in ("StaffInfo", "Timestamp"):
            el = next(root.iter(Q + name))
            parent = el.getparent()
            assert parent is not None
            parent.remove(el)

    assert original.document_id
    status = mutate(
        make_status(
            sender=SO_CODE,
            response_to=SENDER,
            document_id=original.document_id,
            status_code="03",
        ),
        change,
    )
    result = hub.push(SO, status)
    assert result.warnings == ("profile.status_staff_missing", "profile.timestamp_missing")
    # Routed and recorded all the same: the sender sees the answer on its sent list.
    assert [r.recipient for r in result.recipients] == [SENDER]
    assert [s.receive_status for s in hub.list_sent(UBND, original.doc_id)] == ["03"]


# -------------------------------------------------------------------------- escalated by policy


def test_sender_policy_escalating_a_warning_refuses_with_its_code(
    deps: Deps, config: HubConfig
) -> None:
    strict = SenderPolicy(warnings={"profile.signer_info_missing": Action.REFUSE})
    hub = services(deps, config, PolicyBook(overrides={SENDER: strict}))
    with pytest.raises(PolicyRefused) as info:
        hub.push(UBND, library_style_edoc())
    assert info.value.code == "profile.signer_info_missing"
    assert info.value.path == f"{MH}/SignerInfo"
    assert "SignerInfo" in info.value.message_vi
    with deps.uow() as uow:
        outcomes = [r.outcome for r in uow.audit.recent(limit=5)]
    assert "profile.signer_info_missing" in outcomes
    # Another agency of the same system keeps the default: accepted, flagged.
    other = hub.push(UBND, library_style_edoc(OTHER_SENDER))
    assert "profile.signer_info_missing" in other.warnings
    # The same sender with the element present is accepted.
    assert hub.push(UBND, make_edoc(sender=SENDER, to=[SO_CODE], code_number="7")).warnings == ()


def test_policy_may_silence_a_family_or_flag_one_code_only(deps: Deps, config: HubConfig) -> None:
    quiet = SenderPolicy(
        profile_warnings=Action.ACCEPT,
        warnings={"profile.issue_place_missing": Action.FLAG},
    )
    hub = services(deps, config, PolicyBook(overrides={SENDER: quiet}))
    result = hub.push(UBND, library_style_edoc())
    assert result.warnings == ("profile.issue_place_missing",)
    with deps.uow() as uow:
        doc = uow.documents.get(result.doc_id)
        assert doc is not None
        # Accepting a warning silences the flag, not the finding: the problems keep it.
        assert "profile.signer_info_missing" in {p["code"] for p in doc.problems}


# -------------------------------------------------------------------------- still refused


def mutate(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = xmlsafe.parse(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _remove(name: str, within: str | None = None) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        scope = next(root.iter(Q + within)) if within else root
        el = next(scope.iter(Q + name))
        parent = el.getparent()
        assert parent is not None
        parent.remove(el)

    return change


def _set(name: str, text: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        next(root.iter(Q + name)).text = text

    return change


def _edoc(**kw: object) -> bytes:
    kw.setdefault("sender", SENDER)
    kw.setdefault("to", [SO_CODE])
    return make_edoc(**kw)  # type: ignore[arg-type]


def _status(**kw: object) -> bytes:
    return make_status(sender=SENDER, response_to=SO_CODE, **kw)


BUSS = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness"
ATT = "/edXML/AttachmentEncoded/Attachment"

MEANING_BREAKERS = [
    ("no DocumentId", lambda: mutate(_edoc(), _remove("DocumentId")), "edxml.required",
     f"{MH}/DocumentId"),
    ("no recipient code", lambda: _edoc(to=[""]), "edxml.required", f"{MH}/To/OrganId"),
    ("unknown business action", lambda: mutate(_edoc(), _set("BussinessDocType", "7")),
     "edxml.value", f"{BUSS}/BussinessDocType"),
    ("replace naming nothing", lambda: _edoc(business_type=3), "edxml.required",
     f"{BUSS}/ReplacementInfoList/ReplacementInfo"),
    ("undecodable attachment", lambda: mutate(_edoc(), _set("ContentTransferEncoded", "[x]")),
     "attachment.undecodable", f"{ATT}/ContentTransferEncoded"),
    ("attachment without ContentId", lambda: mutate(_edoc(), _remove("ContentId", "Attachment")),
     "edxml.required", f"{ATT}/ContentId"),
    ("status without StatusCode", lambda: mutate(_status(), _set("StatusCode", "")),
     "edxml.required", f"{MH}/StatusCode"),
    ("status without route", lambda: mutate(_status(), _remove("OrganId", "ResponseFor")),
     "edxml.required", f"{MH}/ResponseFor/OrganId"),
    ("status about no document", lambda: mutate(_status(), _remove("DocumentId", "ResponseFor")),
     "edxml.required", f"{MH}/ResponseFor/DocumentId"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "code", "path"),
    [pytest.param(m, c, p, id=name) for name, m, c, p in MEANING_BREAKERS],
)
def test_what_breaks_meaning_is_still_refused_with_its_path(
    deps: Deps, config: HubConfig, make: Callable[[], bytes], code: str, path: str
) -> None:
    hub = services(deps, config)
    with pytest.raises(ProfileError) as info:
        hub.push(UBND, make())
    errors = [p for p in info.value.problems if p.is_error]
    assert (errors[0].code, errors[0].path) == (code, path)
    assert info.value.path == path


# -------------------------------------------------------------------------- the policy value


def test_every_warning_code_fits_the_audit_outcome_column() -> None:
    # A refusal is audited under its code (audit.outcome); an escalated warning is refused
    # under the warning's own code, so each must fit the column on PostgreSQL.
    from adapters.store.tables import audit

    width = audit.c.outcome.type.length  # type: ignore[attr-defined]
    assert width is not None
    assert max(len(code) for code in WARNING_CODES) <= width


def test_warning_action_exact_code_wins_over_family() -> None:
    p = SenderPolicy(
        warnings={"agency.*": Action.REFUSE, "agency.unknown": Action.ACCEPT},
    )
    assert p.warning_action("agency.closed") is Action.REFUSE
    assert p.warning_action("agency.unknown") is Action.ACCEPT
    assert p.warning_action("profile.signer_info_missing") is Action.FLAG
    assert SenderPolicy().warning_action("profile.signer_info_missing") is Action.FLAG


def test_unknown_warning_codes_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"profile\.signer_missing"):
        SenderPolicy(warnings={"profile.signer_missing": Action.REFUSE})
    with pytest.raises(ValueError, match="nothing"):
        SenderPolicy(warnings={"nothing.*": Action.REFUSE})
    with pytest.raises(ValueError):
        SenderPolicy(warnings={"edxml.required": Action.ACCEPT})  # an error is not a warning


def test_decide_makes_one_finding_per_warning_code() -> None:
    found = [
        warning("agency.malformed", f"{MH}/To[1]/OrganId", "bad", "sai"),
        warning("agency.malformed", f"{MH}/To[2]/OrganId", "bad", "sai"),
        warning("profile.signer_info_missing", f"{MH}/SignerInfo", "none", "thiếu"),
    ]
    strict = SenderPolicy(warnings={"profile.signer_info_missing": Action.REFUSE})
    decision = decide(
        strict, profile_ok=True, verdicts=Verdicts(EnvelopeStatus.VALID), warnings=found
    )
    assert decision.flags == ("agency.malformed",)
    assert [(f.code, f.path) for f in decision.refused] == [
        ("profile.signer_info_missing", f"{MH}/SignerInfo")
    ]
    assert not decision.accepted


def test_settings_read_per_sender_warning_actions(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "hub: {organ_id: '000.00.00.H41'}\n"
        "policy:\n"
        "  default: {warnings: {'signature.*': accept}}\n"
        "  senders:\n"
        "    '000.00.00.g22': {warnings: {profile.signer_info_missing: refuse}}\n",
        encoding="utf-8",
    )
    s = load_settings(path, env={})
    g22 = s.policy.for_sender("000.00.00.G22")
    assert g22.warning_action("profile.signer_info_missing") is Action.REFUSE
    assert s.policy.default.warning_action("signature.placeholder") is Action.ACCEPT
    assert s.policy.default.warning_action("profile.signer_info_missing") is Action.FLAG
    path.write_text(
        "hub: {organ_id: X}\npolicy:\n  senders:\n"
        "    '000.00.00.G22': {warnings: {profile.signer: refuse}}\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError, match=r"policy\.senders\.000\.00\.00\.G22\.warnings"):
        load_settings(path, env={})
    path.write_text(
        "hub: {organ_id: X}\npolicy:\n  default: {warnings: {agency.unknown: maybe}}\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError, match="maybe"):
        load_settings(path, env={})
