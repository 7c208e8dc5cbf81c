"""Evidence-chain health over HTTP: the ``/readyz`` item and the ``/metrics`` gauges.

Both call a reader of :class:`hub.services.evidence_seal.EvidenceHealth` at request time (the
composition root passes :meth:`EvidenceSealer.health`, which reads the shared store, so an API
process shows what the sealing worker did). A lagging sealer or a TSA unreachable past its
tolerated period makes the hub **degraded**, never unready: packages are still accepted and
delivered; only their evidence waits.

Gauges:

* ``lienthong_evidence_degraded`` — 1 while the chain is degraded (see ``/readyz`` for why);
* ``lienthong_evidence_unsealed_age_seconds`` — age of the oldest event not sealed yet (0: none);
* ``lienthong_evidence_unstamped_events`` — chain rows after the last timestamped head;
* ``lienthong_evidence_unstamped_age_seconds`` — how long the TSA has owed a timestamp (0: none).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.errors import HubError
from hub.services.evidence_seal import EvidenceHealth

log = logging.getLogger(__name__)

#: Reads the chain's health (``EvidenceSealer.health``).
EvidenceHealthReader = Callable[[], EvidenceHealth]

#: Said in ``/readyz`` when the evidence chain is degraded.
EVIDENCE_NOTE = (
    "the evidence chain lags or is not timestamped: packages are still accepted and delivered; "
    "their delivery evidence waits (degraded, not unready)"
)


def readiness_evidence(read: EvidenceHealthReader) -> tuple[bool, dict[str, Any]]:
    """``(degraded, section)`` for ``/readyz``; a failing read is reported, not raised."""
    try:
        health = read()
    except HubError as exc:
        log.warning("evidence health not readable: %s", exc.code)
        return True, {"degraded": True, "problems": [f"not readable: {exc.code}"]}
    return health.degraded, health.view()


class EvidenceHealthCollector(Collector):
    """The gauges of the module docstring, read on scrape."""

    def __init__(self, read: EvidenceHealthReader) -> None:
        self._read = read

    def describe(self) -> list[Metric]:
        return []  # no read at registration time

    def collect(self) -> Iterator[Metric]:
        try:
            health = self._read()
        except HubError as exc:
            log.warning("evidence health not readable for /metrics: %s", exc.code)
            return
        yield GaugeMetricFamily(
            "lienthong_evidence_degraded",
            "1 while the evidence chain lags or is not timestamped past its tolerated period",
            value=1 if health.degraded else 0,
        )
        yield GaugeMetricFamily(
            "lienthong_evidence_unsealed_age_seconds",
            "Age of the oldest delivery event not sealed into the evidence chain yet",
            value=health.unsealed_age_s or 0.0,
        )
        yield GaugeMetricFamily(
            "lienthong_evidence_unstamped_events",
            "Evidence chain rows after the last timestamped head",
            value=health.unstamped_events,
        )
        yield GaugeMetricFamily(
            "lienthong_evidence_unstamped_age_seconds",
            "How long the TSA has owed the evidence chain a timestamp",
            value=health.unstamped_age_s or 0.0,
        )
