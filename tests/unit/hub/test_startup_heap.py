"""A hub process freezes what start-up built, so full collections stop walking it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from hub.entrypoints.bootstrap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process's heap goes back under the collector


class Node:
    def __init__(self) -> None:
        self.me: Node | None = None


def test_startup_objects_leave_the_collectors_walks(unfrozen: None) -> None:
    built_at_start = Node()
    freeze_startup_heap()
    assert gc.get_freeze_count() > 0
    assert not any(o is built_at_start for o in gc.get_objects(generation=2))


def test_garbage_made_after_start_up_is_still_collected(unfrozen: None) -> None:
    freeze_startup_heap()
    cycle = Node()
    cycle.me = cycle  # only the cyclic collector can free this
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None


def test_garbage_left_before_start_up_ends_is_collected_not_frozen(unfrozen: None) -> None:
    cycle = Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle
    freeze_startup_heap()
    assert gone() is None
