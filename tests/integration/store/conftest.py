"""Fixtures shared by the store suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.memory import MemoryStore
from adapters.store.uow import SqlStore
from hub.ports import UnitOfWorkFactory
from tests.db_fixtures import migrated_engine_on


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def uow_factory(request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
    """Units of work on each store: the in-memory fake, a migrated SQLite file and a migrated
    PostgreSQL database (each fresh for the test)."""
    if request.param == "memory":
        yield MemoryStore().unit_of_work
        return
    with migrated_engine_on(request, request.param) as engine:
        yield SqlStore(engine).unit_of_work
