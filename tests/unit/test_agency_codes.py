"""Agency identifier codes: both forms, levels, fallback parents, malformed codes in the wild."""

from __future__ import annotations

import pytest

from hub.agency.codes import AgencyCode, CodeForm, lookup_key, parse_code


@pytest.mark.parametrize(
    ("text", "level", "key", "letter"),
    [
        ("000.00.00.G22", 1, "G22", "G"),
        ("000.00.00.H41", 1, "H41", "H"),
        ("000.00.00.K41", 1, "K41", "K"),
        ("000.00.05.H41", 2, "H41", "H"),
        ("000.12.05.H41", 3, "H41", "H"),
        ("001.12.05.H41", 4, "H41", "H"),
        ("000.00.00.A80", 1, "A80", "A"),  # a letter outside G/H/K is still a code
        ("001.00.10.H47", 4, "H47", "H"),
    ],
)
def test_qcvn102_levels_and_keys(text: str, level: int, key: str, letter: str) -> None:
    code = parse_code(text)
    assert code.form is CodeForm.QCVN102
    assert code.is_valid
    assert (code.level, code.level1_key, code.letter) == (level, key, letter)
    assert code.problem is None
    assert str(code) == text


@pytest.mark.parametrize(
    ("text", "parent"),
    [
        ("000.12.05.H41", "000.00.05.H41"),
        ("000.00.05.H41", "000.00.00.H41"),
        ("001.12.05.H41", "000.12.05.H41"),
        # Arithmetic says 000.00.10.H47; the real registration is 001.00.00.H47 — which is why
        # this is only a fallback (see test_agency_registry).
        ("001.00.10.H47", "000.00.10.H47"),
        ("H41.02.05", "H41.02"),
        ("H41.02", "H41"),
    ],
)
def test_fallback_parent(text: str, parent: str) -> None:
    got = parse_code(text).fallback_parent()
    assert got is not None
    assert got.text == parent


@pytest.mark.parametrize("text", ["000.00.00.G22", "H41", "vxp.saas.03", ""])
def test_no_fallback_parent_at_level_one_or_malformed(text: str) -> None:
    assert parse_code(text).fallback_parent() is None


@pytest.mark.parametrize(
    ("text", "level"),
    [("H41", 1), ("G22.05", 2), ("H41.02.05.A1B", 4), ("K41.01", 2)],
)
def test_qd20_form(text: str, level: int) -> None:
    code = parse_code(text)
    assert code.form is CodeForm.QD20
    assert code.level == level
    assert code.level1_key == text.split(".")[0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("01.02.G22", "level-1 group on the right"),
        ("999.010.01.H22", "level-1 group on the right"),
        ("28.22.H17", "level-1 group on the right"),
        ("vxp.saas.03", "lower case"),
        ("000.00.00.g22", "lower case"),
        ("", "empty"),
        ("H41..02", "empty group"),
        ("H41.02/05", "characters other than"),
        ("Đ41.02", "characters other than"),
        ("H41." + "1" * 40, "longer than 35"),
        ("123.456", "neither"),
    ],
)
def test_malformed_codes_are_flagged_not_raised(text: str, fragment: str) -> None:
    code = AgencyCode.parse(text)
    assert code.form is CodeForm.MALFORMED
    assert not code.is_valid
    assert code.level is None
    assert code.level1_key is None
    assert code.problem is not None
    assert fragment in code.problem
    assert code.problem_vi


def test_normalisation_strips_and_nfc() -> None:
    assert parse_code("  000.00.00.H41\n").text == "000.00.00.H41"
    assert lookup_key(" h41.02 ") == "H41.02"


def test_codes_are_frozen_values() -> None:
    a, b = parse_code("000.00.05.H41"), parse_code("000.00.05.H41")
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.text = "x"  # type: ignore[misc]
