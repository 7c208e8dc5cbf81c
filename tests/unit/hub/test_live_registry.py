"""The routing registry: the configured registry overlaid with stored agency records."""

from __future__ import annotations

import datetime as dt
import time

from adapters.memory import MemoryStore
from hub.agency.registry import Agency, Registry
from hub.ports import AgencyRow
from hub.services.registry import LiveRegistry, import_agencies, merge

AT = dt.datetime(2026, 1, 5, 3, 0, tzinfo=dt.UTC)
BASE = Registry(
    [
        Agency("000.00.00.H41", "Ủy ban nhân dân tỉnh Nghệ An"),
        Agency("000.00.02.H41", "Sở Nội vụ", parent_code="000.00.00.H41", email="snv@x.vn"),
        Agency("000.00.21.H41", "UBND huyện Nghi Lộc", parent_code="000.00.00.H41"),
    ]
)


def _codes(reg: Registry) -> set[str]:
    return {a.code for a in reg}


def test_merge_overrides_adds_and_deletes_by_code() -> None:
    merged = merge(
        BASE,
        [
            AgencyRow("000.00.02.H41", "Sở Nội vụ tỉnh Nghệ An"),
            AgencyRow("000.00.71.H41", "UBND xã Mới", parent_code="000.00.00.H41"),
            AgencyRow("000.00.21.H41", "", deleted=True),
        ],
    )
    assert _codes(merged) == {"000.00.00.H41", "000.00.02.H41", "000.00.71.H41"}
    dept = merged.require("000.00.02.H41")
    assert dept.name == "Sở Nội vụ tỉnh Nghệ An"
    # what the stored record does not say is kept from the configured registry
    assert dept.parent_code == "000.00.00.H41"
    assert dept.email == "snv@x.vn"


def test_live_registry_sees_stored_records_after_refresh() -> None:
    store = MemoryStore()
    ticks = iter([0.0, 1.0, 10.0, 10.5])
    live = LiveRegistry(BASE, store.unit_of_work, refresh_s=5.0, monotonic=lambda: next(ticks))
    assert _codes(live()) == _codes(BASE)
    count = import_agencies(
        store.unit_of_work,
        [Agency("000.00.72.H41", "UBND xã Thử", parent_code="000.00.00.H41")],
        at=AT,
        actor="test",
    )
    assert count == 1
    assert "000.00.72.H41" not in _codes(live())  # t=1.0: still the cached registry
    assert "000.00.72.H41" in _codes(live())  # t=10.0: refreshed
    live.invalidate()
    assert "000.00.72.H41" in _codes(live())
    with store.unit_of_work() as uow:
        stored = uow.agencies.get("000.00.72.H41")
        audit = uow.audit.recent()
    assert stored is not None
    assert stored.source == "import"
    assert [(r.action, r.details) for r in audit] == [
        ("agency.import", {"count": 1, "source": "import"})
    ]


def test_a_merge_that_does_not_build_keeps_the_last_good_registry() -> None:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        # a stored record claiming a QĐ 20 code that is the primary code of another agency
        uow.agencies.upsert(AgencyRow("000.00.73.H41", "Trùng mã", code_qd20="000.00.02.H41"))
        uow.commit()
    live = LiveRegistry(BASE, store.unit_of_work, refresh_s=0.0)
    assert _codes(live()) == _codes(BASE)


def test_refresh_inside_a_writing_unit_of_work_does_not_wait_for_the_lock(
    sqlite_url: str,
) -> None:
    """Intake routes inside its write transaction; on SQLite a refresh that asked for the write
    lock from the same thread would wait out the busy timeout and fail."""
    from adapters.store.engine import EngineOptions, create_engine
    from adapters.store.migrate import upgrade
    from adapters.store.uow import SqlStore

    engine = create_engine(sqlite_url, EngineOptions(busy_timeout_ms=2000))
    upgrade(engine)
    writer = SqlStore(engine).unit_of_work
    reader = SqlStore(engine.execution_options(sqlite_begin="DEFERRED")).unit_of_work
    with writer() as uow:
        uow.agencies.upsert(AgencyRow("000.00.74.H41", "UBND xã Đã Lưu", parent_code=None))
        uow.commit()
    live = LiveRegistry(BASE, reader, refresh_s=0.0)
    with writer() as uow:
        uow.agencies.upsert(AgencyRow("000.00.75.H41", "UBND xã Chưa Lưu"))
        started = time.monotonic()
        codes = _codes(live())
        waited = time.monotonic() - started
        uow.commit()
    assert "000.00.74.H41" in codes
    assert "000.00.75.H41" not in codes  # not committed yet when the refresh read
    assert waited < 1.0
    engine.dispose()
