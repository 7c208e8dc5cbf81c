"""The dashboard's document page shows the stored three-way outcome of the signatures.

A whole hub (``build_hub`` on a temporary SQLite directory) with the real signature port over
the generated PKI; the package's envelope is signed, and the revocation server is down while it
is pushed, so the stored outcome is indeterminate (``TRY_LATER``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.entrypoints.bootstrap import Hub, build_hub
from hub.settings import load_settings
from signing.envelope_port import HubSignatureVerifier
from signing.keys import LoadedKey
from signing.trust import TrustStore
from signing.xmldsig import SignatureVerifier, sign_envelope
from tests.factories import make_edoc
from tests.pki import RevocationServer, TestPki

UBND = "qlvb.ubnd"
LOOPBACK = ("127.0.0.1", 50124)


@pytest.fixture
def hub(tmp_path: Path, trust_store: TrustStore, pki_online: TestPki) -> Iterator[Hub]:
    settings = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")})
    port = HubSignatureVerifier(SignatureVerifier(trust_store))
    h = build_hub(settings, verifier=port, links={})
    h.services.systems.add(UBND, ["000.00.00.H41"], secret="ubnd-secret-0a9d")
    h.services.systems.add("qlvb.so", ["000.00.02.H41"], secret="so-secret-4e2b")
    yield h
    h.close()


def test_document_page_shows_the_outcome_word(
    hub: Hub,
    loaded_keys: dict[str, LoadedKey],
    revocation_server: RevocationServer,
) -> None:
    data = make_edoc(sender="000.00.00.H41", to=["000.00.02.H41"], attachments=[])
    signed = sign_envelope(data, loaded_keys["agency"])
    revocation_server.available = False
    try:
        result = hub.services.push(UBND, signed)
    finally:
        revocation_server.available = True
    assert result.warnings == ("profile.attachments_missing", "signature.indeterminate")
    with TestClient(hub.app(), client=LOOPBACK, follow_redirects=False) as client:
        vi = client.get(f"/dashboard/documents/{result.doc_id}").text
        assert "CHƯA XÁC ĐỊNH ĐƯỢC</b> (TRY_LATER)" in vi
        assert "envelope: <b>indeterminate</b>" in vi
        en = client.get(f"/dashboard/documents/{result.doc_id}?lang=en").text
        assert "INDETERMINATE</b> (TRY_LATER)" in en
