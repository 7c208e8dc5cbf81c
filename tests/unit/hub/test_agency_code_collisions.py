"""An agency code that already names another agency (its former or QĐ 20 code) cannot be
registered, and a stored record that does anyway never stops the registry from refreshing.

A registry refuses to build when one code names two agencies (``registry.duplicate``). A
connected system could register a new unit under a code that the registry knows as another
agency's former code (2025 reform); from then on every refresh of the live registry failed and
kept the last good one: no registration, import or deletion after it reached routing again.
"""

from __future__ import annotations

import logging

import pytest

from adapters.memory import ManualClock, MemoryBlobStore, MemoryStore
from hub.agency.registry import Agency, Registry
from hub.errors import Conflict
from hub.ports import AgencyRow, UnitOfWorkFactory
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.contracts import AgencyRecord
from hub.services.hub import HubServices
from hub.services.registry import LiveRegistry, merge
from tests.unit.hub.conftest import SO, SO_AGENCIES, Wakes

SO_CODE = "000.00.02.H41"
FORMER = "001.00.02.H41"  # the former code of a commune merged in the 2025 reform
MERGED = Agency("000.00.86.H41", "UBND xã Hợp Nhất", parent_code=SO_CODE, former_codes=(FORMER,))
QD20 = Agency("000.00.87.H41", "Trung tâm Lưu trữ", parent_code=SO_CODE, code_qd20="H41.02.87")


@pytest.fixture
def reformed(registry: Registry) -> Registry:
    return Registry([*registry, MERGED, QD20])


@pytest.fixture
def so_hub(
    uow_factory: UnitOfWorkFactory,
    blobs: MemoryBlobStore,
    reformed: Registry,
    clock: ManualClock,
    config: HubConfig,
) -> HubServices:
    live = LiveRegistry(reformed, uow_factory, refresh_s=0.0)
    services = HubServices(
        Deps(uow_factory, blobs, live, clock, wake_outbox=Wakes()),
        config,
        SecretBox(generate_key()),
    )
    services.systems.add(SO, SO_AGENCIES, secret="so-secret")
    return services


@pytest.mark.parametrize(
    ("code", "code_qd20"),
    [
        (FORMER, None),  # another agency's former code
        (FORMER.lower(), None),  # … in another case
        ("H41.02.87", None),  # another agency's QĐ 20 code
        ("001.00.03.H41", "000.00.86.H41"),  # a QĐ 20 code that is another agency's code
    ],
)
def test_registering_a_code_that_names_another_agency_is_a_conflict(
    so_hub: HubServices, code: str, code_qd20: str | None
) -> None:
    record = AgencyRecord(
        id="x", code=code, name="Phòng mới", parent_code=SO_CODE, code_qd20=code_qd20
    )
    with pytest.raises(Conflict) as info:
        so_hub.register_agency(SO, record)
    assert info.value.code == "agency.code_taken"
    assert "000.00.8" in info.value.message_en
    assert "đã là mã của" in info.value.message_vi
    with so_hub.deps.uow() as uow:
        assert uow.agencies.list(include_deleted=True) == []
    # The registry still refreshes: a proper registration reaches routing at once.
    so_hub.register_agency(SO, AgencyRecord(id="y", code="001.00.04.H41", name="Phòng khác",
                                            parent_code=SO_CODE))  # fmt: skip
    assert so_hub.deps.registry().get("001.00.04.H41") is not None


def test_the_owner_may_update_its_own_record(so_hub: HubServices) -> None:
    record = AgencyRecord(id="s", code=SO_CODE, name="Sở Nội vụ tỉnh", parent_code=None)
    so_hub.register_agency(SO, record)
    agency = so_hub.deps.registry().get(SO_CODE)
    assert agency is not None
    assert agency.name == "Sở Nội vụ tỉnh"


def test_a_stored_colliding_record_is_skipped_and_the_rest_refreshes(
    reformed: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()
    live = LiveRegistry(reformed, store.unit_of_work, refresh_s=0.0)
    with store.unit_of_work() as uow:  # registered before registrations were checked
        uow.agencies.upsert(AgencyRow(FORMER, "Trùng mã cũ", parent_code=SO_CODE))
        uow.agencies.upsert(AgencyRow("000.00.88.H41", "Trùng mã QĐ 20", code_qd20="H41.02.87"))
        uow.agencies.upsert(AgencyRow("000.00.89.H41", "UBND xã Mới", parent_code=SO_CODE))
        # an override of a configured agency that would collide falls back to the configured one
        uow.agencies.upsert(AgencyRow(SO_CODE, "Sở Nội vụ (sửa)", code_qd20="000.00.86.H41"))
        uow.commit()
    with caplog.at_level(logging.WARNING, logger="hub.services.registry"):
        current = live()
    assert current.get("000.00.89.H41") is not None  # the good record is routed
    merged = current.get(FORMER)
    assert merged is not None
    assert merged.code == MERGED.code  # the former code still leads to the merged commune
    assert current.get("000.00.88.H41") is None
    so = current.get(SO_CODE)
    assert so is not None
    assert so.name != "Sở Nội vụ (sửa)"
    skipped = " ".join(r.getMessage() for r in caplog.records)
    for code in (FORMER, "000.00.88.H41", SO_CODE):
        assert code in skipped
    # … and later records keep arriving.
    with store.unit_of_work() as uow:
        uow.agencies.upsert(AgencyRow("000.00.90.H41", "UBND xã Sau", parent_code=SO_CODE))
        uow.commit()
    assert live().get("000.00.90.H41") is not None


def test_merge_keeps_configured_agencies_first(reformed: Registry) -> None:
    merged = merge(reformed, [AgencyRow(FORMER, "Trùng mã cũ")])
    assert {a.code for a in merged} == {a.code for a in reformed}
