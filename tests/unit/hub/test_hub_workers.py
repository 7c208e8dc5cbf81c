"""The outbox relay and the dispatch / forward handlers, over the in-memory broker and each
store: publish after commit (woken across threads), dispatch, forward with retry, dead letters,
redrive, and idempotence under redelivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from adapters.broker.memory import MemoryBroker
from adapters.memory import ManualClock, MemoryBlobStore, RecordingPeerLink
from hub.agency.registry import Registry
from hub.edxml.reader import read
from hub.messaging import DISPATCH_QUEUE, FORWARD_QUEUE, BrokerMessage, RetryPolicy
from hub.ports import NATIONAL_LINK, PeerLink, UnitOfWorkFactory
from hub.services.base import Deps, HubConfig
from hub.services.dispatch import DispatchHandler, ForwardHandler, redrive
from hub.services.hub import HubServices
from hub.services.outbox import OutboxRelay
from tests.factories import make_edoc
from tests.unit.hub.conftest import SO, SO_AGENCIES, UBND, UBND_AGENCIES

T = TypeVar("T")
SENDER = UBND_AGENCIES[0]
G22 = "000.00.00.G22"
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)


class Pipeline:
    """A hub with its relay and both handlers consuming from one in-memory broker."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        registry: Registry,
        config: HubConfig,
        links: dict[str, PeerLink],
    ) -> None:
        from hub.secrets import SecretBox, generate_key

        self.clock = ManualClock()
        self.broker = MemoryBroker(retry_policy=FAST)
        self.relay = OutboxRelay(uow, self.broker, sweep_interval_s=60.0)
        self.blobs = MemoryBlobStore()
        deps = Deps(uow, self.blobs, lambda: registry, self.clock, wake_outbox=self.relay.wake)
        self.hub = HubServices(deps, config, SecretBox(generate_key()))
        self.hub.systems.add(UBND, UBND_AGENCIES, secret="a")
        self.hub.systems.add(SO, SO_AGENCIES, secret="b")
        self.dispatch = DispatchHandler(uow, self.clock, wake_outbox=self.relay.wake)
        self.forward = ForwardHandler(
            uow,
            self.blobs,
            links,
            self.clock,
            organ_id=config.organ_id,
            retry=FAST,
            broker=self.broker,
        )

    async def run(self, body: Callable[[], Awaitable[T]]) -> T:
        await self.broker.start()
        stop = asyncio.Event()
        relay = asyncio.create_task(self.relay.run(stop))
        await self.broker.consume(DISPATCH_QUEUE, self.dispatch)
        await self.broker.consume(FORWARD_QUEUE, self.forward)
        try:
            return await body()
        finally:
            stop.set()
            await relay
            await self.broker.close()

    async def settle(self, timeout_s: float = 20.0) -> None:
        """Wait until the outbox is empty, no delivery is between steps, and both queues are
        idle (checked twice in a row: one step's message may be published by the other)."""
        async with asyncio.timeout(timeout_s):
            quiet = 0
            while quiet < 2:
                await self.broker.join(DISPATCH_QUEUE)
                await self.broker.join(FORWARD_QUEUE)
                busy = await asyncio.to_thread(self.work_left)
                quiet = 0 if busy else quiet + 1
                await asyncio.sleep(0.01)

    def work_left(self) -> int:
        with self.hub.deps.uow() as uow:
            moving = sum(
                len(uow.deliveries.in_state(s)) for s in ("queued", "forwarding", "retry_wait")
            )
            return len(uow.outbox.pending()) + moving

    def outbox_size(self) -> int:
        with self.hub.deps.uow() as uow:
            return len(uow.outbox.pending())

    def state(self, delivery_id: str) -> str:
        with self.hub.deps.uow() as uow:
            row = uow.deliveries.get(delivery_id)
            assert row is not None
            return row.state


@pytest.fixture
def national() -> RecordingPeerLink:
    return RecordingPeerLink("national")


@pytest.fixture
def pipeline(
    uow_factory: UnitOfWorkFactory,
    registry: Registry,
    config: HubConfig,
    national: RecordingPeerLink,
) -> Pipeline:
    return Pipeline(uow_factory, registry, config, {NATIONAL_LINK: national})


