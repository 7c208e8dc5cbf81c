"""Fixtures of the hub core's service tests.

``uow_factory`` is parametrized over the stores: the in-memory fake (``adapters/memory.py``),
SQLite and PostgreSQL (``adapters/store``, migrated by Alembic; PostgreSQL marked
``integration``). Every service test takes it, so one suite checks the services and proves the
fake and the real store agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

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
def uow_factory(request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield MemoryStore().unit_of_work
        return
    from adapters.store.uow import SqlStore
    from tests.db_fixtures import migrated_engine_on

    with migrated_engine_on(request, request.param) as engine:
        yield SqlStore(engine).unit_of_work


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
    # A SQL store's read and one-step units as the composition root wires them (on PostgreSQL
    # outside a transaction), so every service test runs through them.
    store = getattr(uow_factory, "__self__", None)
    return Deps(
        uow_factory,
        blobs,
        lambda: registry,
        clock,
        wake_outbox=wakes,
        reader=getattr(store, "read_unit", None),
        stepper=getattr(store, "step_unit", None),
    )


@pytest.fixture
def hub(deps: Deps, config: HubConfig) -> HubServices:
    """Services with the two test systems connected."""
    services = HubServices(deps, config, SecretBox(generate_key()))
    services.systems.add(UBND, UBND_AGENCIES, secret="ubnd-secret")
    services.systems.add(SO, SO_AGENCIES, secret="so-secret")
    return services
