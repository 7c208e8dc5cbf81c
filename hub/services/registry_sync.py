"""Registry sync: replace the stored national agency records with a peer's list — only when the
list is good.

Theory of operation. A peer with a :class:`hub.ports.PeerDirectory` (the national axis, a
parent hub) keeps an agency registry. :meth:`RegistrySync.sync` reads the whole list (and,
when the directory offers :class:`hub.ports.PeerDirectoryDetails`, the QĐ 20/2020 codes and the
incremental changes), checks it, and only then replaces the records of source ``national`` in
one audited transaction (:func:`hub.services.registry.import_agencies` with ``replace``): codes
the list no longer has are marked deleted, so the registry follows the peer.

A bad answer never replaces a good registry. The stored records stay as they are, the reason
is logged and recorded in the peer's health (``sync_outcome``), when

* the peer could not be asked (any exception: unreachable, circuit open, credential refused,
  a reply that does not parse);
* the list is empty;
* a row is malformed (no code, no name, a code that is neither QCVN 102 nor QĐ 20, a code twice)
  or the list does not build a registry (:class:`hub.agency.registry.Registry` refuses it);
* the list is far smaller than the one stored (under :attr:`SyncPolicy.min_ratio` of it): a
  truncated answer, not half the country's agencies closing overnight.

The ``lienthong agencies sync`` command and the worker's schedule (:meth:`RegistrySync.run`,
once per :attr:`SyncPolicy.interval_s`) both go through :meth:`RegistrySync.sync`.

Hazard: several worker processes each run the schedule. The sync is idempotent (the same list
stores the same records), so that costs requests, not correctness. ``run`` takes a ``lease``
callable asked before each round — the seam for a cross-node lease; the default always runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from hub.agency.codes import lookup_key, parse_code
from hub.agency.registry import Agency, Registry
from hub.errors import HubError
from hub.ports import (
    AgencyRow,
    Clock,
    Peer,
    PeerDirectory,
    PeerDirectoryDetails,
    PeerHealthStore,
    UnitOfWorkFactory,
)
from hub.services.registry import agency_from_row, import_agencies

log = logging.getLogger(__name__)

#: The ``agencies.source`` of records synced from a peer's directory.
NATIONAL_SOURCE = "national"


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    """When the registry is synced, and what answer is good enough to store."""

    interval_s: float = 0.0
    """Seconds between two scheduled syncs; 0 turns the schedule off (the CLI still works)."""
    min_ratio: float = 0.5
    """A list with fewer agencies than this fraction of the stored ones is refused."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one sync did: ``accepted`` (stored) or kept the registry, and why."""

    peer: str
    accepted: bool
    received: int  # agencies in the peer's answer (0 when it could not be read)
    stored_before: int  # national records stored before the sync
    reason: str  # "ok", or why the stored registry was kept

    @property
    def outcome(self) -> str:
        return "ok" if self.accepted else f"kept: {self.reason}"


class BadList(ValueError):
    """The peer's list is not good enough to replace the stored registry."""