def test_local_delivery_is_available_at_commit_without_a_message(pipeline: Pipeline) -> None:
    async def body() -> None:
        data = make_edoc(sender=SENDER, to=[SO_AGENCIES[0]])
        result = await asyncio.to_thread(pipeline.hub.push, UBND, data)
        assert pipeline.state(result.recipients[0].delivery_id) == "available"
        await pipeline.settle()
        assert pipeline.broker.published == []

    asyncio.run(pipeline.run(body))
    assert pipeline.relay.published == 0


def test_leaving_delivery_is_published_after_commit_and_woken(pipeline: Pipeline) -> None:
    async def body() -> None:
        # push from a worker thread, as the HTTP layer does; the wake crosses threads
        data = make_edoc(sender=SENDER, to=[G22])
        result = await asyncio.to_thread(pipeline.hub.push, UBND, data)
        await pipeline.settle()
        assert pipeline.state(result.recipients[0].delivery_id) == "forwarded"
        assert [m.queue for m in pipeline.broker.published] == [DISPATCH_QUEUE, FORWARD_QUEUE]

    asyncio.run(pipeline.run(body))
    assert pipeline.relay.published == 2


def test_national_delivery_is_forwarded_with_our_trace(
    pipeline: Pipeline, national: RecordingPeerLink
) -> None:
    async def body() -> str:
        result = await asyncio.to_thread(
            pipeline.hub.push, UBND, make_edoc(sender=SENDER, to=[G22])
        )
        await pipeline.settle()
        return result.recipients[0].delivery_id

    delivery_id = asyncio.run(pipeline.run(body))
    assert pipeline.state(delivery_id) == "forwarded"
    [sent] = national.sent
    assert (sent.from_code, sent.to_codes) == (SENDER, (G22,))
    trace = read(sent.data).trace
    assert trace is not None
    assert trace.trace_headers[-1].organ_id == "000.00.00.H41"
    with pipeline.hub.deps.uow() as uow:
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        assert row.last_error is None


def test_failed_pushes_are_retried_then_succeed(
    pipeline: Pipeline, national: RecordingPeerLink
) -> None:
    national.fail_next(2)

    async def body() -> str:
        result = await asyncio.to_thread(
            pipeline.hub.push, UBND, make_edoc(sender=SENDER, to=[G22])
        )
        await pipeline.settle()
        return result.recipients[0].delivery_id

    delivery_id = asyncio.run(pipeline.run(body))
    assert pipeline.state(delivery_id) == "forwarded"
    assert len(national.sent) == 1
    with pipeline.hub.deps.uow() as uow:
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        assert row.attempts == 2
        states = [e.to_state for e in uow.deliveries.events(delivery_id)]
    assert states == ["queued", "forwarding", "retry_wait", "forwarding", "retry_wait",
                      "forwarding", "forwarded"]  # fmt: skip


def test_a_peer_down_for_good_ends_dead_and_can_be_redriven(
    pipeline: Pipeline, national: RecordingPeerLink
) -> None:
    national.fail_next(100)
    national.failures_take(pipeline.clock, 3600)  # given up by age (a day), not by count

    async def body() -> str:
        result = await asyncio.to_thread(
            pipeline.hub.push, UBND, make_edoc(sender=SENDER, to=[G22])
        )
        await pipeline.settle()
        delivery_id = result.recipients[0].delivery_id
        assert pipeline.state(delivery_id) == "dead"
        [dead] = await pipeline.broker.dead_letters(FORWARD_QUEUE)
        assert json.loads(dead.body) == {"delivery_id": delivery_id}
        [row] = pipeline.hub.list_sent(UBND, result.doc_id)
        assert "peer.unavailable" in row.send_status_desc
        # IT fixes the link and redrives the delivery (not the broker message)
        national.fail_next(0)
        moved = await asyncio.to_thread(
            redrive, pipeline.hub.deps.uow, pipeline.clock, [delivery_id],
            wake_outbox=pipeline.relay.wake,
        )  # fmt: skip
        assert moved == [delivery_id]
        await pipeline.settle()
        return delivery_id

    delivery_id = asyncio.run(pipeline.run(body))
    assert pipeline.state(delivery_id) == "forwarded"
    assert len(national.sent) == 1


