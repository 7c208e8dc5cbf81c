"""The console's accounts, sessions, failed logins and the agencies an account acts for, behind
:class:`hub.ports.OperatorStore`.

Each call is its own short transaction on the engine (not part of a unit of work): a session
ended or an account disabled by one process must be seen by every other at its next check,
and a failed login is recorded even though the request that made it is refused. Failures
surface as :class:`hub.errors.StoreUnavailable`; a taken name as :class:`hub.errors.Conflict`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

from adapters.store.engine import translate_errors
from adapters.store.tables import login_failures, operator_agencies, operator_sessions, operators
from hub.errors import Conflict
from hub.ports import OperatorRow, SessionRow


class SqlOperatorStore:
    """:class:`hub.ports.OperatorStore` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, row: OperatorRow) -> None:
        try:
            with translate_errors("adding an account"), self._engine.begin() as conn:
                conn.execute(sa.insert(operators).values(**_values(row)))
        except exc.IntegrityError as err:
            raise Conflict(
                f"account {row.name!r} exists",
                message_vi=f"tài khoản {row.name!r} đã có",
                code="accounts.exists",
                details={"field": "name"},
            ) from err

    def get(self, name: str) -> OperatorRow | None:
        with translate_errors("reading an account"), self._engine.connect() as conn:
            found = conn.execute(sa.select(operators).where(operators.c.name == name)).first()
        return OperatorRow(**found._asdict()) if found is not None else None

    def all(self) -> Sequence[OperatorRow]:
        with translate_errors("listing accounts"), self._engine.connect() as conn:
            rows = conn.execute(sa.select(operators).order_by(operators.c.name)).all()
        return [OperatorRow(**r._asdict()) for r in rows]

    def save(self, row: OperatorRow) -> None:
        values = _values(row)
        del values["name"], values["created_at"]
        with translate_errors("changing an account"), self._engine.begin() as conn:
            conn.execute(sa.update(operators).where(operators.c.name == row.name).values(values))

    def open_session(self, row: SessionRow) -> None:
        values = {
            "key": row.key,
            "operator": row.operator,
            "created_at": row.created_at,
            "seen_at": row.seen_at,
            "address": (row.address or "")[:64] or None,
        }
        with translate_errors("opening a session"), self._engine.begin() as conn:
            conn.execute(sa.insert(operator_sessions).values(values))

    def session(self, key: str) -> SessionRow | None:
        query = sa.select(operator_sessions).where(operator_sessions.c.key == key)
        with translate_errors("reading a session"), self._engine.connect() as conn:
            found = conn.execute(query).first()
        return SessionRow(**found._asdict()) if found is not None else None

    def touch_session(self, key: str, at: dt.datetime) -> None:
        stmt = sa.update(operator_sessions).where(operator_sessions.c.key == key).values(seen_at=at)
        with translate_errors("touching a session"), self._engine.begin() as conn:
            conn.execute(stmt)

    def end_session(self, key: str) -> None:
        stmt = sa.delete(operator_sessions).where(operator_sessions.c.key == key)
        with translate_errors("ending a session"), self._engine.begin() as conn:
            conn.execute(stmt)

    def end_sessions(self, operator: str) -> int:
        stmt = sa.delete(operator_sessions).where(operator_sessions.c.operator == operator)
        with translate_errors("ending sessions"), self._engine.begin() as conn:
            return conn.execute(stmt).rowcount or 0

    def record_failure(self, key: str, at: dt.datetime) -> None:
        with translate_errors("recording a failed login"), self._engine.begin() as conn:
            conn.execute(sa.insert(login_failures).values(key=key[:128], at=at))
            # Old failures no longer count: keep the table small.
            old = at - dt.timedelta(days=1)
            conn.execute(sa.delete(login_failures).where(login_failures.c.at < old))

    def failures(self, key: str, since: dt.datetime) -> Sequence[dt.datetime]:
        query = (
            sa.select(login_failures.c.at)
            .where(login_failures.c.key == key[:128], login_failures.c.at >= since)
            .order_by(login_failures.c.at)
        )
        with translate_errors("reading failed logins"), self._engine.connect() as conn:
            return [r.at for r in conn.execute(query)]

    def clear_failures(self, key: str) -> None:
        stmt = sa.delete(login_failures).where(login_failures.c.key == key[:128])
        with translate_errors("clearing failed logins"), self._engine.begin() as conn:
            conn.execute(stmt)

    def agencies(self, name: str) -> tuple[str, ...]:
        query = (
            sa.select(operator_agencies.c.agency_code)
            .where(operator_agencies.c.operator == name)
            .order_by(operator_agencies.c.agency_code)
        )
        with translate_errors("reading an account's agencies"), self._engine.connect() as conn:
            return tuple(conn.execute(query).scalars())

    def all_agencies(self) -> Mapping[str, tuple[str, ...]]:
        query = sa.select(operator_agencies).order_by(
            operator_agencies.c.operator, operator_agencies.c.agency_code
        )
        found: dict[str, tuple[str, ...]] = {}
        with translate_errors("listing accounts' agencies"), self._engine.connect() as conn:
            for r in conn.execute(query):
                found[r.operator] = (*found.get(r.operator, ()), r.agency_code)
        return found

    def set_agencies(self, name: str, codes: Sequence[str]) -> None:
        # Delete and insert in one transaction: a reader sees the old list or the new one.
        with translate_errors("changing an account's agencies"), self._engine.begin() as conn:
            conn.execute(sa.delete(operator_agencies).where(operator_agencies.c.operator == name))
            if codes:
                rows = [{"operator": name, "agency_code": c} for c in sorted(set(codes))]
                conn.execute(sa.insert(operator_agencies), rows)


def _values(row: OperatorRow) -> dict[str, object]:
    return {
        "name": row.name,
        "role": row.role,
        "password_hash": row.password_hash,
        "disabled": row.disabled,
        "created_at": row.created_at,
        "changed_at": row.changed_at,
    }
