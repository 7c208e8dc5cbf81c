"""The last inbox listing of each system (the console's "last pull"): written on a listing or a
count, at most once a minute per system and process, on every store."""

from __future__ import annotations

from adapters.memory import ManualClock
from hub.edxml.model import MessageKind
from hub.services.activity import STALE
from hub.services.dispatch import DispatchHandler
from hub.services.hub import HubServices
from hub.services.monitor import Monitor
from hub.services.pull import PULL_RECORD_EVERY
from tests.factories import make_edoc
from tests.unit.hub.conftest import SO, UBND


def _pulls(hub: HubServices) -> dict[str, object]:
    with hub.deps.uow() as uow:
        return dict(uow.activity.last_pulls())


def test_a_listing_is_recorded_once_a_minute(hub: HubServices, clock: ManualClock) -> None:
    assert _pulls(hub) == {}
    first = clock.now()
    hub.list_received(SO, MessageKind.EDOC)
    assert _pulls(hub) == {SO: first}
    clock.advance(PULL_RECORD_EVERY.total_seconds() - 1)
    hub.list_received(SO, MessageKind.STATUS)
    hub.count_received(SO, MessageKind.EDOC)
    assert _pulls(hub) == {SO: first}  # within the minute: not written again
    clock.advance(1)
    hub.count_received(SO, MessageKind.EDOC)  # a count is a poll too
    assert _pulls(hub) == {SO: clock.now()}
    hub.list_received(UBND, MessageKind.EDOC)
    assert _pulls(hub) == {SO: first + PULL_RECORD_EVERY, UBND: clock.now()}


def test_the_systems_view_carries_the_last_pull(hub: HubServices, clock: ManualClock) -> None:
    hub.list_received(SO, MessageKind.EDOC)
    views = {v.id: v for v in Monitor(hub.deps.uow, clock).systems()}
    assert views[SO].last_pull == clock.now()
    assert views[UBND].last_pull is None


def test_the_diagnosis_names_why_an_inbox_is_not_emptying(
    hub: HubServices, clock: ManualClock
) -> None:
    monitor = Monitor(hub.deps.uow, clock)
    assert monitor.system_activity(SO).diagnosis is None  # nothing waits
    result = hub.push(UBND, make_edoc(sender="000.00.00.H41", to=["000.00.02.H41"]))
    [rcpt] = result.recipients
    DispatchHandler(hub.deps.uow, clock, wake_outbox=lambda: None).dispatch([rcpt.delivery_id])
    assert monitor.system_activity(SO).diagnosis == "not_polling"  # waits, never listed
    hub.list_received(SO, MessageKind.EDOC)
    assert monitor.system_activity(SO).diagnosis is None  # listed just now, item is fresh
    clock.advance(STALE.total_seconds() + 1)
    assert monitor.system_activity(SO).diagnosis == "not_polling"  # listed, then went quiet
    hub.list_received(SO, MessageKind.EDOC)
    view = monitor.system_activity(SO)
    assert view.diagnosis == "not_fetching"  # lists, but the item has waited too long
    assert view.waiting == 1
    hub.fetch(SO, rcpt.delivery_id)
    assert monitor.system_activity(SO).diagnosis is None
    hub.systems.disable(SO)
    assert monitor.system_activity(SO).diagnosis == "disabled"
