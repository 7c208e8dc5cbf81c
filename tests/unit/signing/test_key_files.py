"""Loading file keys: PKCS#12, PEM, errors that say what is wrong and never the PIN."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from hub.errors import KeyAccessError
from signing.keys import PIN_ENV, KeyRef, load_key
from tests.pki import KEY_PASSWORD, TestPki


def _verify(cert_pub: object, sig: bytes, data: bytes) -> None:
    if isinstance(cert_pub, rsa.RSAPublicKey):
        cert_pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(cert_pub, ec.EllipticCurvePublicKey)
        cert_pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    ("name", "pin"),
    [
        ("agency.p12", KEY_PASSWORD),
        ("agency.pem", None),
        ("agency-enc.pem", KEY_PASSWORD),
        ("agency_ec.pem", None),
    ],
)
def test_file_keys_load_and_sign(
    key_files: dict[str, Path], pki: TestPki, name: str, pin: str | None
) -> None:
    key = load_key(f"file:{key_files[name]}", pin=pin)
    expected = pki.agency_ec if name.startswith("agency_ec") else pki.agency
    assert key.certificate == expected.cert
    sig = key.sign(b"payload", "sha256")
    _verify(key.certificate.public_key(), sig, b"payload")


def test_chain_comes_with_the_key(key_files: dict[str, Path], pki: TestPki) -> None:
    key = load_key(f"file:{key_files['agency.p12']}", pin=KEY_PASSWORD)
    assert pki.sub_ca.cert in key.chain


def test_pin_from_environment(key_files: dict[str, Path]) -> None:
    key = load_key(f"file:{key_files['person.p12']}", env={PIN_ENV: KEY_PASSWORD})
    assert key.certificate.subject.rfc4514_string().startswith("CN=Nguyễn Văn An")


def test_pin_from_prompt(key_files: dict[str, Path]) -> None:
    key = load_key(f"file:{key_files['person.p12']}", env={}, prompt=lambda: KEY_PASSWORD)
    assert key.sign(b"x")


def test_wrong_pin_is_key_access_error_without_the_pin(key_files: dict[str, Path]) -> None:
    with pytest.raises(KeyAccessError) as info:
        load_key(f"file:{key_files['agency.p12']}", pin="secret-wrong-9876", env={})
    err = info.value
    assert err.code == "key.wrong_pin"
    assert "secret-wrong-9876" not in str(err.to_dict()) + err.message_en + err.message_vi


def test_expired_certificate_is_refused(key_files: dict[str, Path]) -> None:
    with pytest.raises(KeyAccessError) as info:
        load_key(f"file:{key_files['expired.p12']}", pin=KEY_PASSWORD)
    assert info.value.code == "key.expired"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyAccessError) as info:
        load_key(f"file:{tmp_path / 'nope.p12'}", pin="x")
    assert info.value.code == "key.missing"


def test_key_without_certificate(key_files: dict[str, Path]) -> None:
    with pytest.raises(KeyAccessError) as info:
        load_key(f"file:{key_files['agency-key.pk8.pem']}")
    assert info.value.code == "key.no_certificate"


def test_pkcs11_uri_parsing() -> None:
    ref = KeyRef.parse("pkcs11:token=Token%20A;object=agency;id=%01%02?module-path=/x/y.so")
    assert (ref.token, ref.object, ref.object_id, ref.module) == (
        "Token A",
        "agency",
        b"\x01\x02",
        "/x/y.so",
    )


@pytest.mark.parametrize(
    "uri",
    [
        "pkcs11:token=a;object=b;pin-value=1234",
        "pkcs11:token=a;object=b?pin-value=1234",
        "pkcs11:token=a;object=b?pin-source=file:/tmp/pin",
    ],
)
def test_pin_in_uri_is_refused(uri: str) -> None:
    with pytest.raises(KeyAccessError) as info:
        KeyRef.parse(uri)
    assert info.value.code == "key.pin_in_uri"
    assert "1234" not in info.value.message_en


@pytest.mark.parametrize("ref", ["pkcs11:object=b", "/etc/key.pem", "http://x"])
def test_bad_references(ref: str) -> None:
    with pytest.raises(KeyAccessError):
        KeyRef.parse(ref)


def test_pyhanko_signer_signs_with_the_loaded_key(key_files: dict[str, Path]) -> None:
    key = load_key(f"file:{key_files['agency.p12']}", pin=KEY_PASSWORD)
    signer = key.pyhanko_signer()
    assert signer is key.pyhanko_signer()
    sig = signer.sign_raw(b"data", "sha256")
    _verify(key.certificate.public_key(), sig, b"data")
