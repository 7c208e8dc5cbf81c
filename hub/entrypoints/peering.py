"""Peers in the composition root: build them from the settings, and run the inbound loop.

:func:`build_peers` turns ``national.*`` into the peer :data:`hub.ports.NATIONAL_LINK` of kind
``vxp`` and each ``peers.<name>`` into a peer of its kind (``adapters/peers``); the forward
handler's links are derived from them (:func:`links_of`).

:class:`InboundLoop` is the worker side of :mod:`hub.services.inbound`: every
``inbound.poll_s`` seconds it runs, in a worker thread, one round of the hosting announcer
(``registerAgency`` / ``deleteAgency`` at peers with a directory), the inbound poller (items
taken from peers' inboxes) and the remote-state tracker. A round that fails is logged and the
next one runs on time: a peer being down is the peer's fault, never the loop's end.
Circuit breaking and per-peer health belong to the peer-health component, which can wrap the
:class:`hub.ports.Peer` objects handed in here.

Wiring a hub below a parent (another lienthong hub run with ``--role national``, or the real
axis): at the parent, ``lienthong systems add hub.h41 --agency 000.00.00.H41 --secret S``; at
the child, ``LIENTHONG_NATIONAL_ENDPOINT=http://parent:8080/``,
``LIENTHONG_NATIONAL_SYSTEM_ID=hub.h41``, ``LIENTHONG_NATIONAL_SECRET=S`` (optionally
``LIENTHONG_INBOUND_POLL_S``). The child registers the agencies its systems host under that
root at its first round. Two provincial hubs reach each other directly the same way, each a
system of the other, named under ``peers:`` with its scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from hub.ports import NATIONAL_LINK, Peer, PeerLink
from hub.routing import Scope
from hub.services.announce import HostingAnnouncer
from hub.services.inbound import InboundPoller, PollReport, RemoteTracker
from hub.settings import PeerSettings, Settings

log = logging.getLogger("lienthong.inbound")


def national_peer_settings(settings: Settings) -> PeerSettings | None:
    """``national.*`` as the settings of a ``vxp`` peer, or ``None`` when not configured."""
    nat = settings.national
    if not (nat.endpoint and nat.system_id and nat.secret is not None):
        return None
    return PeerSettings(
        NATIONAL_LINK,
        nat.endpoint,
        Scope(),
        nat.system_id,
        nat.secret,
        kind="vxp",
        poll=nat.poll,
    )


def build_peers(settings: Settings) -> dict[str, Peer]:
    """Every configured peer, by name: the national axis first, then ``peers.<name>``."""
    from adapters.peers import build_peer

    configured = [national_peer_settings(settings), *settings.peers]
    return {p.name: build_peer(p) for p in configured if p is not None}


def links_of(peers: Mapping[str, Peer]) -> dict[str, PeerLink]:
    """The push side of each peer (the forward handler's links)."""
    return {name: peer.link for name, peer in peers.items()}


class InboundLoop:
    """One round every ``interval_s``: announce hosting, poll inboxes, track remote state."""

    def __init__(
        self,
        announcer: HostingAnnouncer,
        poller: InboundPoller,
        tracker: RemoteTracker,
        *,
        interval_s: float,
    ) -> None:
        self.announcer = announcer
        self.poller = poller
        self.tracker = tracker
        self.interval_s = interval_s

    def round(self) -> PollReport:
        """One synchronous round (the loop runs it in a worker thread)."""
        try:
            self.announcer.sync()
        except Exception:  # a directory failure must not stop the inbox from being polled
            log.exception("announcing hosted agencies failed")
        report = self.poller.poll()
        if report.accepted or report.refused:
            log.info(
                "inbound round: %d accepted, %d refused, %d known",
                len(report.accepted),
                len(report.refused),
                report.skipped,
            )
        try:
            self.tracker.track()
        except Exception:
            log.exception("tracking forwarded copies failed")
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Run rounds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.round)
            except Exception:  # the store may be down for a moment: try again next round
                log.exception("inbound round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
