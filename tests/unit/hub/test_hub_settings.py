"""Settings: shipped defaults, environment overrides, strict keys, hidden secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.policy import Action
from hub.settings import Secret, SettingsError, load_settings


def test_shipped_defaults_load(tmp_path: Path) -> None:
    s = load_settings(env={})
    assert s.organ_id == "000.00.00.H41"
    assert s.scope.level1_keys == frozenset({"H41", "K41"})
    assert s.embedded_broker
    assert s.database_url == f"sqlite:///{s.data_dir / 'hub.db'}"
    assert s.data_dir.is_absolute()
    assert s.policy.default.envelope_invalid is Action.REFUSE
    assert not s.national.enabled


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    s = load_settings(
        env={
            "LIENTHONG_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
            "LIENTHONG_BROKER_URL": "amqp://guest:guest@127.0.0.1/",
            "LIENTHONG_DATA_DIR": str(tmp_path),
            "LIENTHONG_SCOPE": "H41, 000.00.00.G22",
            "LIENTHONG_MAX_PACKAGE_BYTES": "1024",
            "LIENTHONG_NATIONAL_ENDPOINT": "https://axis.example/",
            "LIENTHONG_NATIONAL_SYSTEM_ID": "hub.h41",
            "LIENTHONG_NATIONAL_SECRET": "s3cret",
            "LIENTHONG_SECRET_KEY": "k" * 44,
            "PATH": "/usr/bin",  # other variables are not ours
            "LIENTHONG_KEY_PIN": "1234",  # read by the signing commands
            "LIENTHONG_TEST_PG": "postgresql://",  # read by the test suites
        }
    )
    assert s.database_url.startswith("postgresql+psycopg://")
    assert not s.embedded_broker
    assert s.data_dir == tmp_path
    assert s.scope.subtree_roots == ("000.00.00.G22",)
    assert s.max_package_bytes == 1024
    assert s.national.enabled
    assert s.national.secret == Secret("s3cret")
    assert "s3cret" not in repr(s)
    assert "k" * 44 not in repr(s)


def test_unknown_file_key_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("hub:\n  organ_id: '000.00.00.H41'\n  scop: [H41]\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"hub\.scop"):
        load_settings(path, env={})


def test_unknown_environment_variable_is_refused() -> None:
    with pytest.raises(SettingsError, match="LIENTHONG_DATABSE_URL"):
        load_settings(env={"LIENTHONG_DATABSE_URL": "sqlite://"})


def test_bad_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="max_package_bytes"):
        load_settings(env={"LIENTHONG_MAX_PACKAGE_BYTES": "lots"})
    with pytest.raises(SettingsError, match=r"broker\.url"):
        load_settings(env={"LIENTHONG_BROKER_URL": "redis://x"})
    path = tmp_path / "s.yaml"
    path.write_text(
        "hub: {organ_id: X}\npolicy:\n  senders:\n    '000.00.00.G22': {pdf_bad: maybe}\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError, match="pdf_bad"):
        load_settings(path, env={})


def test_per_sender_policy_and_peers(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "hub: {organ_id: '000.00.00.H41'}\n"
        "peers:\n  caobang: {endpoint: 'https://h14.example', scope: [H14]}\n"
        "policy:\n  senders:\n    '000.00.00.g22': {envelope_missing: refuse}\n"
        "registry: {source: reg.json}\n",
        encoding="utf-8",
    )
    s = load_settings(path, env={})
    assert s.policy.for_sender("000.00.00.G22").envelope_missing is Action.REFUSE
    assert s.policy.for_sender("000.00.00.G09").envelope_missing is Action.FLAG
    assert s.peers[0].as_peer().scope.level1_keys == frozenset({"H14"})
    assert s.registry_source == tmp_path / "reg.json"


def test_production_needs_the_secret_key() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env={"LIENTHONG_PRODUCTION": "true"})
    assert info.value.code == "settings.secret_key_missing"
    assert load_settings(env={"LIENTHONG_PRODUCTION": "1", "LIENTHONG_SECRET_KEY": "x"}).production


def test_settings_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("hub: {organ_id: '000.00.00.H14', scope: [H14]}\n", encoding="utf-8")
    assert load_settings(env={"LIENTHONG_SETTINGS": str(path)}).organ_id == "000.00.00.H14"


def test_settings_feed_the_services_config() -> None:
    from hub.services.base import HubConfig, registry_provider

    s = load_settings(env={})
    config = HubConfig.from_settings(s)
    assert (config.organ_id, config.scope) == (s.organ_id, s.scope)
    assert config.retry == s.retry
    assert "000.00.00.H41" in registry_provider(s)()


def test_broker_url_takes_every_node_of_a_cluster_and_never_echoes_a_password() -> None:
    nodes = "amqp://hub:pw1@10.0.0.1/,amqp://hub:pw2@10.0.0.2/, amqp://hub:pw3@10.0.0.3/"
    s = load_settings(env={"LIENTHONG_BROKER_URL": nodes})
    assert s.broker_url == nodes
    with pytest.raises(SettingsError) as caught:
        load_settings(env={"LIENTHONG_BROKER_URL": "amqp://hub:pw1@a/,http://hub:pw2@b/"})
    assert "URL number 2 of 2" in str(caught.value)
    assert "pw1" not in str(caught.value)
    assert "pw2" not in str(caught.value)


def test_refusing_replays_is_off_by_default_and_read_from_auth(tmp_path: Path) -> None:
    assert load_settings(env={}).refuse_replays is False
    path = tmp_path / "s.yaml"
    path.write_text("hub: {organ_id: '000.00.00.H41'}\nauth: {refuse_replays: true}\n")
    assert load_settings(path, env={}).refuse_replays is True


def test_loopback_without_login_is_auto_only_on_the_embedded_defaults(tmp_path: Path) -> None:
    laptop = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path)})
    assert laptop.console.loopback_without_login is None
    assert laptop.loopback_mode is True
    with_token = load_settings(env={"LIENTHONG_ADMIN_TOKEN": "t0k-7"})
    assert with_token.loopback_mode is False
    on_pg = load_settings(env={"LIENTHONG_DATABASE_URL": "postgresql+psycopg://h@db/hub"})
    assert on_pg.loopback_mode is False
    on_rabbit = load_settings(env={"LIENTHONG_BROKER_URL": "amqp://guest:guest@mq/"})
    assert on_rabbit.loopback_mode is False
    assert load_settings(env={"LIENTHONG_LOOPBACK_LOGIN": "false"}).loopback_mode is False
    forced = load_settings(
        env={"LIENTHONG_LOOPBACK_LOGIN": "true", "LIENTHONG_ADMIN_TOKEN": "t0k-7"}
    )
    assert forced.loopback_mode is True
    with pytest.raises(SettingsError, match="loopback_without_login"):
        load_settings(env={"LIENTHONG_LOOPBACK_LOGIN": "sometimes"})


def test_console_and_security_event_settings(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "hub: {organ_id: X}\n"
        "admin: {session_idle_s: 60, session_max_s: 600, login_max_failures: 3}\n"
        "security_events: {syslog: '127.0.0.1:5514', backups: 4, max_age_days: 7}\n",
        encoding="utf-8",
    )
    s = load_settings(path, env={})
    assert (s.console.session_idle_s, s.console.session_max_s) == (60, 600)
    assert s.console.login_max_failures == 3
    assert (s.security_events.syslog, s.security_events.backups) == ("127.0.0.1:5514", 4)
    assert s.security_events.max_age_days == 7
    path.write_text("hub: {organ_id: X}\nsecurity_events: {syslog: 'nowhere'}\n", "utf-8")
    with pytest.raises(SettingsError, match=r"security_events\.syslog"):
        load_settings(path, env={})
    path.write_text("hub: {organ_id: X}\nadmin: {session_idle_s: 0}\n", "utf-8")
    with pytest.raises(SettingsError, match="admin"):
        load_settings(path, env={})
