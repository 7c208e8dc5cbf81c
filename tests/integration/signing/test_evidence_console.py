"""The console's evidence page and ASiC-E download (adapters/http/console/evidence.py) over a
whole hub: the chain sealed and timestamped by the real loopback TSA, receipts signed with the
generated PKI's key, and the download checked by ``lienthong evidence verify``'s own code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from adapters.memory import ManualClock, MemoryPeer
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.ports import NATIONAL_LINK, NullVerifier
from hub.settings import load_settings
from signing.evidence_asic import verify_container
from tests.message_log_support import SO, UBND, Scenario, populate
from tests.pki import TestPki
from tests.tsa import TsaServer

LOOPBACK = ("127.0.0.1", 50125)


@pytest.fixture(scope="module")
def tsa() -> Iterator[TsaServer]:
    with TsaServer() as server:
        yield server


def _hub(tmp_path: Path, tsa: TsaServer, key: str | None) -> Hub:
    env = {"LIENTHONG_DATA_DIR": str(tmp_path / "data"), "LIENTHONG_EVIDENCE_TSA_URL": tsa.url}
    if key is not None:
        env["LIENTHONG_EVIDENCE_KEY"] = key
    hub = build_hub(load_settings(env=env), verifier=NullVerifier(), links={}, clock=ManualClock())
    hub.services.systems.add(UBND, ["000.00.00.H41", "000.00.01.H41"], secret="ubnd-s3cret")
    hub.services.systems.add(SO, ["000.00.02.H41"], secret="so-s3cret")
    return hub


def _populated(hub: Hub) -> Scenario:
    assert isinstance(hub.clock, ManualClock)
    return populate(hub.services, MemoryPeer(NATIONAL_LINK), hub.clock)


def test_the_evidence_page_lists_the_chain_and_the_download_verifies(
    tmp_path: Path, tsa: TsaServer, key_files: dict[str, Path], pki: TestPki
) -> None:
    hub = _hub(tmp_path, tsa, f"file:{key_files['agency.pem']}")
    try:
        s = _populated(hub)
        assert hub.evidence is not None
        hub.evidence.seal_once()
        with TestClient(hub.app(), client=LOOPBACK) as c:
            unsealed_later = hub.services.push(  # sealed after the round: shown as pending
                UBND, _late_edoc()
            )
            page = c.get(f"/dashboard/documents/{s.a}/evidence?lang=en")
            assert page.status_code == 200
            assert "Download the evidence (ASiC-E)" in page.text
            seqs = re.findall(r"<tr><td>(\d+)</td>", page.text)
            assert len(seqs) >= 6  # a's two deliveries, each created, moved, status/remote
            assert "not timestamped yet" not in page.text
            pending = c.get(f"/dashboard/documents/{unsealed_later.doc_id}/evidence?lang=en")
            assert "not sealed yet" in pending.text
            assert c.get("/dashboard/documents/nope/evidence").status_code == 404

            r = c.get(f"/dashboard/documents/{s.a}/evidence.asice")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/vnd.etsi.asic-e+zip"
            cas = [
                pki.root.cert.public_bytes(Encoding.DER),
                tsa.root_cert.public_bytes(Encoding.DER),
            ]
            report = verify_container(r.content, cas)
            assert report.ok, report.problems
            assert report.document.get("doc_id") == s.a
            assert report.events_proven == len(seqs)
            assert report.events_pending == 0
            wrong = verify_container(r.content[:-200] + bytes(200), cas)
            assert not wrong.ok
        [audit] = hub.monitor().audit(action="evidence.export")
        assert (audit.subject, audit.outcome) == (s.a, "ok")
    finally:
        hub.close()


def test_without_a_receipt_key_the_download_says_why(tmp_path: Path, tsa: TsaServer) -> None:
    hub = _hub(tmp_path, tsa, None)
    try:
        s = _populated(hub)
        with TestClient(hub.app(), client=LOOPBACK) as c:
            assert c.get(f"/dashboard/documents/{s.a}/evidence").status_code == 200
            r = c.get(f"/dashboard/documents/{s.a}/evidence.asice?lang=en")
            assert r.status_code == 503
            assert "no receipt key" in r.text
        [audit] = hub.monitor().audit(action="evidence.export")
        assert audit.outcome == "evidence.no_key"
    finally:
        hub.close()


def _late_edoc() -> bytes:
    from tests.factories import make_edoc

    return make_edoc(sender="000.00.00.H41", to=["000.00.02.H41"], document_id="H41-LATE")
