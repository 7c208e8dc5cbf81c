"""The registry the hub routes with: the configured registry overlaid with stored records.

The configured registry (``registry.source`` or the shipped sample) is the baseline. Records in
the ``agencies`` table — imported by IT staff (``lienthong agencies import``), registered by a
connected system (VXP ``registerAgency``) or synced from the national axis — override the
baseline record of the same code, add new codes, and a record marked deleted removes its code.

:class:`LiveRegistry` is the ``Deps.registry`` provider: it rebuilds the merged
:class:`~hub.agency.registry.Registry` at most every ``refresh_s`` seconds (so every worker
process sees changes made by others), or at once after :meth:`invalidate`. A stored record
whose code collides with another agency's (a former or QĐ 20 code) is skipped and logged by
:func:`merge`, so one bad record never holds the others back; a merged set that still does not
build keeps the last good registry and logs why, rather than stopping routing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable

from hub.agency.codes import lookup_key
from hub.agency.registry import Agency, Registry
from hub.errors import HubError
from hub.ports import AgencyRow, AuditRow, UnitOfWorkFactory

log = logging.getLogger(__name__)

#: Agency records written per statement by :func:`import_agencies` (one executemany).
_UPSERT_BATCH = 1000


def agency_from_row(row: AgencyRow, base: Agency | None = None) -> Agency:
    """The routing view of a stored record; fields the record lacks come from ``base``."""
    return Agency(
        code=row.code,
        name=row.name or (base.name if base else row.code),
        code_qd20=row.code_qd20 or (base.code_qd20 if base else None),
        parent_code=row.parent_code or (base.parent_code if base else None),
        level=row.level if row.level is not None else (base.level if base else None),
        system_id=base.system_id if base else None,
        valid_from=row.valid_from or (base.valid_from if base else None),
        valid_to=row.valid_to or (base.valid_to if base else None),
        successor_code=row.successor_code or (base.successor_code if base else None),
        email=row.email or (base.email if base else None),
        former_codes=base.former_codes if base else (),
        registry_id=base.registry_id if base else None,
    )


def merge(base: Registry, rows: Iterable[AgencyRow]) -> Registry:
    """``base`` with ``rows`` applied (override, add, delete by code).

    A stored record whose code, former code or QĐ 20 code already names another agency would
    make the registry refuse to build (one code, two agencies): it is skipped and logged, never
    allowed to stop the refresh. Configured agencies claim their codes first; a colliding
    override of a configured agency falls back to the configured record.
    """
    configured = {lookup_key(a.code): a for a in base}
    by_key = dict(configured)
    stored: set[str] = set()
    for row in rows:
        key = lookup_key(row.code)
        if row.deleted:
            by_key.pop(key, None)
            stored.discard(key)
        else:
            by_key[key] = agency_from_row(row, by_key.get(key))
            stored.add(key)
    claimed: dict[str, str] = {}  # every code form → the primary code of the agency it names
    kept: dict[str, Agency] = {}
    # Configured (untouched) agencies claim first, then stored records in code order, so the
    # outcome does not depend on the order rows come in; the registry keeps by_key's order.
    for key in sorted(by_key, key=lambda k: (k in stored, k)):
        agency = by_key[key]
        clash = _clash(agency, key, claimed)
        if clash is not None and key in stored:
            log.warning(
                "agency record %s skipped: its code %s already names agency %s",
                agency.code,
                clash,
                claimed[lookup_key(clash)],
            )
            fallback = configured.get(key)
            if fallback is None or _clash(fallback, key, claimed) is not None:
                continue
            agency = fallback
        for form in _forms(agency):
            claimed[lookup_key(form)] = agency.code
        kept[key] = agency
    return Registry(kept[k] for k in by_key if k in kept)


def _forms(agency: Agency) -> list[str]:
    return [agency.code, *agency.former_codes, *([agency.code_qd20] if agency.code_qd20 else [])]


def _clash(agency: Agency, key: str, claimed: dict[str, str]) -> str | None:
    """The first code form of ``agency`` already claimed by another agency, else ``None``."""
    for form in _forms(agency):
        owner = claimed.get(lookup_key(form))
        if owner is not None and lookup_key(owner) != key:
            return form
    return None


class LiveRegistry:
    """``Deps.registry``: the merged registry, refreshed from the store now and then."""

    def __init__(
        self,
        base: Registry,
        uow: UnitOfWorkFactory,
        *,
        refresh_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base
        self._uow = uow
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._current = base
        self._loaded_at: float | None = None

    def invalidate(self) -> None:
        """Rebuild on the next call (after this process changed the stored records)."""
        with self._lock:
            self._loaded_at = None

    def __call__(self) -> Registry:
        now = self._monotonic()
        loaded = self._loaded_at
        if loaded is not None and now - loaded < self._refresh_s:
            return self._current
        with self._lock:
            if self._loaded_at is not None and now - self._loaded_at < self._refresh_s:
                return self._current
            try:
                with self._uow() as uow:
                    rows = uow.agencies.list(include_deleted=True)
                self._current = merge(self._base, rows) if rows else self._base
            except HubError as exc:
                log.warning("agency registry not refreshed, keeping the last one: %s", exc.code)
            self._loaded_at = now
            return self._current


def import_agencies(
    uow: UnitOfWorkFactory,
    agencies: Iterable[Agency],
    *,
    at: dt.datetime,
    actor: str,
    source: str = "import",
    replace: bool = False,
) -> int:
    """Store ``agencies`` as records from ``source`` ("import", "national"), in one audited
    transaction; return how many.

    ``replace``: the list is the whole of ``source`` — stored records of that source whose code
    it lacks are marked deleted (a registry sync follows removals at the peer).
    """
    count = 0
    withdrawn = 0
    with uow() as work:
        listed: set[str] = set()
        pending: list[AgencyRow] = []
        for a in agencies:
            pending.append(
                AgencyRow(
                    code=a.code,
                    name=a.name,
                    code_qd20=a.code_qd20,
                    parent_code=a.parent_code,
                    level=a.level,
                    valid_from=a.valid_from,
                    valid_to=a.valid_to,
                    successor_code=a.successor_code,
                    email=a.email,
                    source=source,
                    modified_at=at,
                )
            )
            listed.add(lookup_key(a.code))
            count += 1
            if len(pending) >= _UPSERT_BATCH:
                work.agencies.upsert_many(pending)
                pending = []
        work.agencies.upsert_many(pending)
        if replace:
            for row in work.agencies.list():
                if row.source == source and lookup_key(row.code) not in listed:
                    work.agencies.upsert(dataclasses.replace(row, deleted=True, modified_at=at))
                    withdrawn += 1
        details: dict[str, object] = {"count": count, "source": source}
        if replace:
            details["withdrawn"] = withdrawn
        work.audit.append(AuditRow(at, actor, "agency.import", None, "ok", details))
        work.commit()
    return count
