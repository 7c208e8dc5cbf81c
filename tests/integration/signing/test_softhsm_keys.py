"""PKCS#11 keys on a real SoftHSM2 token: load, sign, XML-DSig, pyHanko signer, every error.

The token lives in a private ``SOFTHSM2_CONF`` under a tmp dir; the agency key is imported with
``softhsm2-util --import`` (PKCS#8 PEM) and its certificate written as a CKO_CERTIFICATE object
with python-pkcs11.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from hub.errors import KeyAccessError
from signing.keys import DEFAULT_PKCS11_MODULE, PIN_ENV, LoadedKey, load_key
from signing.trust import TrustStore
from signing.xmldsig import SignatureVerifier, sign_envelope
from tests.pki import TestPki
from tests.signing_fixtures import build_package

pytestmark = pytest.mark.integration

TOKEN = "lienthong-test"
#: A second token on which no key stays loaded: login errors are only visible without a login
#: already held by the process (PKCS#11 login state is per application and token).
ERR_TOKEN = "lienthong-errors"
PIN = "246810"
SO_PIN = "13579135"


@pytest.fixture(scope="module")
def softhsm(
    pki: TestPki, key_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    util = shutil.which("softhsm2-util")
    if util is None or not Path(DEFAULT_PKCS11_MODULE).exists():
        pytest.fail("SoftHSM2 is not installed (scripts/services installs softhsm2)")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    env = dict(os.environ)

    def run(*args: str) -> None:
        subprocess.run([util, *args], check=True, capture_output=True, env=env)

    run("--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN, "--pin", PIN)
    run("--init-token", "--free", "--label", ERR_TOKEN, "--so-pin", SO_PIN, "--pin", PIN)
    pk8 = str(key_files["agency-key.pk8.pem"])
    run("--import", pk8, "--token", ERR_TOKEN, "--label", "agency", "--id", "01", "--pin", PIN)
    for label, key_id, pem in (
        ("agency", "01", key_files["agency-key.pk8.pem"]),
        ("agency-ec", "02", None),
    ):
        if pem is None:
            path = base / "ec.pk8.pem"
            path.write_bytes(pki.agency_ec.key_pem)
            pem = path
        run("--import", str(pem), "--token", TOKEN, "--label", label, "--id", key_id, "--pin", PIN)

    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    lib = pkcs11.lib(DEFAULT_PKCS11_MODULE)
    lib.reinitialize()  # pick up the private SOFTHSM2_CONF even if loaded before
    token = lib.get_token(token_label=TOKEN)
    with token.open(rw=True, user_pin=PIN) as session:
        for label, key_id, issued in (
            ("agency", b"\x01", pki.agency),
            ("agency-ec", b"\x02", pki.agency_ec),
            ("sub-ca", b"\x09", pki.sub_ca),
        ):
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: label,
                    Attribute.ID: key_id,
                    Attribute.SUBJECT: issued.cert.subject.public_bytes(),
                    Attribute.VALUE: issued.cert.public_bytes(serialization.Encoding.DER),
                }
            )
    try:
        yield str(conf)
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


@pytest.fixture(scope="module")
def token_key(softhsm: str) -> Iterator[LoadedKey]:
    key = load_key(f"pkcs11:token={TOKEN};object=agency", pin=PIN)
    yield key
    key.close()


def test_token_key_signs_and_carries_its_certificate(token_key: LoadedKey, pki: TestPki) -> None:
    assert token_key.certificate == pki.agency.cert
    assert pki.sub_ca.cert in token_key.chain
    sig = token_key.sign(b"payload", "sha256")
    pub = pki.agency.cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    pub.verify(sig, b"payload", padding.PKCS1v15(), hashes.SHA256())


def test_ec_token_key_gives_der_ecdsa(softhsm: str, pki: TestPki) -> None:
    key = load_key(f"pkcs11:token={TOKEN};object=agency-ec", env={PIN_ENV: PIN})
    try:
        sig = key.sign(b"payload", "sha256")
        pub = pki.agency_ec.cert.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(sig, b"payload", ec.ECDSA(hashes.SHA256()))
    finally:
        key.close()


def test_envelope_signed_on_the_token_verifies(
    token_key: LoadedKey, trust_store: TrustStore, pki_online: TestPki
) -> None:
    signed = sign_envelope(build_package(), token_key)
    verdict = SignatureVerifier(trust_store).verify_envelope(signed, "000.00.31.H99")
    assert verdict.bottom_line, verdict.problem_en


def test_ecdsa_envelope_signed_on_the_token_verifies(
    softhsm: str, trust_store: TrustStore, pki_online: TestPki
) -> None:
    key = load_key(f"pkcs11:token={TOKEN};object=agency-ec", pin=PIN)
    try:
        signed = sign_envelope(build_package(), key)
    finally:
        key.close()
    verdict = SignatureVerifier(trust_store).verify_envelope(signed, "000.00.31.H99")
    assert verdict.bottom_line, verdict.problem_en
    assert verdict.signature_algorithm is not None
    assert verdict.signature_algorithm.endswith("ecdsa-sha256")


def test_pyhanko_signer_on_the_token(token_key: LoadedKey, pki: TestPki) -> None:
    signer = token_key.pyhanko_signer()
    assert signer is token_key.pyhanko_signer()
    sig = asyncio.run(signer.async_sign_raw(b"data", "sha256"))
    pub = pki.agency.cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    pub.verify(sig, b"data", padding.PKCS1v15(), hashes.SHA256())


def test_object_id_selects_the_key(softhsm: str, pki: TestPki) -> None:
    key = load_key(f"pkcs11:token={TOKEN};id=%01", pin=PIN)
    try:
        assert key.certificate == pki.agency.cert
    finally:
        key.close()


@pytest.mark.parametrize(
    ("uri", "pin", "code"),
    [
        (f"pkcs11:token={ERR_TOKEN};object=agency", "000000", "key.wrong_pin"),
        ("pkcs11:token=no-such-token;object=agency", PIN, "key.no_token"),
        (f"pkcs11:token={ERR_TOKEN};object=missing", PIN, "key.no_object"),
        (f"pkcs11:token={ERR_TOKEN};object=agency", PIN, "key.no_certificate"),
        (f"pkcs11:token={ERR_TOKEN};object=agency", None, "key.pin_missing"),
    ],
)
def test_token_errors_are_key_access_errors(
    softhsm: str, uri: str, pin: str | None, code: str
) -> None:
    with pytest.raises(KeyAccessError) as info:
        load_key(uri, pin=pin, env={})
    assert info.value.code == code
    text = info.value.message_en + info.value.message_vi + repr(info.value.to_dict())
    assert PIN not in text
    assert "000000" not in text


def test_missing_module_is_key_access_error(tmp_path: Path) -> None:
    with pytest.raises(KeyAccessError) as info:
        load_key(f"pkcs11:token={TOKEN};object=agency", pin=PIN, module=str(tmp_path / "x.so"))
    assert info.value.code == "key.module"
