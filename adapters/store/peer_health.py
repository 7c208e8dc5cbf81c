"""The ``peer_health`` table behind :class:`hub.ports.PeerHealthStore`.

Each write is its own short transaction on the engine (not part of a unit of work): health is
a view of the connections, written by the breaker as calls happen, and must never hold back or
roll back the work it describes. The connection columns and the sync columns are upserted
separately (``INSERT … ON CONFLICT (name) DO UPDATE`` on both SQLite and PostgreSQL), so the
breaker and the registry sync never overwrite each other's facts. Failures surface as
:class:`hub.errors.StoreUnavailable` (the breaker logs and carries on).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from adapters.store.engine import reading, translate_errors
from adapters.store.tables import peer_health
from hub.ports import PeerHealth

_LINK_COLUMNS = (
    "kind",
    "state",
    "consecutive_failures",
    "last_success_at",
    "last_error_at",
    "last_error",
    "alert",
    "opened_at",
    "updated_at",
)


class SqlPeerHealthStore:
    """:class:`hub.ports.PeerHealthStore` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _upsert(self, values: Mapping[str, Any], update: Sequence[str]) -> None:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(peer_health).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={c: stmt.excluded[c] for c in update}
        )
        with translate_errors("recording peer health"), self._engine.begin() as conn:
            conn.execute(stmt)

    def save_link(self, health: PeerHealth) -> None:
        values = {c: getattr(health, c) for c in _LINK_COLUMNS}
        values["last_error"] = _cut(health.last_error)
        values["alert"] = _cut(health.alert)
        self._upsert({"name": health.name, **values}, _LINK_COLUMNS)

    def save_sync(
        self, name: str, *, at: dt.datetime, outcome: str, count: int | None = None
    ) -> None:
        values: dict[str, Any] = {"sync_at": at, "sync_outcome": _cut(outcome)}
        if count is not None:
            values["sync_count"] = count
        # A peer first seen by its sync gets a closed-breaker row (nothing failed yet).
        row = {"name": name, "kind": "", "state": "closed", "consecutive_failures": 0}
        self._upsert({**row, **values}, tuple(values))

    def all(self) -> Sequence[PeerHealth]:
        with translate_errors("reading peer health"), reading(self._engine) as conn:
            rows = conn.execute(sa.select(peer_health).order_by(peer_health.c.name)).all()
        return [PeerHealth(**r._asdict()) for r in rows]


def _cut(text: str | None) -> str | None:
    return text[:512] if text is not None else None
