"""Routing: where a package addressed to an agency code goes. Pure rules, no I/O.

The hub serves a *scope* — level-1 keys (``H41`` a province's People's Committee, ``K41`` its
People's Council) and/or subtree roots in the registry — and hosts, through its connected
systems, some agencies. For one addressed code, in this order:

1. **Resolve.** A code the registry knows is resolved on the day of intake; a closed code
   (QĐ 09/2025: districts abolished 1 July 2025, provinces merged) goes to its live successor,
   and the delivery records ``resolved_code`` and the reason. A closed code without successor,
   or a successor chain leading nowhere, has no route.
2. **Hosted → LOCAL.** The live code (or any code of its agency) is hosted by a system connected
   to this hub: the delivery goes to that system's inbox.
3. **In scope, not hosted → NONE.** Nobody here can receive it, and nobody else will: the
   delivery is ``undeliverable`` and the sender sees why. A malformed code is also NONE.
4. **Out of scope → PEER or NATIONAL.** A configured peer hub whose scope covers the code takes
   it; otherwise the national axis (which knows agencies our registry does not).

Hazard: ``hosting`` maps codes as the systems registered them; lookups compare
:func:`hub.agency.codes.lookup_key` forms, so ``000.00.00.h41`` and ``000.00.00.H41`` are one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hub.agency.codes import AgencyCode, lookup_key
from hub.agency.registry import Agency, Registry
from hub.errors import HubError
from hub.services.contracts import Route


@dataclass(frozen=True, slots=True)
class Scope:
    """What this hub (or a peer hub) serves: level-1 keys and/or registry subtree roots."""

    level1_keys: frozenset[str] = frozenset()
    subtree_roots: tuple[str, ...] = ()
    everything: bool = False
    """Every agency (the national axis' role: ``hub.role: national``, or the entry ``*``)."""

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Scope:
        """``["H41", "K41", "000.00.00.G22"]``: a bare level-1 key (letter + two digits) is a
        key, ``*`` every agency, anything else a subtree root code."""
        keys: set[str] = set()
        roots: list[str] = []
        for entry in entries:
            text = entry.strip()
            if text == "*":
                return cls(everything=True)
            parsed = AgencyCode.parse(text.upper())
            if parsed.is_valid and parsed.groups == (text.upper(),):
                keys.add(text.upper())
            elif text:
                roots.append(text)
        return cls(frozenset(keys), tuple(roots))

    def covers(self, code: str, registry: Registry) -> bool:
        """True when ``code`` falls in this scope (by its level-1 key or registry ancestry)."""
        if self.everything:
            return True
        parsed = AgencyCode.parse(code)
        if parsed.level1_key is not None and parsed.level1_key.upper() in self.level1_keys:
            return True
        if not self.subtree_roots or code not in registry:
            return False
        roots = {lookup_key(r) for r in self.subtree_roots}
        agency: Agency | None = registry.get(code)
        seen: set[str] = set()
        while agency is not None and agency.code not in seen:
            if lookup_key(agency.code) in roots:
                return True
            seen.add(agency.code)
            agency = registry.parent(agency.code)
        return False


@dataclass(frozen=True, slots=True)
class PeerHub:
    """Another hub this one forwards to directly (instead of through the national axis)."""

    name: str
    scope: Scope


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where one addressed code goes."""

    route: Route
    recipient: str  # as addressed
    resolved: str | None = None  # the live code when a successor was followed
    system_id: str | None = None  # LOCAL: the hosting system
    peer_name: str | None = None  # PEER: which hub
    reason: str | None = None  # Vietnamese, shown to the sender (reroute or failure)


@dataclass(frozen=True, slots=True)
class Router:
    """The routing rules bound to one registry, hosting map, scope and peer list."""

    registry: Registry
    hosting: Mapping[str, str]
    scope: Scope
    peers: Sequence[PeerHub] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosting", {lookup_key(k): v for k, v in self.hosting.items()})

    def _hosted_by(self, codes: Iterable[str]) -> str | None:
        for code in codes:
            system = self.hosting.get(lookup_key(code))
            if system is not None:
                return system
        return None

    def route(self, code: str, on: dt.date) -> RouteDecision:
        """Decide the route of ``code`` on the day ``on`` (see the module docstring)."""
        target = code.strip()
        resolved: str | None = None
        reason: str | None = None
        aliases: list[str] = [target]
        if target in self.registry:
            try:
                resolution = self.registry.resolve(target, on)
            except HubError as exc:  # unregistered successor, successor cycle
                return RouteDecision(Route.NONE, code, reason=exc.message_vi)
            if resolution.agency is None:
                return RouteDecision(
                    Route.NONE,
                    code,
                    reason=f"mã {target} đã đóng và không có đơn vị kế thừa",
                )
            live = resolution.agency
            if resolution.followed_successor:
                resolved = live.code
                reason = f"mã {target} đã đóng → chuyển cho đơn vị kế thừa {live.code}"
                aliases = [live.code]
            aliases += [live.code, *live.former_codes, *filter(None, [live.code_qd20])]
            target = live.code
        system = self._hosted_by(aliases)
        if system is not None:
            return RouteDecision(Route.LOCAL, code, resolved, system_id=system, reason=reason)
        parsed = AgencyCode.parse(target)
        if not parsed.is_valid and target not in self.registry:
            return RouteDecision(
                Route.NONE, code, resolved, reason=f"mã định danh {target!r} không hợp lệ"
            )
        if self.scope.covers(target, self.registry):
            return RouteDecision(
                Route.NONE,
                code,
                resolved,
                reason=f"không có hệ thống nào kết nối với trục nhận văn bản cho mã {target}",
            )
        for peer in self.peers:
            if peer.scope.covers(target, self.registry):
                return RouteDecision(Route.PEER, code, resolved, peer_name=peer.name, reason=reason)
        return RouteDecision(Route.NATIONAL, code, resolved, reason=reason)
