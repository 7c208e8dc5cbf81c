"""A repeated ``updateStatus fail`` is one failure, not one per call.

VXP clients retry ``updateStatus`` after a timeout, so the same ``fail`` can arrive twice for
one hand-out. Each used to count an attempt (``available ─fail─► available`` is legal and
counts). A fail on a copy that is back in the inbox because of a fail, and not fetched again
since, is now the repeat it is: nothing changes, no event, no attempt. A fail after a new
fetch is a new failure and counts.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hub.edxml.model import MessageKind
from hub.ports import UnitOfWork, UnitOfWorkFactory
from hub.secrets import SecretBox, generate_key
from hub.services.base import HubConfig
from hub.services.contracts import TransportStatus
from hub.services.hub import HubServices
from tests.unit.hub.test_hub_services import SO, UBND, drain, edoc


def _attempts(hub: HubServices, delivery_id: str) -> int:
    with hub.deps.uow() as uow:
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        return row.attempts


def _events(hub: HubServices, delivery_id: str) -> list[tuple[str | None, str]]:
    with hub.deps.uow() as uow:
        return [(e.from_state, e.to_state) for e in uow.deliveries.events(delivery_id)]


def test_a_repeated_fail_counts_once(hub: HubServices) -> None:
    [rcpt] = hub.push(UBND, edoc()).recipients
    drain(hub)
    hub.fetch(SO, rcpt.delivery_id)
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)
    events = _events(hub, rcpt.delivery_id)
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)  # the client's retry
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)
    assert _attempts(hub, rcpt.delivery_id) == 1
    assert _events(hub, rcpt.delivery_id) == events
    [item] = hub.list_received(SO, MessageKind.EDOC)
    assert item.state == "available"


def test_a_fail_after_a_new_fetch_counts_again(hub: HubServices) -> None:
    [rcpt] = hub.push(UBND, edoc()).recipients
    drain(hub)
    for expected in (1, 2):
        hub.fetch(SO, rcpt.delivery_id)
        hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)
        hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)
        assert _attempts(hub, rcpt.delivery_id) == expected


def test_a_first_fail_without_a_fetch_still_counts(hub: HubServices) -> None:
    [rcpt] = hub.push(UBND, edoc()).recipients
    drain(hub)
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)
    hub.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL)
    assert _attempts(hub, rcpt.delivery_id) == 1


def test_two_simultaneous_fails_count_once(
    request: pytest.FixtureRequest, hub: HubServices, config: HubConfig
) -> None:
    # PostgreSQL: both reports read the fetched copy before either writes (forced with a
    # barrier after the read); the loser of the compare-and-set must see the winner's fail as
    # its own. SQLite and the in-memory store serialise the two, so the second is a plain repeat.
    [rcpt] = hub.push(UBND, edoc()).recipients
    drain(hub)
    hub.fetch(SO, rcpt.delivery_id)
    racing = hub
    if request.node.callspec.params["uow_factory"] == "postgresql":
        barrier = threading.Barrier(2)
        racing = HubServices(
            dataclasses.replace(hub.deps, uow=_pausing(hub.deps.uow, barrier)),
            config,
            SecretBox(generate_key()),
        )
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda _: racing.update_status(SO, rcpt.delivery_id, TransportStatus.FAIL),
                range(2),
            )
        )
    assert _attempts(hub, rcpt.delivery_id) == 1


def _pausing(factory: UnitOfWorkFactory, barrier: threading.Barrier) -> UnitOfWorkFactory:
    """``factory`` whose units of work wait at ``barrier`` after reading a document."""

    def make() -> UnitOfWork:
        uow = factory()
        real = uow.documents.get

        def paused(doc_id: str) -> Any:
            found = real(doc_id)
            barrier.wait(timeout=20)
            return found

        uow.documents.get = paused  # type: ignore[method-assign]
        return uow

    return make
