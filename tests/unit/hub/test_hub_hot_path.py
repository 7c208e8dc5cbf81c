"""The push/pull hot path's shortcuts keep their contracts (memory, SQLite, PostgreSQL):
the inbox page is capped while the count stays exact, the systems cache never outlives a change
made through the services, and a refused re-push of stored bytes still answers as stored."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from hub.edxml.model import MessageKind
from hub.errors import Forbidden
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.contracts import TransportStatus
from hub.services.hub import HubServices
from tests.unit.hub.conftest import SO, SO_AGENCIES, UBND, UBND_AGENCIES
from tests.unit.hub.test_hub_services import drain, edoc


def _pushes(hub: HubServices, n: int) -> list[str]:
    """Push ``n`` distinct edocs UBND → SO and dispatch them; return their delivery ids."""
    ids = []
    for i in range(n):
        data = edoc(document_id=f"hot-{i}")
        ids.append(hub.push(UBND, data).recipients[0].delivery_id)
        hub.deps.clock.advance(1)  # type: ignore[attr-defined]
    drain(hub)
    return ids


def test_inbox_page_is_capped_oldest_first_and_the_count_stays_exact(
    deps: Deps, config: HubConfig
) -> None:
    hub = HubServices(deps, dataclasses.replace(config, inbox_page=3), SecretBox(generate_key()))
    hub.systems.add(UBND, UBND_AGENCIES, secret="s1")
    hub.systems.add(SO, SO_AGENCIES, secret="s2")
    ids = _pushes(hub, 5)

    page = hub.list_received(SO, MessageKind.EDOC)
    assert [i.delivery_id for i in page] == ids[:3]
    assert hub.count_received(SO, MessageKind.EDOC) == 5
    # A fetched item stays listed (state "fetched") until acknowledged done.
    hub.fetch(SO, ids[0])
    assert [i.delivery_id for i in hub.list_received(SO, MessageKind.EDOC)] == ids[:3]
    # The client takes what it got and polls again: the next oldest come up.
    for delivery_id in ids[:3]:
        hub.update_status(SO, delivery_id, TransportStatus.DONE)
    assert [i.delivery_id for i in hub.list_received(SO, MessageKind.EDOC)] == ids[3:]
    assert hub.count_received(SO, MessageKind.EDOC) == 2


def test_disabling_through_the_services_takes_effect_at_once(hub: HubServices) -> None:
    hub.push(UBND, edoc())  # the system is now in the cache
    hub.systems.disable(UBND)
    with pytest.raises(Forbidden):
        hub.push(UBND, edoc(document_id="after-disable"))
    hub.systems.enable(UBND)
    assert hub.push(UBND, edoc(document_id="after-enable")).duplicate is False


def test_hosted_agencies_changed_through_the_services_take_effect_at_once(
    hub: HubServices,
) -> None:
    hub.push(UBND, edoc())
    hub.systems.set_agencies(UBND, ["000.00.01.H41"])  # no longer hosts the sender
    with pytest.raises(Forbidden):
        hub.push(UBND, edoc(document_id="not-hosted-any-more"))


def test_a_change_made_elsewhere_is_seen_at_once_without_the_cache(
    deps: Deps, config: HubConfig
) -> None:
    """Another process (``lienthong systems disable``) does not clear this process's cache: it
    is seen within ``systems_cache_ttl_s``; 0 reads the store on every push."""
    box = SecretBox(generate_key())
    uncached = HubServices(deps, dataclasses.replace(config, systems_cache_ttl_s=0), box)
    uncached.systems.add(UBND, UBND_AGENCIES, secret="s1")
    uncached.systems.add(SO, SO_AGENCIES, secret="s2")
    uncached.push(UBND, edoc())
    other_process = HubServices(
        dataclasses.replace(deps, systems=type(deps.systems)()), config, box
    )
    other_process.systems.disable(UBND)
    with pytest.raises(Forbidden):
        uncached.push(UBND, edoc(document_id="disabled-elsewhere"))


def test_a_refused_repush_of_stored_bytes_answers_as_stored(hub: HubServices) -> None:
    """Idempotency comes before the checks: the same bytes, accepted once, are answered as
    stored even when a check would refuse them now (here: the system stopped hosting the
    sender; likewise a certificate revoked since or a stricter policy)."""
    data = edoc()
    first = hub.push(UBND, data)
    hub.systems.set_agencies(UBND, ["000.00.01.H41"])
    again = hub.push(UBND, data)
    assert again.duplicate is True
    assert again.doc_id == first.doc_id
    assert again.recipients == first.recipients
    with pytest.raises(Forbidden):
        hub.push(UBND, edoc(document_id="new-bytes"))


def test_a_redrive_routes_with_the_systems_connected_now(hub: HubServices) -> None:
    """Only the push path uses the cached hosting map: rules built for a redrive read the
    store, so a system connected elsewhere a moment ago is seen."""
    from hub.services.base import router

    with hub.deps.uow() as uow:
        router(hub.deps, hub.config, uow, cached=True)  # the push path fills the cache
    other = HubServices(
        dataclasses.replace(hub.deps, systems=type(hub.deps.systems)()),
        hub.config,
        SecretBox(generate_key()),
    )
    other.systems.add("qlvb.new", ["000.00.04.H41"], secret="s3")  # not clearing our cache
    with hub.deps.uow() as uow:
        fresh = router(hub.deps, hub.config, uow)
        cached = router(hub.deps, hub.config, uow, cached=True)
        day = dt.date(2026, 1, 1)
        assert fresh.route("000.00.04.H41", day).system_id == "qlvb.new"
        assert cached.route("000.00.04.H41", day).system_id != "qlvb.new"  # ≤ 1 s stale
