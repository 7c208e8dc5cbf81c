"""Peer health as every process sees it, over a whole hub built by ``build_hub`` on a temporary
SQLite data directory: the guarded links write the ``peer_health`` table, and ``/readyz``
(degraded, still 200), ``/metrics`` (per-peer gauges) and the dashboard's peers section read it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.memory import RecordingPeerLink
from hub.edxml.model import MessageKind
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.errors import PeerUnavailable
from hub.ports import NATIONAL_LINK, NullVerifier
from hub.settings import load_settings

LOOPBACK = ("127.0.0.1", 50124)


@pytest.fixture
def national() -> RecordingPeerLink:
    return RecordingPeerLink(NATIONAL_LINK)


@pytest.fixture
def hub(tmp_path: Path, national: RecordingPeerLink) -> Iterator[Hub]:
    settings = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")})
    h = build_hub(
        settings,
        verifier=NullVerifier(),
        links={NATIONAL_LINK: national, "caobang": RecordingPeerLink("caobang")},
    )
    yield h
    h.close()


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(hub.app(), client=LOOPBACK, follow_redirects=False) as c:
        yield c


def _push(hub: Hub, name: str) -> None:
    hub.peers[name].link.send(b"<edXML/>", from_code="A", to_codes=["B"], kind=MessageKind.EDOC)


def _gauge(text: str, name: str, peer: str) -> float | None:
    m = re.search(rf'^{name}{{peer="{re.escape(peer)}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def test_healthy_peers_leave_the_hub_ready(hub: Hub, client: TestClient) -> None:
    _push(hub, NATIONAL_LINK)
    _push(hub, "caobang")
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert set(body["peers"]) == {NATIONAL_LINK, "caobang"}
    assert body["peers"][NATIONAL_LINK]["up"] is True
    assert body["peers"][NATIONAL_LINK]["last_success_at"] is not None


def test_a_peer_down_makes_the_hub_degraded_not_unready(
    hub: Hub, client: TestClient, national: RecordingPeerLink
) -> None:
    _push(hub, "caobang")
    national.fail_next(100)
    for _ in range(hub.settings.breaker.failure_threshold + 3):
        with pytest.raises(PeerUnavailable):
            _push(hub, NATIONAL_LINK)
    assert national.calls == hub.settings.breaker.failure_threshold  # then it failed fast

    r = client.get("/readyz")
    assert r.status_code == 200  # a load balancer keeps sending: pushes are still accepted
    body = r.json()
    assert body["status"] == "degraded"
    assert body["ready"] is True
    assert "not unready" in body["note"]
    nat = body["peers"][NATIONAL_LINK]
    assert (nat["up"], nat["breaker"]) == (False, "open")
    assert nat["consecutive_failures"] == hub.settings.breaker.failure_threshold
    assert nat["last_error"].startswith("peer.unavailable")
    assert body["peers"]["caobang"]["up"] is True

    text = client.get("/metrics").text
    assert _gauge(text, "lienthong_peer_up", NATIONAL_LINK) == 0
    assert _gauge(text, "lienthong_peer_up", "caobang") == 1
    assert _gauge(text, "lienthong_peer_breaker_state", NATIONAL_LINK) == 2
    assert _gauge(text, "lienthong_peer_consecutive_failures", NATIONAL_LINK) == 5
    assert _gauge(text, "lienthong_peer_alert", NATIONAL_LINK) == 0
    assert _gauge(text, "lienthong_peer_last_success_age_seconds", NATIONAL_LINK) is None
    age = _gauge(text, "lienthong_peer_last_success_age_seconds", "caobang")
    assert age is not None
    assert 0 <= age < 60

    page = client.get("/dashboard/")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Kết nối liên thông" in text
    assert "tạm ngắt" in text  # the national axis' breaker is open
    assert "peer.unavailable" in text


def test_a_sync_outcome_shows_in_health(hub: Hub, client: TestClient) -> None:
    at = dt.datetime.now(dt.UTC)
    hub.peer_health.save_sync(NATIONAL_LINK, at=at, outcome="kept: the peer answered an empty "
                              "agency list")  # fmt: skip
    body = client.get("/readyz").json()
    assert body["peers"][NATIONAL_LINK]["registry_sync"]["outcome"].startswith("kept:")
    assert _gauge(client.get("/metrics").text, "lienthong_registry_sync_ok", NATIONAL_LINK) == 0


def test_a_database_down_is_still_unready(hub: Hub, client: TestClient) -> None:
    hub.engine.dispose()
    Path(hub.settings.database_url.removeprefix("sqlite:///")).unlink()
    Path(hub.settings.database_url.removeprefix("sqlite:///")).mkdir()  # unopenable
    r = client.get("/readyz")
    assert r.status_code == 503


def test_the_worker_syncs_the_registry_on_its_schedule(tmp_path: Path) -> None:
    import asyncio
    import dataclasses

    from adapters.memory import MemoryPeerDirectory
    from hub.ports import AgencyRow, Peer

    settings = dataclasses.replace(
        load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")}),
        registry_sync_interval_s=0.2,
    )
    rows = [AgencyRow(code=f"000.00.{i:02d}.G{i + 10:02d}", name=f"Bộ {i}") for i in range(1, 6)]
    directory = MemoryPeerDirectory(rows)
    national = Peer(NATIONAL_LINK, "memory", RecordingPeerLink(), directory=directory)
    hub = build_hub(settings, verifier=NullVerifier(), peers={NATIONAL_LINK: national})

    async def main() -> None:
        await hub.start_workers()
        try:
            async with asyncio.timeout(20):
                while directory.calls < 2:
                    await asyncio.sleep(0.05)
        finally:
            await hub.stop()

    try:
        asyncio.run(main())
        with hub.uow() as uow:
            stored = {r.code for r in uow.agencies.list() if r.source == "national"}
        assert stored == {r.code for r in rows}
        [health] = hub.peer_health.all()
        assert (health.sync_outcome, health.sync_count) == ("ok", 5)
    finally:
        hub.close()
