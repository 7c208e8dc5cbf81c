"""The inbox page on SQLite and PostgreSQL: one ordered branch per state, merged — the result
must equal "every matching row, oldest first, the first ``limit``", whatever the states' mix."""

from __future__ import annotations

import datetime as dt

from hub.edxml.model import MessageKind
from tests.integration.store.test_store_repositories import (
    T0,
    Uow,
    delivery,
    stored_document,
    uow,  # noqa: F401 - the fixture
)


def test_inbox_pages_interleave_states_in_creation_order(uow: Uow) -> None:  # noqa: F811
    docs = [stored_document(uow, n, document_id=f"DOC-{n}") for n in range(1, 4)]
    rows = []
    for i in range(12):  # states interleaved in creation order; ties on created_at broken by id
        state = ("available", "fetched", "done")[i % 3]
        at = T0 + dt.timedelta(seconds=i // 2)
        rows.append(delivery(docs[i % 3], f"R{i:02d}", state=state, created_at=at))
    with uow() as u:
        u.deliveries.add_many(rows)
        u.commit()
    listed = [r for r in rows if r.state != "done"]
    expected = [r.id for r in sorted(listed, key=lambda r: (r.created_at, r.id))]
    states = ["available", "fetched"]
    with uow() as u:
        for limit in (1, 3, 5, 8, 100):
            page = u.deliveries.inbox("qlvb-b", MessageKind.EDOC, states, limit=limit)
            assert [e.delivery_id for e in page] == expected[:limit]
        assert u.deliveries.count_inbox("qlvb-b", MessageKind.EDOC, states) == len(expected)
        assert (
            u.deliveries.inbox("qlvb-b", MessageKind.EDOC, ["available"], limit=2)
            == [
                p
                for p in u.deliveries.inbox("qlvb-b", MessageKind.EDOC, states)
                if p.state == "available"
            ][:2]
        )
        assert u.deliveries.inbox("qlvb-b", MessageKind.EDOC, [], limit=5) == []
