"""Evidence-chain health as every process sees it, over a whole hub built by ``build_hub`` on a
temporary SQLite data directory with a real TSA on loopback (``tests/tsa.py``): ``/readyz`` says
degraded (still 200) with the reason when the TSA has been down longer than tolerated, and
``/metrics`` carries the gauges.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.memory import ManualClock
from adapters.store.evidence import SqlEvidenceChain
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.ports import NullVerifier
from hub.settings import load_settings
from tests.evidence_support import T0, EvidenceWorld
from tests.tsa import TsaServer

LOOPBACK = ("127.0.0.1", 50125)


@pytest.fixture
def tsa() -> Iterator[TsaServer]:
    with TsaServer() as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def hub(tmp_path: Path, tsa: TsaServer, clock: ManualClock) -> Iterator[Hub]:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "hub: {organ_id: '000.00.00.H41'}\n"
        f"evidence: {{tsa_url: '{tsa.url}', tsa_max_outage_s: 600, interval_s: 10}}\n",
        encoding="utf-8",
    )
    settings = load_settings(path, env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")})
    h = build_hub(settings, verifier=NullVerifier(), clock=clock)
    yield h
    h.close()


@pytest.fixture
def world(hub: Hub, clock: ManualClock) -> EvidenceWorld:
    return EvidenceWorld(hub.uow, SqlEvidenceChain(hub.engine), hub.blobs, clock, hub.engine)


def _gauge(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m is not None, f"{name} not in /metrics"
    return float(m.group(1))


def test_a_tsa_down_past_its_tolerated_period_makes_the_hub_degraded_not_unready(
    hub: Hub, world: EvidenceWorld, tsa: TsaServer, clock: ManualClock
) -> None:
    assert hub.evidence is not None
    with TestClient(hub.app(), client=LOOPBACK, follow_redirects=False) as client:
        world.deliver()
        hub.evidence.seal_once()
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready"
        assert ready["evidence"]["degraded"] is False

        tsa.available = False
        world.deliver()
        hub.evidence.seal_once()
        clock.advance(700)
        r = client.get("/readyz")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded"
        assert "evidence" in body["note"]
        (problem,) = body["evidence"]["problems"]
        assert "TSA has not timestamped" in problem
        metrics = client.get("/metrics").text
        assert _gauge(metrics, "lienthong_evidence_degraded") == 1
        assert _gauge(metrics, "lienthong_evidence_unstamped_events") == 5
        assert _gauge(metrics, "lienthong_evidence_unstamped_age_seconds") >= 700

        tsa.available = True
        hub.evidence.seal_once()
        assert client.get("/readyz").json()["status"] == "ready"
        assert _gauge(client.get("/metrics").text, "lienthong_evidence_degraded") == 0


def test_the_reason_is_for_operators_only(
    hub: Hub, world: EvidenceWorld, clock: ManualClock
) -> None:
    world.deliver()
    clock.advance(3600)  # never sealed: the sealer lags
    with TestClient(hub.app(), client=("198.51.100.7", 40000)) as outsider:
        body = outsider.get("/readyz").json()
    assert body["status"] == "degraded"
    assert "evidence" not in body
