"""The console's activity figures (:class:`hub.ports.ActivityRepository`) in SQLAlchemy Core.

Rates over time are counted in the database, one ``GROUP BY`` per series over a time range of an
indexed column (migration 0016 adds ``documents.received_at`` and ``delivery_events (to_state,
at)``; ``audit.at`` had one): the page never fetches a week of rows to count them in Python.

Bucketing differs by backend. PostgreSQL computes the bucket from ``extract(epoch FROM at)``
(``timestamptz``). On SQLite, where :class:`adapters.store.tables.UtcDateTime` stores ISO text
in UTC (``YYYY-MM-DD HH:MM:SS.ffffff``), parsing every row with ``strftime`` costs six times a
text prefix (bench/RESULTS-console.md), so rows are grouped by the prefix of their text to the
hour, the minute or the second — the coarsest unit that divides the window's start and width,
so no group straddles two buckets — and the few groups are put into buckets here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from adapters.store import tables as t
from adapters.store.repositories import _delivery, _Repo
from hub.delivery import State
from hub.ports import Buckets, DeliveryRow

#: SQLite text prefixes: (unit in seconds, characters of ``YYYY-MM-DD HH:MM:SS``, strptime).
_PREFIXES = ((3600, 13, "%Y-%m-%d %H"), (60, 16, "%Y-%m-%d %H:%M"), (1, 19, "%Y-%m-%d %H:%M:%S"))


def _prefix(window: Buckets) -> tuple[int, str]:
    start = int(window.start.timestamp())
    for unit, length, fmt in _PREFIXES:
        if start % unit == 0 and window.width_s % unit == 0:
            return length, fmt
    return 19, "%Y-%m-%d %H:%M:%S"  # pragma: no cover - the unit of 1 always divides


def _pg_bucket(column: Any, window: Buckets) -> ColumnElement[Any]:
    start = int(window.start.timestamp())
    seconds = sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)
    return sa.cast(sa.func.floor((seconds - start) / float(window.width_s)), sa.Integer)


class SqlActivityRepository(_Repo):
    def _series(
        self, what: str, column: Any, window: Buckets, *where: ColumnElement[bool]
    ) -> list[int]:
        sqlite = self.conn.dialect.name == "sqlite"
        if sqlite:
            length, fmt = _prefix(window)
            key = sa.func.substr(sa.cast(column, sa.Text), 1, length).label("bucket")
        else:
            key = _pg_bucket(column, window).label("bucket")
        stmt = (
            sa.select(key, sa.func.count())
            .where(column >= window.start, column < window.end, *where)
            .group_by(key)
        )
        counts = [0] * window.count
        rows: Any = self._run(what, stmt).all()
        for value, n in rows:
            if value is None:
                continue
            if sqlite:
                index = window.index(dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC))
            else:
                index = int(value)
            if index is not None and 0 <= index < window.count:
                counts[index] += int(n)
        return counts

    def received(self, window: Buckets) -> list[int]:
        return self._series("counting received documents", t.documents.c.received_at, window)

    def transitions(self, to_states: Sequence[str], window: Buckets) -> list[int]:
        ev = t.delivery_events
        moved = sa.or_(ev.c.from_state.is_(None), ev.c.from_state != ev.c.to_state)
        return self._series(
            "counting delivery events", ev.c.at, window, ev.c.to_state.in_(list(to_states)), moved
        )

    def refusals(self, actions: Sequence[str], window: Buckets) -> list[int]:
        a = t.audit
        return self._series(
            "counting refusals", a.c.at, window, a.c.action.in_(list(actions)), a.c.outcome != "ok"
        )

    def system_states(self, system_id: str) -> Mapping[str, int]:
        d = t.deliveries
        stmt = (
            sa.select(d.c.state, sa.func.count())
            .where(d.c.system_id == system_id)
            .group_by(d.c.state)
        )
        rows: Any = self._run("counting a system's deliveries", stmt).all()
        return {str(state): int(n) for state, n in rows}

    def system_times(self, system_id: str) -> tuple[dt.datetime | None, dt.datetime | None]:
        d = t.deliveries
        oldest = sa.select(sa.func.min(d.c.created_at)).where(
            d.c.system_id == system_id, d.c.state == State.AVAILABLE.value
        )
        fetched = sa.select(sa.func.max(d.c.fetched_at)).where(d.c.system_id == system_id)
        return (
            self._run("reading a system's oldest waiting", oldest).scalar_one(),
            self._run("reading a system's last fetch", fetched).scalar_one(),
        )

    def sent_count(self, system_id: str) -> int:
        d = t.documents
        stmt = sa.select(sa.func.count()).select_from(d).where(d.c.sender_system == system_id)
        return int(self._run("counting a system's documents", stmt).scalar_one())

    def recent_deliveries(
        self, *, system_id: str | None = None, recipient_code: str | None = None, limit: int = 50
    ) -> Sequence[DeliveryRow]:
        d = t.deliveries
        if system_id is not None:
            stmt = sa.select(d).where(d.c.system_id == system_id)
        elif recipient_code is not None:
            # Two indexed lookups joined, not one OR over two columns (which scans on SQLite).
            addressed = sa.select(d.c.id).where(d.c.recipient_code == recipient_code)
            resolved = sa.select(d.c.id).where(d.c.resolved_code == recipient_code)
            stmt = sa.select(d).where(d.c.id.in_(sa.union(addressed, resolved)))
        else:
            raise ValueError("recent_deliveries needs a system_id or a recipient_code")
        stmt = stmt.order_by(d.c.created_at.desc(), d.c.id.desc()).limit(limit)
        return [_delivery(r) for r in self._run("listing recent deliveries", stmt)]

    def record_pull(self, system_id: str, at: dt.datetime) -> None:
        s = t.systems
        stmt = (
            sa.update(s)
            .where(s.c.id == system_id)
            .where(sa.or_(s.c.last_pull_at.is_(None), s.c.last_pull_at < at))
            .values(last_pull_at=at)
        )
        self._run("recording a pull", stmt)

    def last_pulls(self) -> Mapping[str, dt.datetime]:
        s = t.systems
        stmt = sa.select(s.c.id, s.c.last_pull_at).where(s.c.last_pull_at.is_not(None))
        rows: Any = self._run("reading last pulls", stmt).all()
        return {str(system_id): at for system_id, at in rows}
