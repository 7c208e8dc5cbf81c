"""Fixtures of the hub core's service tests.

``uow_factory`` is parametrized over the stores: the in-memory fake (``adapters/memory.py``),
SQLite and PostgreSQL (``adapters/store``, migrated by Alembic; PostgreSQL marked
``integration``). Every service test takes it, so one suite checks the services and proves the
fake and the real store agree.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from adapters.memory import ManualClock, MemoryBlobStore, MemoryStore
from hub.agency.loading import load_sample_registry
from hub.agency.registry import Registry
from hub.ports import UnitOfWorkFactory
from hub.routing import PeerHub, Scope
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.hub import HubServices

#: The two connected systems of the tests and the agencies they host (sample registry, H41).
UBND = "qlvb.ubnd"
SO = "qlvb.so"
UBND_AGENCIES = ("000.00.00.H41", "000.00.01.H41")
SO_AGENCIES = ("000.00.02.H41", "000.00.03.H41", "000.00.65.H41")
HUB_ORGAN = "000.00.00.H41"


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def uow_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield MemoryStore().unit_of_work
        return
    from adapters.store import migrate
    from adapters.store.engine import create_engine
    from adapters.store.uow import SqlStore
    from tests import db_fixtures

    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        url = f"sqlite:///{tmp_path / 'hub.db'}"
        shutil.copyfile(template, make_url(url).database or "")
        engine = create_engine(url)
        yield SqlStore(engine).unit_of_work
        engine.dispose()
        return
    url = str(request.getfixturevalue("postgres_url"))
    engine = create_engine(url)
    if url not in db_fixtures._MIGRATED:
        migrate.upgrade(engine)
        db_fixtures._MIGRATED.add(url)
    try:
        yield SqlStore(engine).unit_of_work
    finally:
        db_fixtures._empty_all_tables(engine)
        engine.dispose()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_sample_registry()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def blobs() -> MemoryBlobStore:
    return MemoryBlobStore()


@dataclass
class Wakes:
    count: int = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def config() -> HubConfig:
    return HubConfig(
        organ_id=HUB_ORGAN,
        scope=Scope.parse(["H41", "K41"]),
        peers=(PeerHub("caobang", Scope.parse(["H14"])),),
    )


@pytest.fixture
def deps(
    uow_factory: UnitOfWorkFactory,
    blobs: MemoryBlobStore,
    registry: Registry,
    clock: ManualClock,
    wakes: Wakes,
) -> Deps:
    return Deps(uow_factory, blobs, lambda: registry, clock, wake_outbox=wakes)


@pytest.fixture
def hub(deps: Deps, config: HubConfig) -> HubServices:
    """Services with the two test systems connected."""
    services = HubServices(deps, config, SecretBox(generate_key()))
    services.systems.add(UBND, UBND_AGENCIES, secret="ubnd-secret")
    services.systems.add(SO, SO_AGENCIES, secret="so-secret")
    return services
