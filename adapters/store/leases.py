"""Named leases in the database (:class:`hub.ports.Leases`), on SQLite and PostgreSQL.

Theory of operation. One row per lease name: ``(name, holder, expires_at)``. :meth:`acquire` is
one short transaction of its own (never inside a unit of work: a lease must not wait for, or be
rolled back with, other work): an ``UPDATE`` that takes the row when this holder has it or it
has expired, else an ``INSERT`` that loses quietly to a concurrent insert (``ON CONFLICT DO
NOTHING``). Exactly one of several racing processes sees a changed row. Times come from the
caller's clock, so every node must keep its clock in sync (NTP) to within a fraction of the TTL.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from adapters.store.engine import translate_errors
from adapters.store.tables import leases


class SqlLeases:
    """:class:`hub.ports.Leases` over an engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        self._insert = (
            dialect.insert(leases)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(leases.c.name)  # rowcount is not reliable for ON CONFLICT on psycopg
        )

    def acquire(self, name: str, holder: str, ttl_s: float, now: dt.datetime) -> bool:
        until = now + dt.timedelta(seconds=ttl_s)
        with translate_errors("taking a lease"), self._engine.begin() as conn:
            taken = conn.execute(
                sa.update(leases)
                .where(leases.c.name == name)
                .where(sa.or_(leases.c.holder == holder, leases.c.expires_at < now))
                .values(holder=holder, expires_at=until)
            ).rowcount
            if taken:
                return True
            inserted = conn.execute(
                self._insert.values(name=name, holder=holder, expires_at=until)
            ).first()
            return inserted is not None

    def release(self, name: str, holder: str) -> None:
        with translate_errors("releasing a lease"), self._engine.begin() as conn:
            conn.execute(
                sa.delete(leases).where(leases.c.name == name).where(leases.c.holder == holder)
            )
