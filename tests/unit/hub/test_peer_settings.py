"""The settings of peer faults and registry sync: shipped defaults (a day of retries, a breaker,
the schedule off), values read from the file, nonsense refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import SettingsError, load_settings


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "s.yaml"
    path.write_text('hub: {organ_id: "000.00.00.H41"}\n' + text, encoding="utf-8")
    return load_settings(path, env={})


def test_shipped_defaults() -> None:
    s = load_settings(env={})
    assert s.retry.peer_give_up_s >= 86400
    assert 0 < s.retry.jitter < 1
    assert (s.breaker.failure_threshold, s.breaker.cooldown_s) == (5, 60.0)
    assert s.breaker.auth_cooldown_s > s.breaker.cooldown_s
    assert (s.registry_sync_interval_s, s.registry_sync_min_ratio) == (0.0, 0.5)


def test_values_from_the_file(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        "retry: {peer_give_up_s: 172800, jitter: 0.1}\n"
        "breaker: {failures: 3, cooldown_s: 30, auth_cooldown_s: 3600}\n"
        "registry: {sync_interval_s: 3600, sync_min_ratio: 0.8}\n",
    )
    assert s.retry.peer_give_up_s == 172800  # type: ignore[attr-defined]
    assert s.breaker.failure_threshold == 3  # type: ignore[attr-defined]
    assert s.breaker.auth_cooldown_s == 3600  # type: ignore[attr-defined]
    assert s.registry_sync_interval_s == 3600  # type: ignore[attr-defined]
    assert s.registry_sync_min_ratio == 0.8  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        "breaker: {failures: 0}\n",
        "breaker: {cooldown_s: -1}\n",
        "breaker: {retries: 3}\n",
        "retry: {jitter: 1.5}\n",
        "retry: {peer_give_up_s: 0}\n",
        "registry: {sync_min_ratio: 2}\n",
        "registry: {sync_interval_s: -5}\n",
    ],
)
def test_nonsense_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(SettingsError):
        _load(tmp_path, text)
