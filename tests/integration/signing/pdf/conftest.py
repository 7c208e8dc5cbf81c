"""Fixtures for PDF signature integration tests: the loopback TSA, poppler's ``pdfsig`` with an
NSS database trusting the test root, and a SoftHSM2 token holding the agency key.

Tools come from Debian packages that ``scripts/services`` installs (``poppler-utils``,
``libnss3-tools`` for ``certutil``, ``softhsm2``); a missing tool fails the test with the
package to install rather than skipping it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from signing.keys import DEFAULT_PKCS11_MODULE, LoadedKey, load_key
from tests.pki import TestPki
from tests.tsa import TsaServer

TOKEN = "lienthong-pdf"
PIN = "112233"
SO_PIN = "99887766"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install {package}; see scripts/services)")
    return path


@pytest.fixture(scope="session")
def tsa_server(pki: TestPki) -> Iterator[TsaServer]:
    """An RFC 3161 TSA on 127.0.0.1 whose certificate chains to the test root."""
    server = TsaServer((pki.root.cert, pki.root.key), name="TSA thử nghiệm").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nss_db(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NSS database (``pdfsig -nssdir``) trusting the test root for signing."""
    certutil = _tool("certutil", "libnss3-tools")
    base = tmp_path_factory.mktemp("nssdb")
    db = f"sql:{base}"
    subprocess.run([certutil, "-N", "-d", db, "--empty-password"], check=True, capture_output=True)
    for nick, issued, trust in (("root", pki.root, "CT,C,C"), ("sub-ca", pki.sub_ca, ",,")):
        pem = base / f"{nick}.pem"
        pem.write_bytes(issued.cert_pem)
        subprocess.run(
            [certutil, "-A", "-d", db, "-n", nick, "-t", trust, "-a", "-i", str(pem)],
            check=True,
            capture_output=True,
        )
    return base


@pytest.fixture(scope="session")
def run_pdfsig(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """``run(pdf_bytes, nssdir=None)`` → pdfsig's report (stdout)."""
    pdfsig = _tool("pdfsig", "poppler-utils")
    work = tmp_path_factory.mktemp("pdfsig")
    counter = iter(range(1_000_000))

    def run(pdf: bytes, nssdir: Path | None = None) -> str:
        path = work / f"doc-{next(counter)}.pdf"
        path.write_bytes(pdf)
        # OCSP stays on: the test certificates name the loopback responder (and poppler 22–25
        # answers "Unknown issue" for every certificate when -no-ocsp is given).
        cmd = [pdfsig]
        if nssdir is not None:
            cmd += ["-nssdir", f"sql:{nssdir}"]
        done = subprocess.run(
            [*cmd, str(path)], capture_output=True, text=True, timeout=60, check=False
        )
        return done.stdout

    return run


@pytest.fixture(scope="module")  # module: other modules re-initialise the PKCS#11 library
def softhsm_agency_key(
    pki: TestPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoadedKey]:
    """The agency key imported into a private SoftHSM2 token, loaded through PKCS#11."""
    util = _tool("softhsm2-util", "softhsm2")
    if not Path(DEFAULT_PKCS11_MODULE).exists():
        pytest.fail(f"no PKCS#11 module at {DEFAULT_PKCS11_MODULE} (apt-get install softhsm2)")
    base = tmp_path_factory.mktemp("softhsm-pdf")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    key_pem = base / "agency.pk8.pem"
    key_pem.write_bytes(pki.agency.key_pem)
    env = dict(os.environ)
    for args in (
        ["--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN, "--pin", PIN],
        [
            "--import",
            str(key_pem),
            "--token",
            TOKEN,
            "--label",
            "agency",
            "--id",
            "01",
            "--pin",
            PIN,
        ],
    ):
        subprocess.run([util, *args], check=True, capture_output=True, env=env)
    key_pem.unlink()

    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    lib = pkcs11.lib(DEFAULT_PKCS11_MODULE)
    lib.reinitialize()  # pick up the private SOFTHSM2_CONF
    with lib.get_token(token_label=TOKEN).open(rw=True, user_pin=PIN) as session:
        for label, key_id, issued in (
            ("agency", b"\x01", pki.agency),
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
    key = load_key(f"pkcs11:token={TOKEN};object=agency", pin=PIN)
    try:
        yield key
    finally:
        key.close()
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old
