"""Pytest plugin: the generated test PKI, its revocation server, key files, trust objects.

Loaded from ``tests/conftest.py`` (``pytest_plugins``). Everything is generated at test time
(:mod:`tests.pki`); nothing private is committed. Session scope: RSA-2048 generation is slow.

Fixtures:

* ``revocation_server`` — :class:`tests.pki.RevocationServer` on 127.0.0.1 (ephemeral port),
  serving the CRL and OCSP of ``pki``; reset to ``available = True`` for every test that
  uses ``pki_online``.
* ``pki`` — :class:`tests.pki.TestPki` whose leaf certificates point at that server.
* ``pki_online`` — the same PKI with the server guaranteed available (function scope).
* ``key_files`` — ``dict[str, Path]`` of PKCS#12/PEM files (see :func:`tests.pki.write_key_files`),
  password :data:`tests.pki.KEY_PASSWORD`.
* ``trust_store`` — :class:`signing.trust.TrustStore` of the PKI.
* ``make_trust_evaluator`` — factory ``(policy=None, **kw) -> TrustEvaluator``, a fresh cache
  each call.
* ``loaded_keys`` — ``dict[str, LoadedKey]`` for ``agency``, ``agency_ec``, ``person``,
  ``revoked`` (file keys, loaded once per session).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from signing.keys import LoadedKey, load_key
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from tests.pki import KEY_PASSWORD, RevocationServer, TestPki, build_pki, write_key_files


@pytest.fixture(scope="session")
def revocation_server() -> Iterator[RevocationServer]:
    server = RevocationServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pki(revocation_server: RevocationServer) -> TestPki:
    built = build_pki(crl_url=revocation_server.crl_url, ocsp_url=revocation_server.ocsp_url)
    revocation_server.pki = built
    return built


@pytest.fixture
def pki_online(pki: TestPki, revocation_server: RevocationServer) -> Iterator[TestPki]:
    revocation_server.available = True
    yield pki
    revocation_server.available = True


@pytest.fixture(scope="session")
def key_files(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_key_files(pki, tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def trust_store(pki: TestPki) -> TrustStore:
    return TrustStore.from_pem(pki.anchors_pem, pki.intermediates_pem)


@pytest.fixture
def make_trust_evaluator(
    trust_store: TrustStore,
) -> Callable[..., TrustEvaluator]:
    def make(policy: TrustPolicy | None = None, **kw: Any) -> TrustEvaluator:
        return TrustEvaluator(trust_store, policy or TrustPolicy(network_timeout=2.0), **kw)

    return make


@pytest.fixture(scope="session")
def loaded_keys(key_files: dict[str, Path]) -> Iterator[dict[str, LoadedKey]]:
    keys = {
        "agency": load_key(f"file:{key_files['agency.p12']}", pin=KEY_PASSWORD),
        "agency_ec": load_key(f"file:{key_files['agency_ec.pem']}"),
        "person": load_key(f"file:{key_files['person.p12']}", pin=KEY_PASSWORD),
        "revoked": load_key(f"file:{key_files['revoked.p12']}", pin=KEY_PASSWORD),
    }
    yield keys
    for key in keys.values():
        key.close()
