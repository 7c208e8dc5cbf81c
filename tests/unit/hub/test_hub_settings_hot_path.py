"""The hot path's settings: the inbox page size and the number of API processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.services.base import HubConfig
from hub.settings import SettingsError, load_settings


def test_defaults_one_api_process_and_pages_of_200() -> None:
    s = load_settings(env={})
    assert (s.api_workers, s.inbox_page) == (1, 200)
    assert HubConfig.from_settings(s).inbox_page == 200


def test_the_environment_sets_the_process_count() -> None:
    assert load_settings(env={"LIENTHONG_API_WORKERS": "4"}).api_workers == 4


@pytest.mark.parametrize(
    ("yaml", "fragment"),
    [
        ("limits: {inbox_page: 0}", r"limits\.inbox_page"),
        ("limits: {intake_batch: 0}", r"limits\.intake_batch"),
        ("limits: {intake_lanes: 0}", r"limits\.intake_lanes"),
        ("api: {workers: 0}", r"api\.workers"),
        ("api: {worker: 2}", r"api\.worker"),
    ],
)
def test_out_of_range_or_misspelt_values_are_refused(
    tmp_path: Path, yaml: str, fragment: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(f'hub: {{organ_id: "000.00.00.H41"}}\n{yaml}\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=fragment):
        load_settings(path, env={})


def test_a_page_size_from_the_file_reaches_the_services(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text('hub: {organ_id: "000.00.00.H41"}\nlimits: {inbox_page: 50}\n', "utf-8")
    assert HubConfig.from_settings(load_settings(path, env={})).inbox_page == 50


def test_group_commit_lanes_follow_the_database() -> None:
    sqlite = HubConfig.from_settings(load_settings(env={}))
    assert (sqlite.intake_batch, sqlite.intake_lanes) == (64, 1)
    pg = load_settings(env={"LIENTHONG_DATABASE_URL": "postgresql+psycopg://u@h/db"})
    assert (pg.intake_batch, pg.intake_lanes) == (64, 8)
