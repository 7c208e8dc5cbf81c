"""SQLite durability is a setting (``database.sqlite_synchronous``), FULL unless asked otherwise.

With ``synchronous=NORMAL`` in WAL mode a commit returns before the WAL is synced: a power loss
can take the last transactions — pushes the hub already answered with a DocId. FULL syncs the
WAL at every commit, so what an answer promised is on disk. The pragma is set by the engine's
connect hook on every pooled connection; the cost is measured in bench/RESULTS-durability.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from adapters.store.engine import EngineOptions, create_engine
from hub.entrypoints.bootstrap import build_hub
from hub.ports import NullVerifier
from hub.settings import SettingsError, load_settings

FULL, NORMAL = 2, 1  # what PRAGMA synchronous answers


def _synchronous(engine: Engine) -> set[int]:
    """The pragma on two connections held at once (two pool entries, each through the hook;
    read-only, so DEFERRED: the second must not wait for the first's write lock)."""
    reader = engine.execution_options(sqlite_begin="DEFERRED")
    with reader.connect() as first, reader.connect() as second:
        return {
            int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one()) for conn in (first, second)
        }


def test_the_engine_syncs_every_commit_by_default(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        assert _synchronous(engine) == {FULL}
    finally:
        engine.dispose()


@pytest.mark.parametrize(("asked", "pragma"), [("full", FULL), ("NORMAL", NORMAL)])
def test_the_engine_applies_the_option(sqlite_url: str, asked: str, pragma: int) -> None:
    engine = create_engine(sqlite_url, EngineOptions(sqlite_synchronous=asked))
    try:
        assert _synchronous(engine) == {pragma}
    finally:
        engine.dispose()


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        EngineOptions(sqlite_synchronous="off")


def test_the_setting_defaults_to_full_and_is_checked(tmp_path: Path) -> None:
    assert load_settings(env={}).sqlite_synchronous == "full"
    env = {"LIENTHONG_SQLITE_SYNCHRONOUS": "normal"}
    assert load_settings(env=env).sqlite_synchronous == "normal"
    with pytest.raises(SettingsError, match="sqlite_synchronous"):
        load_settings(env={"LIENTHONG_SQLITE_SYNCHRONOUS": "off"})
    path = tmp_path / "settings.yaml"
    path.write_text(
        'hub: {organ_id: "000.00.00.H41"}\ndatabase: {sqlite_synchronous: normal}\n', "utf-8"
    )
    assert load_settings(path, env={}).sqlite_synchronous == "normal"


@pytest.mark.parametrize(("level", "pragma"), [("full", FULL), ("normal", NORMAL)])
def test_a_hub_runs_with_the_configured_level(tmp_path: Path, level: str, pragma: int) -> None:
    settings = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")})
    hub = build_hub(
        dataclasses.replace(settings, sqlite_synchronous=level), verifier=NullVerifier(), links={}
    )
    try:
        assert _synchronous(hub.engine) == {pragma}
    finally:
        hub.close()
