"""Forward retries for a failing peer on every broker backend (memory, embedded on SQLite and
PostgreSQL, RabbitMQ): each retry is a fresh delayed message, so a peer down for more attempts
than the broker lets one message take is still retried — and given up by age, dead-lettered
once."""

from __future__ import annotations

import json
from collections.abc import Callable

from adapters.memory import ManualClock, MemoryBlobStore, MemoryStore, RecordingPeerLink
from hub.agency.loading import load_sample_registry
from hub.messaging import FORWARD_QUEUE, RetryPolicy
from hub.ports import NATIONAL_LINK, UnitOfWorkFactory
from hub.routing import Scope
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.dispatch import DispatchHandler, ForwardHandler
from hub.services.hub import HubServices
from tests.factories import make_edoc
from tests.integration.broker.conftest import TEST_POLICY, BackendFactory, eventually

#: The handler's own policy: tiny delays (the brokers round them to their steps), a day of age.
PEER_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)


class Setup:
    """One delivery forwarding to the national axis, in an in-memory store."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.uow: UnitOfWorkFactory = MemoryStore().unit_of_work
        self.blobs = MemoryBlobStore()
        registry = load_sample_registry()
        deps = Deps(self.uow, self.blobs, lambda: registry, self.clock, wake_outbox=lambda: None)
        config = HubConfig(organ_id="000.00.00.H41", scope=Scope.parse(["H41"]))
        hub = HubServices(deps, config, SecretBox(generate_key()))
        hub.systems.add("qlvb.ubnd", ["000.00.00.H41"], secret="a")
        pushed = hub.push("qlvb.ubnd", make_edoc(sender="000.00.00.H41", to=["000.00.00.G22"]))
        self.delivery_id = pushed.recipients[0].delivery_id
        DispatchHandler(self.uow, self.clock, wake_outbox=lambda: None).dispatch([self.delivery_id])
        self.link = RecordingPeerLink(NATIONAL_LINK)

    def handler(self, broker: object) -> ForwardHandler:
        return ForwardHandler(
            self.uow,
            self.blobs,
            {NATIONAL_LINK: self.link},
            self.clock,
            organ_id="000.00.00.H41",
            retry=PEER_POLICY,
            broker=broker,  # type: ignore[arg-type]
        )

    def state(self) -> str:
        with self.uow() as uow:
            row = uow.deliveries.get(self.delivery_id)
            assert row is not None
            return row.state

    def body(self) -> bytes:
        return json.dumps({"delivery_id": self.delivery_id}).encode()


def _is(setup: Setup, state: str) -> Callable[[], bool]:
    return lambda: setup.state() == state


def test_a_peer_failing_beyond_the_broker_cap_is_still_retried(
    broker_backend: BackendFactory,
) -> None:
    async def scenario(f: BackendFactory) -> None:
        setup = Setup()
        failures = TEST_POLICY.max_attempts * 2  # more than one message may be handed out
        setup.link.fail_next(failures)
        broker = await f.started()
        await broker.consume(FORWARD_QUEUE, setup.handler(broker))
        await broker.publish(FORWARD_QUEUE, setup.body(), message_id="fwd-1")
        await eventually(_is(setup, "forwarded"), timeout_s=30, what="forwarded")
        assert setup.link.calls == failures + 1
        assert len(setup.link.sent) == 1
        assert (await broker.stats(FORWARD_QUEUE)).dead == 0

    broker_backend.run(scenario)


def test_a_peer_down_for_a_day_is_given_up_and_dead_lettered_once(
    broker_backend: BackendFactory,
) -> None:
    async def scenario(f: BackendFactory) -> None:
        setup = Setup()
        setup.link.fail_next(10**6)
        setup.link.failures_take(setup.clock, 4 * 3600)  # each attempt: four hours later
        broker = await f.started()
        await broker.consume(FORWARD_QUEUE, setup.handler(broker))
        await broker.publish(FORWARD_QUEUE, setup.body(), message_id="fwd-1")
        await eventually(_is(setup, "dead"), timeout_s=30, what="dead")
        assert setup.link.calls == 6  # 24 h of age / 4 h per attempt
        await eventually(
            lambda: _dead_is(broker, 1), timeout_s=10, what="one dead letter, and only one"
        )
        [dead] = await broker.dead_letters(FORWARD_QUEUE)
        assert json.loads(dead.body) == {"delivery_id": setup.delivery_id}

    broker_backend.run(scenario)


async def _dead_is(broker: object, n: int) -> bool:
    stats = await broker.stats(FORWARD_QUEUE)  # type: ignore[attr-defined]
    return bool(stats.dead == n and stats.ready == 0 and stats.delayed == 0)
