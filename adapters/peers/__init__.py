"""Peers by kind: every connection to another hub is built here from its settings.

Theory of operation. A peer is declared in the settings with a ``kind`` (``peers.<name>.kind``;
the national axis is the peer :data:`hub.ports.NATIONAL_LINK` of kind ``vxp``). Each kind is one
module of this package exposing ``build(settings) -> hub.ports.Peer``, registered once in
:data:`KINDS`. The composition root calls :func:`build_peer`; the services see only the ports
(:class:`hub.ports.PeerLink`, :class:`~hub.ports.PeerInbox`, :class:`~hub.ports.PeerTracker`,
:class:`~hub.ports.PeerDirectory`) and never name a kind. Adding a kind touches its module and
one line of :data:`KINDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from hub.ports import Peer
from hub.settings import PeerSettings, SettingsError

PeerBuilder = Callable[[PeerSettings], Peer]

#: kind → the module (in this package) whose ``build`` makes a :class:`hub.ports.Peer`.
#: Imported lazily, so a hub without SOAP peers never imports zeep.
KINDS: Mapping[str, str] = {
    "vxp": "adapters.peers.vxp",
    "soap": "adapters.peers.soap",
    "lgsp": "adapters.peers.lgsp",
}


def builder(kind: str) -> PeerBuilder:
    """The ``build`` function of ``kind``; an unknown kind is a configuration error."""
    module = KINDS.get(kind)
    if module is None:
        known = ", ".join(sorted(KINDS))
        raise SettingsError(f"unknown peer kind {kind!r} (known: {known})")
    build: PeerBuilder = importlib.import_module(module).build
    return build


def build_peer(settings: PeerSettings) -> Peer:
    """The peer ``settings`` describe, built by the adapter of its kind."""
    return builder(settings.kind)(settings)
