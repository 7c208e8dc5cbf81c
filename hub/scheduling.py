"""Scheduled work that runs once across the nodes: the inbound poller, the registry sync.

Theory of operation. Every worker process of every node runs the same loops; before each round
a loop asks its :class:`Leader` whether it may work. The leader takes or renews a named lease
(:class:`hub.ports.Leases`, a row in the shared database) for ``ttl_s``; one process holds it,
the others skip the round. When the holder dies it stops renewing, its lease expires, and the
next process to ask takes over — within ``ttl_s`` plus one round. A clean stop releases the
lease so the hand-over is immediate. Rounds must be shorter than ``ttl_s`` and idempotent
(a holder stalled past its lease may overlap once with its successor).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field

from hub.errors import HubError
from hub.ports import Clock, Leases

log = logging.getLogger(__name__)


def holder_id() -> str:
    """This process's name in lease rows: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Leader:
    """The right of one process to run the scheduled work ``name`` now."""

    leases: Leases
    clock: Clock
    name: str
    ttl_s: float = 30.0
    holder: str = field(default_factory=holder_id)
    leading: bool = False

    def may_work(self) -> bool:
        """Take or renew the lease; ``False`` (and no work) while another process holds it or
        the database cannot be reached."""
        try:
            won = self.leases.acquire(self.name, self.holder, self.ttl_s, self.clock.now())
        except HubError as exc:
            log.warning("lease %s: %s", self.name, exc.code)
            won = False
        if won != self.leading:
            log.info("lease %s %s by %s", self.name, "taken" if won else "lost", self.holder)
            self.leading = won
        return won

    def step_down(self) -> None:
        """Release the lease (a clean stop): another process takes the work at once."""
        if self.leading:
            try:
                self.leases.release(self.name, self.holder)
            except HubError as exc:
                log.warning("lease %s not released: %s", self.name, exc.code)
            self.leading = False