def test_missing_link_is_dead_at_once(
    uow_factory: UnitOfWorkFactory, registry: Registry, config: HubConfig
) -> None:
    pipeline = Pipeline(uow_factory, registry, config, {})

    async def body() -> str:
        result = await asyncio.to_thread(
            pipeline.hub.push, UBND, make_edoc(sender=SENDER, to=[G22])
        )
        await pipeline.settle()
        return result.recipients[0].delivery_id

    delivery_id = asyncio.run(pipeline.run(body))
    assert pipeline.state(delivery_id) == "dead"


def test_redelivered_messages_are_acknowledged_without_effect(
    pipeline: Pipeline, national: RecordingPeerLink
) -> None:
    result = pipeline.hub.push(UBND, make_edoc(sender=SENDER, to=[G22, SO_AGENCIES[0]]))
    by = {r.recipient: r.delivery_id for r in result.recipients}
    ids = [by[G22], by[SO_AGENCIES[0]]]
    message = BrokerMessage(DISPATCH_QUEUE, json.dumps({"delivery_ids": ids}).encode(), "m1")

    async def twice() -> None:
        await pipeline.dispatch(message)
        await pipeline.dispatch(message)  # at-least-once: the same message again
        forward = BrokerMessage(FORWARD_QUEUE, json.dumps({"delivery_id": ids[0]}).encode(), "f")
        await pipeline.forward(forward)
        await pipeline.forward(forward)

    asyncio.run(twice())
    assert [pipeline.state(i) for i in ids] == ["forwarded", "available"]
    assert len(national.sent) == 1
    with pipeline.hub.deps.uow() as uow:
        assert len(uow.outbox.pending(100)) == 2  # initial dispatch + one forward, not two
        assert len(uow.deliveries.events(ids[1])) == 2


def test_unreadable_message_is_dead_lettered_at_once(pipeline: Pipeline) -> None:
    async def body() -> None:
        await pipeline.broker.publish(DISPATCH_QUEUE, b"not json", message_id="x")
        await pipeline.broker.join(DISPATCH_QUEUE)
        [dead] = await pipeline.broker.dead_letters(DISPATCH_QUEUE)
        assert dead.message_id == "x"

    asyncio.run(pipeline.run(body))


def test_relay_sweeps_rows_left_without_a_wake(pipeline: Pipeline) -> None:
    result = pipeline.hub.push(UBND, make_edoc(sender=SENDER, to=[G22]))  # relay not running
    assert pipeline.outbox_size() == 1

    async def body() -> None:
        await pipeline.settle()  # the first pass of run() sweeps it

    asyncio.run(pipeline.run(body))
    assert pipeline.outbox_size() == 0
    assert pipeline.state(result.recipients[0].delivery_id) == "forwarded"
    assert pipeline.relay.published == 2  # its dispatch message, then the forward message


def test_a_lost_race_is_retried_not_dead_lettered() -> None:
    from hub.errors import Conflict
    from hub.messaging import Retry
    from hub.services.dispatch import _raced_is_retry

    with pytest.raises(Retry), _raced_is_retry():
        raise Conflict("moved", code="delivery.raced")
    with pytest.raises(Conflict), _raced_is_retry():
        raise Conflict("other", code="document.id_reused")


def test_relay_publishes_one_by_one_without_publish_many(
    uow_factory: UnitOfWorkFactory, registry: Registry, config: HubConfig
) -> None:
    pipeline = Pipeline(uow_factory, registry, config, {})

    class PublishOnly:
        def __init__(self, inner: MemoryBroker) -> None:
            self.inner = inner

        async def publish(self, queue: str, body: bytes, *, message_id: str) -> None:
            await self.inner.publish(queue, body, message_id=message_id)

    for n in range(3):
        pipeline.hub.push(UBND, make_edoc(sender=SENDER, to=[G22], code_number=str(n)))
    relay = OutboxRelay(uow_factory, PublishOnly(pipeline.broker))  # type: ignore[arg-type]

    async def body() -> int:
        await pipeline.broker.start()
        return await relay.run_once()

    assert asyncio.run(body()) == 3
    assert pipeline.outbox_size() == 0
    assert [m.message_id.startswith("outbox-") for m in pipeline.broker.published] == [True] * 3
