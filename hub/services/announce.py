"""Announce the agencies hosted here to every peer that keeps a directory.

Theory of operation. A hub below another (a province under a lienthong hub in the national
role, or under the real axis) is one connected system of its parent. The parent routes an
agency to that system only once the system hosts it, so the child registers every agency its
own systems host (``registerAgency``) and withdraws those it stops hosting (``deleteAgency``).
:class:`HostingAnnouncer` keeps, per peer, the set of codes it has announced in this process;
each :meth:`HostingAnnouncer.sync` compares it with the hosting map and sends the difference.
Only codes of this hub's own scope are announced: a code hosted here by another hub's system
(a peer hub registered its communes here) is that hub's to announce, not ours.
The first sync after start registers everything (the parent treats a repeated registration of a
hosted agency as an update). The CLI calls :meth:`HostingAnnouncer.withdraw` when ``lienthong
systems remove`` drops agencies, since that process never announced them itself.

Parents first: an agency's registration names its parent (``pcode``) and a parent hub accepts a
new unit only under an agency the caller already hosts, so codes are announced in registry
depth order. A hosted code the registry does not know (a new department of another province,
absent from the sample or a stale national list) is announced with its parent by code
arithmetic (:meth:`hub.agency.codes.AgencyCode.fallback_parent`, ``000.00.02.H14`` →
``000.00.00.H14``): without a parent the parent hub refuses it as a unit under nothing the
caller hosts, and mail for it never reaches this hub. A peer's refusal of one code is logged
and not repeated until the next start (or until the code leaves and comes back); a peer that
is down leaves its codes unannounced, to be tried again at the next sync.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from hub.agency.codes import AgencyCode, lookup_key
from hub.agency.registry import Registry
from hub.errors import PeerError, PeerUnavailable
from hub.ports import AgencyRow, Peer
from hub.routing import Scope
from hub.services.base import Deps

log = logging.getLogger(__name__)


class HostingAnnouncer:
    """Keep every peer's directory in step with the agencies hosted here."""

    def __init__(self, deps: Deps, peers: Iterable[Peer], scope: Scope) -> None:
        self._deps = deps
        self._scope = scope
        self._peers = [p for p in peers if p.directory is not None]
        # per peer: lookup key → the code as announced
        self._announced: dict[str, dict[str, str]] = {p.name: {} for p in self._peers}

    def sync(self) -> dict[str, list[str]]:
        """Register new hosted codes and withdraw dropped ones at every peer; returns the
        codes registered per peer (for logs and tests)."""
        if not self._peers:
            return {}
        registry = self._deps.registry()
        with self._deps.uow() as uow:
            hosted = {
                lookup_key(c): c
                for c in uow.systems.hosting()
                if self._scope.covers(c, registry)  # not what a peer hub registered here
            }
            new = {k for p in self._peers for k in hosted if k not in self._announced[p.name]}
            # The stored records are read only when there is something to announce.
            stored = {lookup_key(r.code): r for r in uow.agencies.list()} if new else {}
        rows = [_agency_row(hosted[k], registry, stored) for k in new]
        rows.sort(key=lambda r: (_depth(r.code, registry), r.code))
        done: dict[str, list[str]] = {}
        for peer in self._peers:
            announced = self._announced[peer.name]
            todo = [r for r in rows if lookup_key(r.code) not in announced]
            done[peer.name] = self._register(peer, todo)
            self._withdraw(peer, sorted(c for k, c in announced.items() if k not in hosted))
        return done

    def withdraw(self, codes: Sequence[str]) -> None:
        """Withdraw ``codes`` at every peer (an agency of this hub's scope no longer hosted
        here)."""
        registry = self._deps.registry()
        ours = [c for c in codes if self._scope.covers(c, registry)]
        for peer in self._peers:
            self._withdraw(peer, ours)

    def _register(self, peer: Peer, rows: Sequence[AgencyRow]) -> list[str]:
        directory = peer.directory
        assert directory is not None
        registered: list[str] = []
        for row in rows:
            try:
                directory.register(row)
            except PeerUnavailable as exc:
                log.warning("registering agencies at %s: %s", peer.name, exc.code)
                break  # tried again at the next sync
            except PeerError as exc:
                log.warning("%s refused agency %s: %s", peer.name, row.code, exc.message_en)
            else:
                registered.append(row.code)
            self._announced[peer.name][lookup_key(row.code)] = row.code
        return registered

    def _withdraw(self, peer: Peer, codes: Sequence[str]) -> None:
        directory = peer.directory
        assert directory is not None
        for code in codes:
            try:
                directory.delete(code)
            except PeerUnavailable as exc:
                log.warning("withdrawing agencies at %s: %s", peer.name, exc.code)
                return
            except PeerError as exc:
                log.warning("%s refused to withdraw %s: %s", peer.name, code, exc.message_en)
            self._announced[peer.name].pop(lookup_key(code), None)


def _agency_row(code: str, registry: Registry, stored: dict[str, AgencyRow]) -> AgencyRow:
    """What the registry (or a stored record) says of a hosted code; otherwise the bare code
    under its arithmetic parent (see the module docstring)."""
    record = stored.get(lookup_key(code))
    if record is not None:
        return record
    agency = registry.get(code)
    if agency is None:
        fallback = AgencyCode.parse(code).fallback_parent()
        return AgencyRow(code=code, name=code, parent_code=str(fallback) if fallback else None)
    parent = registry.parent(code)
    return AgencyRow(
        code=agency.code,
        name=agency.name,
        parent_code=parent.code if parent is not None else None,
        email=agency.email,
    )


def _depth(code: str, registry: Registry) -> int:
    if code not in registry:  # announced under its arithmetic parent: one level per group
        return (AgencyCode.parse(code).level or 1) - 1
    depth, seen = 0, {code}
    parent = registry.parent(code) if code in registry else None
    while parent is not None and parent.code not in seen:
        depth += 1
        seen.add(parent.code)
        parent = registry.parent(parent.code)
    return depth
