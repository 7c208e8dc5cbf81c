"""Scheduled work in the worker processes: one job, run every ``interval_s``, in one process
across the nodes (a :class:`hub.scheduling.Leader` per job), in a thread so the event loop
keeps serving the broker's deliveries.

A failing round is logged (one line for the hub's own errors, the traceback for anything
else) and the next round runs as scheduled: a job never dies of one bad round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from hub.errors import HubError
from hub.scheduling import Leader

log = logging.getLogger(__name__)


@dataclass
class ScheduledJob:
    """``run`` every ``interval_s`` while this process holds ``leader``'s lease."""

    name: str
    interval_s: float
    leader: Leader
    run: Callable[[], object]

    async def loop(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if await asyncio.to_thread(self.leader.may_work):
                    try:
                        await asyncio.to_thread(self.run)
                    except HubError as exc:
                        log.warning("%s: %s: %s", self.name, exc.code, exc)
                    except Exception:
                        log.exception("%s: round failed", self.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
        finally:
            await asyncio.to_thread(self.leader.step_down)
