"""The agency registry: lookups by either form, hierarchy as data, succession, loaders."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from pathlib import Path

import pytest

from hub.agency import Agency, Registry, load_registry, load_sample_registry
from hub.errors import InternalError, NotFound

REFORM = dt.date(2025, 7, 1)
BEFORE = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def sample() -> Registry:
    return load_sample_registry()


def test_sample_has_the_promised_shape(sample: Registry) -> None:
    province = sample.require("000.00.00.H41")
    assert province.name == "Ủy ban nhân dân tỉnh Nghệ An"
    assert sample.require("000.00.00.K41").parsed_code.letter == "K"
    kids = sample.children("000.00.00.H41")
    names = [a.name for a in kids]
    assert sum(n.startswith("Sở ") for n in names) >= 6
    communes = [a for a in kids if a.valid_from == REFORM]
    assert len(communes) >= 8
    closed = [a for a in kids if a.valid_to == REFORM]
    assert len(closed) == 2
    assert all(a.successor_code for a in closed)
    assert sample.get("000.00.00.G22") is not None
    assert sample.get("000.00.00.H14") is not None
    for agency in sample:
        assert unicodedata.is_normalized("NFC", agency.name)


def test_lookup_by_either_form_and_case(sample: Registry) -> None:
    by_102 = sample.require("000.00.02.H41")
    assert sample.get("H41.02") is by_102
    assert sample.get(" h41.02 ") is by_102
    assert "000.00.02.H41" in sample
    assert "000.00.99.H41" not in sample
    assert sample.get("000.00.99.H41") is None
    with pytest.raises(NotFound) as err:
        sample.require("000.00.99.H41")
    assert err.value.code == "agency.unknown"


def test_lookup_nfc_normalises_names() -> None:
    decomposed = unicodedata.normalize("NFD", "Sở Nội vụ")
    reg = Registry([Agency(code="000.00.00.H41", name=decomposed)])
    assert reg.require("000.00.00.H41").name == "Sở Nội vụ"


def test_explicit_parent_beats_zeroing() -> None:
    reg = Registry(
        [
            Agency(code="000.00.00.H47", name="UBND tỉnh"),
            Agency(code="001.00.00.H47", name="Khối huyện"),
            Agency(code="000.00.10.H47", name="Sở"),
            Agency(code="001.00.10.H47", name="UBND huyện", parent_code="001.00.00.H47"),
        ]
    )
    parent = reg.parent("001.00.10.H47")
    assert parent is not None
    assert parent.code == "001.00.00.H47"
    assert [a.code for a in reg.children("001.00.00.H47")] == ["001.00.10.H47"]


def test_zeroing_fallback_skips_unregistered_levels() -> None:
    reg = Registry(
        [
            Agency(code="000.00.00.H41", name="UBND tỉnh"),
            Agency(code="000.12.05.H41", name="xã, cấp trên không đăng ký"),
        ]
    )
    parent = reg.parent("000.12.05.H41")
    assert parent is not None
    assert parent.code == "000.00.00.H41"
    assert reg.parent("000.00.00.H41") is None


def test_subtree_and_by_system(sample: Registry) -> None:
    district = sample.subtree("000.00.21.H41")
    assert district[0].code == "000.00.21.H41"
    assert {"000.01.21.H41", "000.02.21.H41"} <= {a.code for a in district}
    whole = sample.subtree("000.00.00.H41")
    assert len(whole) > len(sample.children("000.00.00.H41"))
    assert all(a.system_id == "qlvb.nghean" for a in whole)
    assert sample.by_system("qlvb.caobang")[0].code == "000.00.00.H14"


def test_closed_and_successor_chain(sample: Registry) -> None:
    assert not sample.is_closed("000.00.21.H41", BEFORE)
    assert sample.is_closed("000.00.21.H41", REFORM)
    assert sample.is_closed("000.00.65.H41", BEFORE)  # not yet created
    before = sample.resolve("000.00.21.H41", BEFORE)
    assert before.agency is not None
    assert before.agency.code == "000.00.21.H41"
    assert not before.followed_successor
    after = sample.resolve("000.00.21.H41", REFORM)
    assert after.agency is not None
    assert after.agency.code == "000.00.65.H41"
    assert after.followed_successor
    # Two steps: a commune merged in 2020, then its successor closed in 2025.
    chain = sample.successor_chain("000.02.21.H41", dt.date(2026, 1, 1))
    assert [a.code for a in chain] == ["000.02.21.H41", "000.01.21.H41", "000.00.65.H41"]
    mid = sample.resolve("000.02.21.H41", dt.date(2021, 1, 1))
    assert [a.code for a in mid.chain] == ["000.02.21.H41", "000.01.21.H41"]


def test_closed_without_successor_resolves_to_none() -> None:
    reg = Registry([Agency(code="000.00.09.H41", name="đã giải thể", valid_to=REFORM)])
    res = reg.resolve("000.00.09.H41", REFORM)
    assert res.agency is None
    assert [a.code for a in res.chain] == ["000.00.09.H41"]


def test_successor_cycle_is_a_clear_error() -> None:
    reg = Registry(
        [
            Agency(code="000.00.01.H41", name="A", valid_to=REFORM, successor_code="000.00.02.H41"),
            Agency(code="000.00.02.H41", name="B", valid_to=REFORM, successor_code="000.00.01.H41"),
        ]
    )
    assert reg.resolve("000.00.01.H41", BEFORE).agency is not None  # live: no chain followed
    with pytest.raises(InternalError) as err:
        reg.resolve("000.00.01.H41", REFORM)
    assert err.value.code == "registry.successor_cycle"
    assert err.value.details["cycle"] == ["000.00.01.H41", "000.00.02.H41", "000.00.01.H41"]
    assert "000.00.01.H41 → 000.00.02.H41" in err.value.message("en")


def test_duplicate_codes_refused() -> None:
    with pytest.raises(InternalError) as err:
        Registry(
            [
                Agency(code="000.00.00.H41", name="A", code_qd20="H41"),
                Agency(code="000.00.01.H41", name="B", code_qd20="h41"),
            ]
        )
    assert err.value.code == "registry.duplicate"


def test_former_code_is_an_alias() -> None:
    reg = Registry([Agency(code="000.00.00.H41", name="A", former_codes=("000.00.00.H40",))])
    res = reg.resolve("000.00.00.H40", REFORM)
    assert res.agency is not None
    assert res.agency.code == "000.00.00.H41"
    assert res.via_alias


def test_load_national_pid_shape_json_and_csv(tmp_path: Path) -> None:
    records = [
        {
            "id": 1,
            "pid": 0,
            "code": "000.00.00.H41",
            "name": "UBND tỉnh",
            "mail": "a@x.vn",
            "oldCode": "",
        },
        {
            "id": 7,
            "pid": 1,
            "code": "000.00.02.H41",
            "name": "Sở Nội vụ",
            "mail": "",
            "oldCode": "000.00.12.H41",
        },
    ]
    jpath = tmp_path / "agencies.json"
    jpath.write_text(json.dumps({"data": records}, ensure_ascii=False), encoding="utf-8")
    cpath = tmp_path / "agencies.csv"
    lines = ["id,pid,code,name,mail,oldCode"] + [
        f"{r['id']},{r['pid']},{r['code']},{r['name']},{r['mail']},{r['oldCode']}" for r in records
    ]
    cpath.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))
    for path in (jpath, cpath):
        reg = load_registry(path)
        dept = reg.require("000.00.02.H41")
        assert dept.parent_code == "000.00.00.H41"
        assert dept.registry_id == "7"
        assert reg.get("000.00.12.H41") is dept
        assert reg.require("000.00.00.H41").email == "a@x.vn"


def test_load_national_code102_shape(tmp_path: Path) -> None:
    path = tmp_path / "qd20.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "a",
                    "code": "H41",
                    "name": "UBND tỉnh",
                    "mail": "",
                    "code102": "000.00.00.H41",
                },
                {"id": "b", "code": "H41.02", "name": "Sở Nội vụ", "mail": "", "code102": ""},
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    reg = load_registry(path)
    assert reg.require("H41").code == "000.00.00.H41"
    assert reg.require("H41.02").code == "H41.02"  # no 102 code: the QĐ 20 code is primary
    parent = reg.parent("H41.02")
    assert parent is not None
    assert parent.code == "000.00.00.H41"


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"format": "other/9", "agencies": []}',
        b"[1, 2]",
        b'[{"code": "000.00.00.H41"}]',
        b'{"agencies": [{"code": "X", "name": "n", "valid_to": "2025/07/01"}]}',
    ],
)
def test_bad_registry_files_raise_registry_invalid(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InternalError) as err:
        load_registry(path)
    assert err.value.code == "registry.invalid"
    assert str(path) in err.value.message("en")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InternalError, match="cannot read"):
        load_registry(tmp_path / "none.json")


def test_subtree_ends_on_a_registered_parent_cycle() -> None:
    from hub.agency.registry import Agency, Registry

    reg = Registry(
        [
            Agency("000.00.81.H41", "A", parent_code="000.00.82.H41"),
            Agency("000.00.82.H41", "B", parent_code="000.00.81.H41"),
        ]
    )
    assert {a.code for a in reg.subtree("000.00.81.H41")} == {"000.00.81.H41", "000.00.82.H41"}
