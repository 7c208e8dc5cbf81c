"""The ``seal`` settings section: agency seal keys and the timestamp authority."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import SealKeySettings, SettingsError, load_settings


def _settings(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text('hub:\n  organ_id: "000.00.00.H41"\n' + body, encoding="utf-8")
    return path


def test_no_seal_section_means_no_seal_keys(tmp_path: Path) -> None:
    settings = load_settings(_settings(tmp_path, ""), env={})
    assert settings.seal_keys == ()
    assert settings.seal_tsa_url is None


def test_seal_keys_are_read_with_defaults_and_relative_images(tmp_path: Path) -> None:
    path = _settings(
        tmp_path,
        "seal:\n"
        "  tsa_url: http://tsa.example/\n"
        "  keys:\n"
        '    "000.00.31.H99":\n'
        "      key: pkcs11:token=seal;object=agency\n"
        "      image: seals/h99.png\n"
        "      pin_env: LIENTHONG_TEST_PIN_H99\n"
        '    "000.00.02.H41":\n'
        "      key: file:/etc/lienthong/snv.p12\n"
        "      name: Sở Nội vụ\n"
        "      pool: 4\n",
    )
    settings = load_settings(path, env={})
    assert settings.seal_tsa_url == "http://tsa.example/"
    assert settings.seal_keys == (
        SealKeySettings(
            "000.00.31.H99",
            "pkcs11:token=seal;object=agency",
            None,
            (tmp_path / "seals" / "h99.png").resolve(),
            "LIENTHONG_TEST_PIN_H99",
            2,
        ),
        SealKeySettings(
            "000.00.02.H41",
            "file:/etc/lienthong/snv.p12",
            "Sở Nội vụ",
            None,
            "LIENTHONG_KEY_PIN",
            4,
        ),
    )


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("      key: /etc/key.p12\n", "seal.keys.000.00.31.H99.key"),
        ("      key: file:/k.p12\n      pin: '1234'\n", "seal.keys.000.00.31.H99.pin"),
        ("      key: file:/k.p12\n      pool: many\n", "seal.keys.000.00.31.H99.pool"),
    ],
)
def test_a_bad_seal_key_entry_fails_naming_it(tmp_path: Path, entry: str, named: str) -> None:
    path = _settings(tmp_path, f'seal:\n  keys:\n    "000.00.31.H99":\n{entry}')
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    assert named in str(info.value)
