"""The seal key pool with PKCS#12 file keys: sessions opened once and reused, a bounded pool,
PINs only from the named variable and never in a message."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hub.errors import KeyAccessError, NotFound
from signing.seal_service import SealKeyConfig, SealKeyPool
from tests.pki import AGENCY_CODE, KEY_PASSWORD

PIN_VAR = "LIENTHONG_TEST_SEAL_PIN"


def _config(key_files: dict[str, Path], pool_size: int = 2) -> SealKeyConfig:
    return SealKeyConfig(
        AGENCY_CODE, f"file:{key_files['agency.p12']}", pin_env=PIN_VAR, pool_size=pool_size
    )


def test_signing_services_are_opened_once_and_lent_again(key_files: dict[str, Path]) -> None:
    pool = SealKeyPool([_config(key_files)], env={PIN_VAR: KEY_PASSWORD})
    slot = pool.slot(AGENCY_CODE.lower())  # agency codes compare case-insensitively
    first = slot.acquire(1.0)
    slot.release(first)
    again = slot.acquire(1.0)
    assert again is first
    second = slot.acquire(1.0)  # the first is lent: a second session opens
    assert second is not first
    assert pool.opened() == 2
    slot.release(again)
    slot.release(second)
    pool.close()


def test_a_full_pool_makes_a_request_wait_then_refuses(key_files: dict[str, Path]) -> None:
    pool = SealKeyPool([_config(key_files, pool_size=1)], env={PIN_VAR: KEY_PASSWORD})
    slot = pool.slot(AGENCY_CODE)
    lent = slot.acquire(1.0)
    with pytest.raises(KeyAccessError) as info:
        slot.acquire(0.05)
    assert info.value.code == "seal.key_busy"
    threading.Timer(0.05, slot.release, (lent,)).start()
    assert slot.acquire(2.0) is lent  # handed over when released
    assert pool.opened() == 1
    pool.close()


def test_the_pin_comes_from_the_named_variable_only(key_files: dict[str, Path]) -> None:
    wrong = "not-" + KEY_PASSWORD
    pool = SealKeyPool(
        [_config(key_files)], env={PIN_VAR: wrong, "LIENTHONG_KEY_PIN": KEY_PASSWORD}
    )
    with pytest.raises(KeyAccessError) as info:
        pool.slot(AGENCY_CODE).acquire(1.0)
    assert info.value.code == "key.wrong_pin"
    assert wrong not in str(info.value)
    assert wrong not in info.value.message_vi
    assert wrong not in repr(_config(key_files))


def test_an_agency_without_a_key_is_not_found(key_files: dict[str, Path]) -> None:
    pool = SealKeyPool([_config(key_files)], env={})
    with pytest.raises(NotFound) as info:
        pool.slot("000.00.02.H41")
    assert info.value.code == "seal.no_key"
    assert pool.agencies() == [AGENCY_CODE]