class RegistrySync:
    """Syncs the stored national records from peers' directories (see the module docstring)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        policy: SyncPolicy,
        health: PeerHealthStore | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.policy = policy
        self._health = health
        self._on_change = on_change  # e.g. LiveRegistry.invalidate

    def sync(
        self, peer: str, directory: PeerDirectory, *, actor: str = "worker:sync"
    ) -> SyncResult:
        """Read ``peer``'s list, check it, store it if good; never raises for a bad answer."""
        now = self._clock.now()
        stored = self._stored_count()
        try:
            rows = read_directory(directory)
            check(rows, stored, self.policy.min_ratio)
        except (HubError, BadList) as exc:
            reason = f"{exc.code}: {exc.message_en}" if isinstance(exc, HubError) else str(exc)
            result = SyncResult(peer, False, 0, stored, reason[:400])
        except Exception as exc:  # a bug in an adapter must not stop the schedule
            log.exception("registry sync from %s failed unexpectedly", peer)
            result = SyncResult(peer, False, 0, stored, f"unexpected {type(exc).__name__}")
        else:
            agencies = [agency_from_row(r) for r in rows if not r.deleted]
            count = import_agencies(
                self._uow,
                agencies,
                at=now,
                actor=actor,
                source=NATIONAL_SOURCE,
                replace=True,
            )
            result = SyncResult(peer, True, count, stored, "ok")
            if self._on_change is not None:
                self._on_change()
        if result.accepted:
            log.info("registry synced from %s: %d agencies", peer, result.received)
        else:
            log.warning("registry sync from %s refused, keeping the stored one: %s",
                        peer, result.reason)  # fmt: skip
        if self._health is not None:
            try:
                self._health.save_sync(
                    peer,
                    at=now,
                    outcome=result.outcome,
                    count=result.received if result.accepted else None,
                )
            except HubError as exc:
                log.warning("registry sync from %s: health not recorded (%s)", peer, exc.code)
        return result

    def sync_all(self, directories: Mapping[str, PeerDirectory]) -> list[SyncResult]:
        """:meth:`sync` from each peer in turn (by name)."""
        return [self.sync(name, directories[name]) for name in sorted(directories)]

    async def run(
        self,
        directories: Mapping[str, PeerDirectory],
        stop: asyncio.Event,
        *,
        lease: Callable[[], bool] = lambda: True,
    ) -> None:
        """Sync every ``interval_s`` until ``stop`` is set (first round at once).

        ``lease`` is asked before each round; a round it refuses is skipped (another node holds
        the sync). The store and the peers are synchronous: each round runs in a thread.
        """
        if self.policy.interval_s <= 0 or not directories:
            return
        while not stop.is_set():
            if lease():
                await asyncio.to_thread(self.sync_all, directories)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.policy.interval_s)
            except TimeoutError:
                continue

    def _stored_count(self) -> int:
        try:
            with self._uow() as uow:
                rows = uow.agencies.list()
        except HubError:
            return 0
        return sum(1 for r in rows if r.source == NATIONAL_SOURCE)


def directories_of(peers: Mapping[str, Peer]) -> dict[str, PeerDirectory]:
    """The directories of the peers that have one, by peer name."""
    return {name: p.directory for name, p in peers.items() if p.directory is not None}


def read_directory(directory: PeerDirectory) -> list[AgencyRow]:
    """The peer's whole list, with its QĐ 20 codes and incremental changes when it has them.

    Changes (``agency_changes``) apply over the list: a newer record replaces the listed one, a
    ``deleted`` one is dropped.
    """
    rows = list(directory.agencies())
    if not isinstance(directory, PeerDirectoryDetails):
        return rows
    qd20 = {lookup_key(r.code): r.code_qd20 for r in directory.agencies_qd20() if r.code_qd20}
    by_key = {lookup_key(r.code): r for r in rows}
    for key, code_qd20 in qd20.items():
        row = by_key.get(key)
        if row is not None and not row.code_qd20 and code_qd20 != row.code:
            by_key[key] = dataclasses.replace(row, code_qd20=code_qd20)
    for change in directory.agency_changes():
        key = lookup_key(change.code)
        if change.deleted:
            by_key.pop(key, None)
        elif key in by_key:
            by_key[key] = change
    return list(by_key.values())


def check(rows: Sequence[AgencyRow], stored: int, min_ratio: float) -> None:
    """Raise :class:`BadList` unless ``rows`` may replace ``stored`` national records."""
    if not rows:
        raise BadList("the peer answered an empty agency list")
    seen: set[str] = set()
    for index, row in enumerate(rows, 1):
        code = (row.code or "").strip()
        if not code or not (row.name or "").strip():
            raise BadList(f"record {index} has no code or no name")
        if not parse_code(code).is_valid:
            raise BadList(f"record {index}: {code!r} is not an agency code")
        key = lookup_key(code)
        if key in seen:
            raise BadList(f"record {index}: code {code} listed twice")
        seen.add(key)
    if stored and len(rows) < min_ratio * stored:
        raise BadList(
            f"the list has {len(rows)} agencies, under {min_ratio:.0%} of the {stored} stored "
            f"(truncated answer?)"
        )
    try:
        Registry(_agencies(rows))
    except HubError as exc:
        raise BadList(f"the list does not build a registry: {exc.message_en}") from exc


def _agencies(rows: Iterable[AgencyRow]) -> Iterable[Agency]:
    return (agency_from_row(r) for r in rows)
