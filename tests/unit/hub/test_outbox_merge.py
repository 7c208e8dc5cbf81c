"""The relay merges the dispatch rows it finds in one pass into messages of up to
``merge_ids`` delivery ids; the dispatch handler moves each batch on in one transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from adapters.broker.memory import MemoryBroker
from adapters.memory import MemoryStore
from hub.messaging import DISPATCH_QUEUE, FORWARD_QUEUE
from hub.ports import OutboxRow
from hub.services.outbox import OutboxRelay

AT = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def row(n: int, body: bytes, queue: str = DISPATCH_QUEUE) -> OutboxRow:
    return OutboxRow(n, queue, body, AT)


def ids(*names: str) -> bytes:
    return json.dumps({"delivery_ids": list(names)}).encode()


def relay(merge_ids: int = 3) -> OutboxRelay:
    return OutboxRelay(MemoryStore().unit_of_work, MemoryBroker(), merge_ids=merge_ids)


def test_dispatch_rows_are_merged_up_to_the_cap() -> None:
    rows = [row(1, ids("a")), row(2, json.dumps({"delivery_id": "b"}).encode()), row(3, ids("c"))]
    rows += [row(4, ids("d", "e")), row(5, ids("f"))]
    merged = relay(merge_ids=3)._merged(rows)
    assert [(name, json.loads(body)) for name, body in merged] == [
        ("outbox-1-3", {"delivery_ids": ["a", "b", "c"]}),
        ("outbox-4-5", {"delivery_ids": ["d", "e", "f"]}),
    ]


def test_a_single_row_keeps_its_name_and_an_unreadable_body_passes_unchanged() -> None:
    merged = relay()._merged([row(7, b"not json"), row(8, ids("x"))])
    assert merged == [("outbox-7", b"not json"), ("outbox-8", ids("x"))]


def test_run_once_publishes_merged_dispatch_and_leaves_other_queues_alone() -> None:
    store = MemoryStore()
    broker = MemoryBroker()
    with store.unit_of_work() as uow:
        for name in ("a", "b", "c"):
            uow.outbox.add(DISPATCH_QUEUE, ids(name), AT)
        uow.outbox.add(FORWARD_QUEUE, json.dumps({"delivery_id": "z"}).encode(), AT)
        uow.commit()
    r = OutboxRelay(store.unit_of_work, broker)

    async def body() -> int:
        await broker.start()
        return await r.run_once()

    assert asyncio.run(body()) == 4  # rows forgotten
    published = [(m.queue, json.loads(m.body)) for m in broker.published]
    assert sorted(published, key=str) == sorted(
        [
            (DISPATCH_QUEUE, {"delivery_ids": ["a", "b", "c"]}),
            (FORWARD_QUEUE, {"delivery_id": "z"}),
        ],
        key=str,
    )
    with store.unit_of_work() as uow:
        assert uow.outbox.pending() == []
