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
from sqlalchemy.engine import Engine

from adapters.store import tables as t
from adapters.store.engine import translate_errors
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


class SqlAuditChain:
    """The chain over an engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def head(self) -> tuple[int, str]:
        a = t.audit
        with translate_errors("reading the audit chain"), self._engine.connect() as conn:
            row = conn.execute(
                sa.select(a.c.chain_seq, a.c.hash)
                .where(a.c.chain_seq.is_not(None))
                .order_by(a.c.chain_seq.desc())
                .limit(1)
            ).first()
        return (0, GENESIS) if row is None else (int(row.chain_seq), str(row.hash))

    def unsealed(self, limit: int) -> Sequence[AuditRow]:
        a = t.audit
        with translate_errors("reading the audit chain"), self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(a).where(a.c.chain_seq.is_(None)).order_by(a.c.id).limit(limit)
            ).all()
        return [_row(r) for r in rows]

    def seal(self, sealed: Sequence[SealedRow[AuditRow]], checkpoint: Checkpoint | None) -> None:
        a = t.audit
        try:
            with translate_errors("sealing the audit chain"), self._engine.begin() as conn:
                for link in sealed:
                    done = conn.execute(
                        sa.update(a)
                        .where(a.c.id == link.row.id)
                        .where(a.c.chain_seq.is_(None))
                        .values(chain_seq=link.seq, prev_hash=link.prev_hash, hash=link.hash)
                    ).rowcount
                    if done != 1:
                        raise _raced()
                if checkpoint is not None:
                    conn.execute(
                        t.audit_checkpoints.insert().values(
                            seq=checkpoint.seq,
                            hash=checkpoint.hash,
                            at=checkpoint.at,
                            mac=checkpoint.mac,
                        )
                    )
        except exc.IntegrityError as err:  # a racing sealer took the same chain_seq
            raise _raced() from err

    def chain(self) -> Iterator[SealedRow[AuditRow]]:
        a = t.audit
        after = 0
        while True:
            with translate_errors("reading the audit chain"), self._engine.connect() as conn:
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
        with translate_errors("reading the audit chain"), self._engine.connect() as conn:
            rows = conn.execute(sa.select(c).order_by(c.c.seq)).all()
        return [Checkpoint(int(r.seq), r.hash, r.at, r.mac) for r in rows]
