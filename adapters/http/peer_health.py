"""Peer health over HTTP: the ``/metrics`` gauges and the ``/readyz`` section of each peer.

Both read :class:`hub.ports.PeerHealthStore` (the ``peer_health`` table the workers write, so
an API process shows what the workers saw) at request time; the table has a row per peer.

Gauges (label ``peer``):

* ``lienthong_peer_up`` — 1 while calls pass (breaker closed, no alert), else 0;
* ``lienthong_peer_breaker_state`` — 0 closed, 1 half-open, 2 open;
* ``lienthong_peer_consecutive_failures``;
* ``lienthong_peer_last_success_age_seconds`` — only for peers that ever answered;
* ``lienthong_peer_alert`` — 1 while the peer refuses this hub's credential (act now);
* ``lienthong_registry_sync_ok`` — 1 when the last registry sync from the peer was stored.

A peer that is down makes the hub **degraded**, never unready: the API still accepts packages
(they wait in ``retry_wait`` until the peer is back), so a load balancer must keep sending
traffic. ``/readyz`` answers 200 with ``"status": "degraded"`` and says so.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.errors import HubError
from hub.ports import PeerHealth

log = logging.getLogger(__name__)

#: Reads every peer's health (``PeerHealthStore.all``).
PeerHealthReader = Callable[[], Sequence[PeerHealth]]

_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}

#: Said in ``/readyz`` when a peer is down, so nobody mistakes it for an outage of the hub.
DEGRADED_NOTE = (
    "one or more peers are unreachable: packages for them wait and are retried; "
    "this hub still accepts and serves packages (degraded, not unready)"
)


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def peer_view(h: PeerHealth, now: dt.datetime) -> dict[str, Any]:
    """One peer's health as JSON (``/readyz``)."""
    return {
        "up": h.up,
        "kind": h.kind,
        "breaker": h.state,
        "consecutive_failures": h.consecutive_failures,
        "last_success_at": _iso(h.last_success_at),
        "last_success_age_s": (
            round((now - h.last_success_at).total_seconds(), 1) if h.last_success_at else None
        ),
        "last_error": h.last_error,
        "last_error_at": _iso(h.last_error_at),
        "alert": h.alert,
        "registry_sync": (
            {"at": _iso(h.sync_at), "outcome": h.sync_outcome, "count": h.sync_count}
            if h.sync_at
            else None
        ),
    }


def readiness_peers(read: PeerHealthReader, now: dt.datetime) -> tuple[bool, dict[str, Any]]:
    """``(degraded, section)`` for ``/readyz``; a failing read is reported, not raised."""
    try:
        rows = read()
    except HubError as exc:
        log.warning("peer health not readable: %s", exc.code)
        return True, {"error": exc.code}
    peers = {h.name: peer_view(h, now) for h in rows}
    return any(not h.up for h in rows), peers


class PeerHealthCollector(Collector):
    """The gauges of the module docstring, read on scrape."""

    def __init__(self, read: PeerHealthReader, now: Callable[[], dt.datetime]) -> None:
        self._read = read
        self._now = now

    def describe(self) -> list[Metric]:
        return []  # no read at registration time

    def collect(self) -> Iterator[Metric]:
        try:
            rows = self._read()
        except HubError as exc:
            log.warning("peer health not readable for /metrics: %s", exc.code)
            return
        now = self._now()
        up = GaugeMetricFamily(
            "lienthong_peer_up", "1 while calls to the peer pass", labels=["peer"]
        )
        state = GaugeMetricFamily(
            "lienthong_peer_breaker_state",
            "Circuit breaker of the peer: 0 closed, 1 half-open, 2 open",
            labels=["peer"],
        )
        failures = GaugeMetricFamily(
            "lienthong_peer_consecutive_failures",
            "Failed calls to the peer since its last success",
            labels=["peer"],
        )
        age = GaugeMetricFamily(
            "lienthong_peer_last_success_age_seconds",
            "Seconds since a call to the peer last succeeded",
            labels=["peer"],
        )
        alert = GaugeMetricFamily(
            "lienthong_peer_alert",
            "1 while the peer refuses this hub's credential (an operator must act)",
            labels=["peer"],
        )
        sync = GaugeMetricFamily(
            "lienthong_registry_sync_ok",
            "1 when the last registry sync from the peer was stored, 0 when it was refused",
            labels=["peer"],
        )
        for h in rows:
            up.add_metric([h.name], 1 if h.up else 0)
            state.add_metric([h.name], _BREAKER_VALUE.get(h.state, 2))
            failures.add_metric([h.name], h.consecutive_failures)
            if h.last_success_at is not None:
                age.add_metric([h.name], (now - h.last_success_at).total_seconds())
            alert.add_metric([h.name], 1 if h.alert else 0)
            if h.sync_outcome is not None:
                sync.add_metric([h.name], 1 if h.sync_outcome == "ok" else 0)
        yield from (up, state, failures, age, alert, sync)
