"""The delivery evidence chain (hub.evidence): the sealer links the events the hub writes,
``verify`` names an edited or deleted event, and each sealing round gets ONE RFC 3161 timestamp
from a real TSA (tests/tsa.py) — none per message; a TSA outage never stops sealing and is
raised as an alert after the tolerated period. On the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.audit_chain import GENESIS
from hub.delivery import Event
from hub.evidence import EvidencePolicy, leaf, step
from signing.evidence import HttpTimestamper, check_timestamp, timestamp_info
from tests.db_fixtures import migrated_engine_on
from tests.evidence_support import EvidenceWorld
from tests.tsa import TsaServer


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EvidenceWorld]:
    if request.param == "memory":
        yield EvidenceWorld.in_memory()
        return
    with migrated_engine_on(request, request.param) as engine:
        yield EvidenceWorld.on(engine, tmp_path)


@pytest.fixture(scope="module")
def tsa() -> Iterator[TsaServer]:
    with TsaServer() as server:
        yield server


@pytest.fixture
def live_tsa(tsa: TsaServer) -> TsaServer:
    tsa.available, tsa.hits = True, 0
    return tsa


def _der(tsa: TsaServer) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    return [tsa.root_cert.public_bytes(Encoding.DER)]


def test_every_state_change_and_status_is_chained_and_verifies(world: EvidenceWorld) -> None:
    world.deliver(recipients=("000.00.00.H41", "000.00.01.H41"))
    world.deliver(steps=(Event.NO_ROUTE,), status=None)
    sealer = world.sealer(None)
    assert sealer.seal_once() == 2 * 5 + 2
    rows = list(world.store.chain())
    first = [r.row for r in rows if r.row.delivery_id == rows[0].row.delivery_id]
    assert [e.to_state for e in first] == ["queued", "available", "fetched", "done", "done"]
    assert first[-1].reason == "status 03"
    assert {r.row.recipient for r in rows[:10]} == {"000.00.00.H41", "000.00.01.H41"}
    assert rows[-1].row.to_state == "undeliverable"
    # The links are the audit chain's: SHA-256(prev ‖ leaf), from GENESIS.
    prev = GENESIS
    for r in rows:
        prev = step(prev, leaf(r.row))
        assert r.hash == prev
    report = sealer.verify()
    assert report.ok
    assert report.sealed == 12
    assert report.unsealed == 0
    world.deliver()
    assert sealer.verify().unsealed == 5
    assert sealer.seal_once() == 5
    assert sealer.verify().ok


def test_an_edited_event_is_named(world: EvidenceWorld) -> None:
    for _ in range(3):
        world.deliver()
    sealer = world.sealer(None)
    sealer.seal_once()
    world.tamper_event(7, to_state="dead")
    report = sealer.verify()
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (7, "edited")


def test_an_edited_reason_or_time_is_named(world: EvidenceWorld) -> None:
    world.deliver()
    sealer = world.sealer(None)
    sealer.seal_once()
    world.tamper_event(5, reason="status 16")
    report = sealer.verify()
    assert report.broken is not None
    assert report.broken.seq == 5


def test_a_deleted_event_is_named(world: EvidenceWorld) -> None:
    for _ in range(3):
        world.deliver()
    sealer = world.sealer(None)
    sealer.seal_once()
    world.delete_event(9)
    report = sealer.verify()
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (9, "gap")


def test_one_timestamp_per_round_never_per_message(
    world: EvidenceWorld, live_tsa: TsaServer
) -> None:
    sealer = world.sealer(HttpTimestamper(live_tsa.url))
    for _ in range(4):
        world.deliver()  # 20 events
    assert sealer.seal_once() == 20
    assert live_tsa.hits == 1
    assert sealer.seal_once() == 0  # nothing new: no request at all
    assert live_tsa.hits == 1
    for _ in range(2):
        world.deliver()
    assert sealer.seal_once() == 10
    assert live_tsa.hits == 2
    batches = world.store.batches()
    assert [(b.from_seq, b.to_seq) for b in batches] == [(1, 20), (21, 30)]
    head_seq, head_hash = world.store.head()
    assert (batches[-1].to_seq, batches[-1].head_hash) == (head_seq, head_hash)
    assert sealer.verify().ok  # every timestamped head is in the chain
    for batch in batches:
        verdict = check_timestamp(batch.token, bytes.fromhex(batch.head_hash), _der(live_tsa))
        assert verdict.bottom_line, verdict
        assert timestamp_info(batch.token)["message_imprint"]["hashed_message"].native == (
            bytes.fromhex(batch.head_hash)
        )


def test_a_round_seals_more_than_one_store_batch_under_one_timestamp(
    world: EvidenceWorld, live_tsa: TsaServer
) -> None:
    sealer = world.sealer(HttpTimestamper(live_tsa.url), EvidencePolicy(batch=4))
    for _ in range(3):
        world.deliver()
    assert sealer.seal_once() == 15
    assert live_tsa.hits == 1
    assert sealer.verify().ok


def test_tsa_down_sealing_goes_on_then_alert_then_one_stamp_covers_the_outage(
    world: EvidenceWorld, live_tsa: TsaServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sealer = world.sealer(HttpTimestamper(live_tsa.url), EvidencePolicy(max_outage_s=600))
    world.deliver()
    sealer.seal_once()
    live_tsa.available = False
    world.deliver()
    assert sealer.seal_once() == 5  # linked although the TSA refuses
    assert world.store.head()[0] == 10
    assert len(world.store.batches()) == 1
    assert sealer.status()["ok"]
    assert sealer.failing_since is not None
    world.clock.advance(300)
    world.deliver()
    assert sealer.seal_once() == 5
    assert not [r for r in caplog.records if r.name == "lienthong.security"]
    world.clock.advance(400)  # 700 s > 600 s tolerated
    sealer.seal_once()
    alerts = [r for r in caplog.records if r.name == "lienthong.security"]
    assert len(alerts) == 1
    assert alerts[0].levelno == logging.ERROR
    event = json.loads(alerts[0].getMessage())
    assert event["event"] == "evidence.tsa_outage"
    assert event["down_s"] >= 600
    assert any(
        r.levelno == logging.ERROR and r.name == "hub.services.evidence_seal"
        for r in caplog.records
    )
    assert sealer.status()["ok"] is False
    sealer.seal_once()  # still down: alerted once, not every round
    assert len([r for r in caplog.records if r.name == "lienthong.security"]) == 1
    live_tsa.available = True
    sealer.seal_once()
    batches = world.store.batches()
    assert [(b.from_seq, b.to_seq) for b in batches] == [(1, 5), (6, 15)]
    assert sealer.status() == {"ok": True, "tsa_failing_since": None, "last_error": None}


def test_a_tsa_that_does_not_listen_is_an_outage_too(world: EvidenceWorld) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sealer = world.sealer(HttpTimestamper(f"http://127.0.0.1:{port}/tsa", timeout=2))
    world.deliver()
    assert sealer.seal_once() == 5
    assert sealer.last_error == "tsa.unavailable"
    assert world.store.batches() == []


def test_a_racing_sealer_loses_whole_and_the_chain_does_not_fork(world: EvidenceWorld) -> None:
    from hub.audit_chain import link
    from hub.errors import Conflict
    from hub.evidence import chain_canon

    world.deliver()
    late = link(world.store.unsealed(100), *world.store.head(), chain_canon)
    assert world.sealer(None).seal_once() == 5  # the other process got there first
    with pytest.raises(Conflict) as caught:
        world.store.seal(late)
    assert caught.value.code == "evidence.raced"
    world.deliver()
    assert world.sealer(None).seal_once() == 5
    report = world.sealer(None).verify()
    assert report.ok
    assert report.sealed == 10


def test_health_is_degraded_when_the_tsa_is_down_past_its_tolerated_period(
    world: EvidenceWorld, live_tsa: TsaServer
) -> None:
    sealer = world.sealer(HttpTimestamper(live_tsa.url), EvidencePolicy(max_outage_s=600))
    world.deliver()
    sealer.seal_once()
    healthy = sealer.health()
    assert (healthy.degraded, healthy.unstamped_events, healthy.unsealed_age_s) == (False, 0, None)
    live_tsa.available = False
    world.deliver()
    sealer.seal_once()
    waiting = sealer.health()
    assert waiting.unstamped_events == 5
    assert not waiting.degraded  # within the tolerated period
    world.clock.advance(700)
    sealer.seal_once()
    down = sealer.health()
    assert down.degraded
    (problem,) = down.problems
    assert "TSA" in problem
    assert "5 events waiting" in problem
    assert down.unstamped_age_s is not None
    assert down.unstamped_age_s >= 700
    live_tsa.available = True
    sealer.seal_once()
    back = sealer.health()
    assert (back.degraded, back.unstamped_events, back.unstamped_age_s) == (False, 0, None)


def test_health_is_degraded_when_the_sealer_lags(world: EvidenceWorld) -> None:
    sealer = world.sealer(None, EvidencePolicy(max_lag_s=120))
    world.deliver()
    world.clock.advance(60)
    assert not sealer.health().degraded
    world.clock.advance(100)
    lagging = sealer.health()
    (problem,) = lagging.problems
    assert "sealer lags" in problem
    assert lagging.unsealed_age_s is not None
    assert lagging.unsealed_age_s >= 160
    sealer.seal_once()
    sealed = sealer.health()
    # No TSA configured: rows without a timestamp are expected, never a problem.
    assert (sealed.degraded, sealed.unstamped_events, sealed.unsealed_age_s) == (False, 0, None)


def test_a_sealer_behind_a_moved_head_writes_nothing(world: EvidenceWorld) -> None:
    """Events sealed by another process, the head moved: the late links take new chain numbers,
    yet the batch loses whole on the events it finds sealed (the links' row count)."""
    from hub.audit_chain import link
    from hub.errors import Conflict
    from hub.evidence import chain_canon

    world.deliver()
    stale = world.store.unsealed(100)
    assert world.sealer(None).seal_once() == 5
    world.deliver()
    fresh = list(world.store.unsealed(100))
    late = link([*fresh, *stale], *world.store.head(), chain_canon)
    with pytest.raises(Conflict) as caught:
        world.store.seal(late)
    assert caught.value.code == "evidence.raced"
    assert world.store.head()[0] == 5
    assert len(world.store.unsealed(100)) == 5
    assert world.sealer(None).seal_once() == 5
    assert world.sealer(None).verify().ok
