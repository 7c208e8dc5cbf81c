"""The message log's WHERE clause (:meth:`hub.ports.DeliveryRepository.log`) over the joined
``deliveries`` and ``documents``.

Every criterion is an equality (or a range on ``deliveries.created_at``), so each one has an
index to start from (migration 0017): ``documents.document_id``, ``code_number`` /
``code_notation``, the sender's code and system, ``deliveries.recipient_code`` /
``resolved_code`` (0016), ``(state, created_at)``, ``(business_status, created_at)`` and
``(created_at, id)`` for the unfiltered, newest-first page. A "contains" search would read the
whole table on both backends: the log does not offer one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa

from adapters.store import tables as t
from hub.ports import LogFilter

#: Deliveries joined with their document, columns labelled ``d_<name>`` / ``doc_<name>`` (the
#: message log and the inbox read the same shape).
JOINED = t.deliveries.join(t.documents, t.deliveries.c.doc_id == t.documents.c.id)
JOINED_COLUMNS = (
    *[c.label(f"d_{c.name}") for c in t.deliveries.columns],
    *[c.label(f"doc_{c.name}") for c in t.documents.columns],
)


def log_statement(
    where: LogFilter, before: tuple[dt.datetime, str] | None, limit: int
) -> sa.Select[Any]:
    """One page of the message log: deliveries with their document, newest first."""
    d = t.deliveries
    limit = max(0, limit)
    conditions = log_where(dataclasses.replace(where, recipient=None), before)
    if not where.recipient:
        return (
            sa.select(*JOINED_COLUMNS)
            .select_from(JOINED)
            .where(*conditions)
            .order_by(d.c.created_at.desc(), d.c.id.desc())
            .limit(limit)
        )
    # The recipient as addressed OR as resolved: one ordered branch each, merged. A single OR
    # lets SQLite walk (created_at, id) newest first through the whole table; so would the
    # resolved branch as a plain equality (resolved_code is mostly NULL, and its statistics
    # make the index look unselective), so that branch names its few ids first.
    r = where.recipient
    resolved = sa.select(d.c.id).where(d.c.resolved_code == r, d.c.recipient_code != r)
    branches = [
        sa.select(*JOINED_COLUMNS)
        .select_from(JOINED)
        .where(*conditions, extra)
        .order_by(d.c.created_at.desc(), d.c.id.desc())
        .limit(limit)
        .subquery()
        for extra in (d.c.recipient_code == r, d.c.id.in_(resolved))
    ]
    merged = sa.union_all(*(sa.select(b) for b in branches)).subquery()
    return (
        sa.select(merged).order_by(merged.c.d_created_at.desc(), merged.c.d_id.desc()).limit(limit)
    )


def log_where(where: LogFilter, before: tuple[dt.datetime, str] | None) -> list[Any]:
    """The conditions of one message-log page (see the module docstring)."""
    d, doc = t.deliveries, t.documents
    out: list[Any] = []
    if where.document:
        out.append(sa.or_(doc.c.document_id == where.document, doc.c.id == where.document))
    if where.code:
        number, notation = where.code_parts()
        if notation is None and number is not None:
            out.append(sa.or_(doc.c.code_number == number, doc.c.code_notation == number))
        else:
            if number is not None:
                out.append(doc.c.code_number == number)
            if notation is not None:
                out.append(doc.c.code_notation == notation)
    if where.sender:
        out.append(sa.or_(doc.c.sender_code == where.sender, doc.c.sender_system == where.sender))
    if where.recipient:
        out.append(
            sa.or_(d.c.recipient_code == where.recipient, d.c.resolved_code == where.recipient)
        )
    if where.state:
        out.append(d.c.state == where.state)
    if where.status:
        out.append(d.c.business_status == where.status)
    if where.since is not None:
        out.append(d.c.created_at >= where.since)
    if where.until is not None:
        out.append(d.c.created_at < where.until)
    if before is not None:
        # Compared column by column (the bind takes the column's type); the plain upper bound
        # first, so both databases start an index range there instead of filtering an OR.
        at, key = before
        out.append(d.c.created_at <= at)
        out.append(sa.or_(d.c.created_at < at, d.c.id < key))
    return out
