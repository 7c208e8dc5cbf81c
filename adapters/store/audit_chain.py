"""The audit hash chain in the database (:class:`hub.audit_chain.AuditChainStore`).

Each method is a short transaction of its own on the engine (the sealer is not part of any
unit of work). Racing sealers cannot fork the chain: ``chain_seq`` is unique and a link is
written only onto a row that is still unsealed; the loser's transaction rolls back whole and it
raises :class:`hub.errors.Conflict` (``audit.raced``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Executable

from adapters.store import tables as t
from adapters.store.engine import reading, translate_errors
from hub.audit_chain import GENESIS, Checkpoint, SealedRow
from hub.errors import Conflict
from hub.ports import AuditRow

PAGE = 1000


def _raced() -> Conflict:
    return Conflict(
        "another sealer linked these audit rows first",
        message_vi="một tiến trình khác đã niêm phong các dòng nhật ký này",
        code="audit.raced",
    )


def _row(r: sa.Row[Any]) -> AuditRow:
    return AuditRow(r.at, r.actor, r.action, r.subject, r.outcome, r.details, r.id)


def write_links(conn: Connection, stmt: Executable, params: Sequence[dict[str, Any]]) -> bool:
    """Run the link UPDATE ``stmt`` (``… WHERE id = :b_id AND chain_seq IS NULL``) for every
    row of ``params``; ``False`` when any row was sealed already (another sealer's).

    One executemany, its summed row count checked — both drivers report it
    (``supports_sane_multi_rowcount``) — instead of a statement per row, which cost more than
    the hashing; a driver that does not report it gets one statement per row.
    """
    if not params:
        return True
    if conn.dialect.supports_sane_multi_rowcount:
        return conn.execute(stmt, list(params)).rowcount == len(params)
    return all(conn.execute(stmt, p).rowcount == 1 for p in params)


def head_statement(table: sa.Table) -> Executable:
    """``SELECT chain_seq, hash`` of the last sealed row of a chained table."""
    c = table.c
    return (
        sa.select(c.chain_seq, c.hash)
        .where(c.chain_seq.is_not(None))
        .order_by(c.chain_seq.desc())
        .limit(1)
    )


def link_statement(table: sa.Table) -> Executable:
    """The link UPDATE of a chained table, run by :func:`write_links`."""
    c = table.c
    return (
        sa.update(table)
        .where(c.id == sa.bindparam("b_id"), c.chain_seq.is_(None))
        .values(
            chain_seq=sa.bindparam("b_seq"),
            prev_hash=sa.bindparam("b_prev"),
            hash=sa.bindparam("b_hash"),
        )
    )


# Built once: building and cache-keying a statement per call (per row, in the seal) cost more
# than running it.
_a = t.audit
_HEAD = head_statement(_a)
_UNSEALED = (
    sa.select(_a).where(_a.c.chain_seq.is_(None)).order_by(_a.c.id).limit(sa.bindparam("limit"))
)
_LINK = link_statement(_a)
_INSERT_CHECKPOINT = t.audit_checkpoints.insert()


def link_params(sealed: Sequence[SealedRow[Any]]) -> list[dict[str, Any]]:
    """The parameters of a link UPDATE for each sealed row (audit rows and evidence events)."""
    return [
        {"b_id": s.row.id, "b_seq": s.seq, "b_prev": s.prev_hash, "b_hash": s.hash} for s in sealed
    ]


class SqlAuditChain:
    """The chain over an engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Reads in a DEFERRED transaction: on SQLite they never queue for the write lock behind
        # the pushes (a race is caught by the sealing transaction, which takes it).
        self._reader = engine.execution_options(sqlite_begin="DEFERRED")

    def head(self) -> tuple[int, str]:
        with translate_errors("reading the audit chain"), reading(self._reader) as conn:
            row = conn.execute(_HEAD).first()
        return (0, GENESIS) if row is None else (int(row.chain_seq), str(row.hash))

    def unsealed(self, limit: int) -> Sequence[AuditRow]:
        with translate_errors("reading the audit chain"), reading(self._reader) as conn:
            rows = conn.execute(_UNSEALED, {"limit": limit}).all()
        return [_row(r) for r in rows]

    def seal(self, sealed: Sequence[SealedRow[AuditRow]], checkpoint: Checkpoint | None) -> None:
        try:
            with translate_errors("sealing the audit chain"), self._engine.begin() as conn:
                if not write_links(conn, _LINK, link_params(sealed)):
                    raise _raced()
                if checkpoint is not None:
                    conn.execute(
                        _INSERT_CHECKPOINT,
                        {
                            "seq": checkpoint.seq,
                            "hash": checkpoint.hash,
                            "at": checkpoint.at,
                            "mac": checkpoint.mac,
                        },
                    )
        except exc.IntegrityError as err:  # a racing sealer took the same chain_seq
            raise _raced() from err

    def chain(self) -> Iterator[SealedRow[AuditRow]]:
        a = t.audit
        after = 0
        while True:
            with translate_errors("reading the audit chain"), reading(self._reader) as conn:
                rows = conn.execute(
                    sa.select(a).where(a.c.chain_seq > after).order_by(a.c.chain_seq).limit(PAGE)
                ).all()
            if not rows:
                return
            for r in rows:
                yield SealedRow(_row(r), int(r.chain_seq), str(r.prev_hash), str(r.hash))
            after = int(rows[-1].chain_seq)

    def checkpoints(self) -> Sequence[Checkpoint]:
        c = t.audit_checkpoints
        with translate_errors("reading the audit chain"), reading(self._reader) as conn:
            rows = conn.execute(sa.select(c).order_by(c.c.seq)).all()
        return [Checkpoint(int(r.seq), r.hash, r.at, r.mac) for r in rows]
