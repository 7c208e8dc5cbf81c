"""The element-by-element decisions (``schemas/edxml/PROFILE.md``) and the ``profile.*``
catalogue (:mod:`hub.edxml.profile_rules`) name the same codes, and each code is reported."""

from __future__ import annotations

import re
from pathlib import Path

import hub.edxml.problems as problems_module
import hub.edxml.profile as profile_module
from hub.edxml.profile_rules import OMISSIONS, WARNING_CODES, omitted
from hub.resources import data_path

_CODE = re.compile(r"`((?:profile|edxml|attachment|agency|signature|trace)\.[a-z_]+)`")


def _table_codes() -> set[str]:
    text = data_path("schemas", "edxml", "PROFILE.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) > 80  # one row per element of edxml.md §2–§5
    return {m for row in rows for m in _CODE.findall(row)}


def test_table_and_catalogue_name_the_same_profile_codes() -> None:
    in_table = {c for c in _table_codes() if c.startswith("profile.")}
    assert in_table == set(OMISSIONS)


def test_every_other_code_in_the_table_is_in_the_problem_catalogue() -> None:
    catalogue = problems_module.__doc__ or ""
    others = {c for c in _table_codes() if not c.startswith("profile.")}
    assert others  # edxml.required, attachment.undecodable…
    # The catalogue names codes as ``code`` (or ``edxml.root`` / ``edxml.missing`` on a line).
    assert {c for c in others if f"``{c}``" not in catalogue} == set()


def test_every_omission_code_is_reported_by_the_checker() -> None:
    source = Path(profile_module.__file__).read_text(encoding="utf-8")
    unused = {code for code in OMISSIONS if f'"{code}"' not in source}
    assert not unused


def test_omission_warnings_carry_both_languages_and_the_path() -> None:
    for code, o in OMISSIONS.items():
        p = omitted(code, f"/edXML/x/{o.element}")
        assert (p.code, p.path, p.is_error) == (code, f"/edXML/x/{o.element}", False)
        assert p.message_en
        assert p.message_vi
        assert p.message_en != p.message_vi
    assert set(OMISSIONS) <= WARNING_CODES
