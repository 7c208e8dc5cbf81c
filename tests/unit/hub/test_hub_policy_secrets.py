"""Per-sender policy decisions, and secrets at rest."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hub.errors import KeyAccessError
from hub.policy import Action, PolicyBook, SenderPolicy, decide
from hub.ports import EnvelopeStatus, NullVerifier, Verdicts
from hub.secrets import KEY_FILE, SecretBox, generate_key, generate_secret, resolve_key


def test_safe_defaults() -> None:
    p = SenderPolicy()
    assert decide(p, profile_ok=True, verdicts=Verdicts(EnvelopeStatus.VALID)).findings == ()
    assert decide(p, profile_ok=True, verdicts=Verdicts(EnvelopeStatus.NOT_CHECKED)).accepted
    missing = decide(p, profile_ok=True, verdicts=Verdicts(EnvelopeStatus.MISSING))
    assert missing.accepted
    assert missing.flags == ("signature.missing",)
    invalid = decide(p, profile_ok=True, verdicts=Verdicts(EnvelopeStatus.INVALID))
    assert not invalid.accepted
    assert [f.code for f in invalid.refused] == ["signature.invalid"]
    assert not decide(p, profile_ok=False, verdicts=Verdicts(EnvelopeStatus.VALID)).accepted
    pdf = decide(p, profile_ok=True, verdicts=Verdicts(EnvelopeStatus.VALID, 2, 1))
    assert pdf.flags == ("pdf_signature.bad",)


def test_overrides_per_sender_and_accept_silences() -> None:
    book = PolicyBook(
        overrides={"000.00.00.g22": SenderPolicy(envelope_missing=Action.REFUSE)},
    )
    strict = book.for_sender("000.00.00.G22")
    assert not decide(strict, profile_ok=True, verdicts=Verdicts(EnvelopeStatus.MISSING)).accepted
    lax = SenderPolicy(profile_errors=Action.ACCEPT)
    assert decide(lax, profile_ok=False, verdicts=Verdicts(EnvelopeStatus.VALID)).findings == ()


def test_verdicts_bottom_line_and_null_verifier() -> None:
    assert Verdicts(EnvelopeStatus.VALID).bottom_line
    assert not Verdicts(EnvelopeStatus.VALID, 1, 1).bottom_line
    assert not Verdicts(EnvelopeStatus.UNTRUSTED).bottom_line
    v = NullVerifier().verify(None, b"", "000.00.00.H41")  # type: ignore[arg-type]
    assert v.to_dict()["envelope"] == "not_checked"


def test_secret_box_round_trip_and_wrong_key() -> None:
    box = SecretBox(generate_key())
    token = box.encrypt("hmac-secret")
    assert "hmac-secret" not in token
    assert box.decrypt(token) == "hmac-secret"
    with pytest.raises(KeyAccessError) as info:
        SecretBox(generate_key()).decrypt(token)
    assert info.value.code == "secrets.undecryptable"
    with pytest.raises(KeyAccessError):
        SecretBox(b"not a key")
    assert "key" in repr(box)
    assert len(generate_secret()) >= 40


def test_key_file_is_generated_once_outside_production(tmp_path: Path) -> None:
    key = resolve_key(None, tmp_path, production=False)
    assert resolve_key(None, tmp_path, production=False) == key
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    SecretBox(key)  # usable
    assert resolve_key("explicit", tmp_path, production=True) == b"explicit"
    with pytest.raises(KeyAccessError) as info:
        resolve_key(None, tmp_path / "prod", production=True)
    assert info.value.code == "secrets.key_missing"
    assert not (tmp_path / "prod").exists()
