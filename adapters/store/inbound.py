"""The ``inbound_items`` table: what the inbound poller took from each peer, and the outcome.

One row per ``(peer, remote_id)``, inserted with ``ON CONFLICT DO NOTHING`` (the shared
plumbing of :mod:`adapters.store.repositories`): a second insert of one item is a
:class:`hub.errors.Conflict` without poisoning a PostgreSQL transaction. Rows are never deleted
— refused items stay visible to IT staff (``lienthong inbound list``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from adapters.store import tables as t
from adapters.store.repositories import _by_key, _Repo
from hub.edxml.model import MessageKind
from hub.errors import Conflict
from hub.ports import InboundRow

_BY_KEY = _by_key(t.inbound_items, "peer", "remote_id")
_MARK_ACKED = (
    t.inbound_items.update()
    .where(t.inbound_items.c.peer == sa.bindparam("b_peer"))
    .where(t.inbound_items.c.remote_id == sa.bindparam("b_remote_id"))
    .values(acked_at=sa.bindparam("acked_at"))
)


def _row(r: Any) -> InboundRow:
    return InboundRow(
        peer=r.peer,
        remote_id=r.remote_id,
        kind=MessageKind(r.kind),
        outcome=r.outcome,
        reason=r.reason,
        doc_id=r.doc_id,
        digest=r.digest,
        received_at=r.received_at,
        acked_at=r.acked_at,
    )


class SqlInboundRepository(_Repo):
    """:class:`hub.ports.InboundRepository` over ``inbound_items``."""

    def add(self, row: InboundRow) -> None:
        values = {
            "peer": row.peer,
            "remote_id": row.remote_id,
            "kind": str(row.kind),
            "outcome": row.outcome,
            "reason": row.reason,
            "doc_id": row.doc_id,
            "digest": row.digest,
            "received_at": row.received_at,
            "acked_at": row.acked_at,
        }
        if self._insert_new("recording an inbound item", t.inbound_items, [values]) != 1:
            raise Conflict(
                f"inbound item {row.peer}/{row.remote_id} already recorded",
                message_vi=f"mục nhận {row.peer}/{row.remote_id} đã được ghi nhận",
                code="inbound.duplicate",
            )

    def get(self, peer: str, remote_id: str) -> InboundRow | None:
        params = {"peer": peer, "remote_id": remote_id}
        r = self._run("reading an inbound item", _BY_KEY, params).first()
        return None if r is None else _row(r)

    def mark_acked(self, peer: str, remote_id: str, at: dt.datetime) -> None:
        params = {"b_peer": peer, "b_remote_id": remote_id, "acked_at": at}
        self._run("acknowledging an inbound item", _MARK_ACKED, params)

    def recent(
        self, *, peer: str | None = None, outcome: str | None = None, limit: int = 100
    ) -> Sequence[InboundRow]:
        i = t.inbound_items
        stmt = sa.select(i)
        if peer is not None:
            stmt = stmt.where(i.c.peer == peer)
        if outcome is not None:
            stmt = stmt.where(i.c.outcome == outcome)
        stmt = stmt.order_by(i.c.received_at.desc(), i.c.remote_id.desc()).limit(limit)
        return [_row(r) for r in self._run("listing inbound items", stmt)]

    def for_document(self, doc_id: str) -> Sequence[InboundRow]:
        i = t.inbound_items
        stmt = (
            sa.select(i)
            .where(i.c.doc_id == doc_id)
            .order_by(i.c.received_at, i.c.peer, i.c.remote_id)
        )
        return [_row(r) for r in self._run("reading a document's inbound items", stmt)]
