"""The hub's state gauges on ``/metrics``, read from the console's cached overview and the
broker's queue depths (see :mod:`adapters.http.console` for the table of gauges)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.messaging import Broker
from hub.services.monitor import CachedOverview, QueueDepths, read_queue_depths


class LoopHolder:
    """Remembers the server's event loop (seen on the first request) for the collector."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None


class CaptureLoop:
    """Pure ASGI pass-through that records the running loop once (no per-request cost)."""

    def __init__(self, app: ASGIApp, holder: LoopHolder) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.holder.loop is None:
            self.holder.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)


class FrozenHeapCollector(Collector):
    """``python_gc_frozen_objects``: what the process froze at start-up
    (:func:`hub.entrypoints.bootstrap.freeze_startup_heap`); 0 means full garbage collections
    still walk the whole heap, holding the GIL for tens of milliseconds each."""

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "python_gc_frozen_objects",
            "Objects frozen out of the garbage collector's walks (gc.freeze)",
            value=gc.get_freeze_count(),
        )


class HubCollector(Collector):
    """The gauges of the module docstring, read on scrape (cached ``ttl_s``)."""

    def __init__(
        self, overview: CachedOverview, queues: Callable[[], QueueDepths | None], ttl_s: float
    ) -> None:
        self._overview = overview
        self._queues = queues
        self._ttl = ttl_s
        self._q: QueueDepths | None = None
        self._q_at = 0.0

    def describe(self) -> list[Metric]:
        return []  # no read at registration time

    def collect(self) -> Iterator[Metric]:
        ov = self._overview.get()
        g = GaugeMetricFamily(
            "lienthong_deliveries", "Deliveries by state and route", labels=["state", "route"]
        )
        for (state, route), n in sorted(ov.by_state_route.items()):
            g.add_metric([state, route], n)
        yield g
        yield GaugeMetricFamily(
            "lienthong_documents_received_last_hour",
            "Documents accepted in the last hour",
            value=ov.documents_last_hour,
        )
        yield GaugeMetricFamily(
            "lienthong_documents_received_last_day",
            "Documents accepted in the last 24 hours",
            value=ov.documents_last_day,
        )
        oldest = GaugeMetricFamily(
            "lienthong_inbox_oldest_age_seconds",
            "Age of the oldest available delivery per system",
            labels=["system"],
        )
        waiting = GaugeMetricFamily(
            "lienthong_inbox_waiting", "Available deliveries per system", labels=["system"]
        )
        for w in ov.oldest_waiting:
            oldest.add_metric([w.system_id], (ov.at - w.oldest_at).total_seconds())
            waiting.add_metric([w.system_id], w.waiting)
        yield oldest
        yield waiting
        pulled = GaugeMetricFamily(
            "lienthong_system_last_pull_age_seconds",
            "Seconds since each system last listed its inbox (absent: never since 0016)",
            labels=["system"],
        )
        for system_id, at in sorted(ov.last_pulls.items()):
            pulled.add_metric([system_id], (ov.at - at).total_seconds())
        yield pulled
        if self._q is None or time.monotonic() - self._q_at > self._ttl:
            self._q = self._queues()
            self._q_at = time.monotonic()
        if self._q is not None:
            depth = GaugeMetricFamily(
                "lienthong_queue_messages",
                "Broker queue depths",
                labels=["queue", "status"],
            )
            for s in self._q.stats:
                depth.add_metric([s.queue, "ready"], s.ready)
                depth.add_metric([s.queue, "delayed"], s.delayed)
                depth.add_metric([s.queue, "dead"], s.dead)
            yield depth
            yield GaugeMetricFamily(
                "lienthong_broker_up",
                "1 when the broker answered the last depth read",
                value=0 if self._q.error else 1,
            )


def queue_reader(broker: Broker, holder: LoopHolder) -> Callable[[], QueueDepths | None]:
    def read() -> QueueDepths | None:
        loop = holder.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return None
        try:
            if asyncio.get_running_loop() is loop:
                return None  # called on the loop itself: waiting here would deadlock it
        except RuntimeError:
            pass
        future = asyncio.run_coroutine_threadsafe(read_queue_depths(broker), loop)
        try:
            return future.result(timeout=3)
        except TimeoutError:
            future.cancel()
            return QueueDepths((), "timeout")

    return read
