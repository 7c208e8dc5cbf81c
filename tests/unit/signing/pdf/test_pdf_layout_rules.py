"""Placement and text of the Nghị định 30 signature appearances (pure geometry and strings)."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.errors import InvalidRequest
from signing.pdf_layout import (
    Box,
    LayoutStyle,
    SignatureRole,
    corner_box,
    drawable,
    fold_to_latin1,
    seal_box,
    signature_text,
    vietnam_time,
)

A4 = Box(0, 0, 595, 842)
WHEN = dt.datetime(2026, 3, 15, 2, 30, 5, tzinfo=dt.UTC)


def test_box_parse_and_reject() -> None:
    assert Box.parse("10,20,110,80").as_tuple() == (10, 20, 110, 80)
    with pytest.raises(InvalidRequest):
        Box.parse("10,20,110")
    with pytest.raises(InvalidRequest):
        Box.parse("110,20,10,80")  # inverted


def test_seal_covers_the_left_third_of_the_person_signature() -> None:
    style = LayoutStyle(seal_size=100, agency_text_width=150)
    person = Box(300, 150, 480, 210)
    seal = seal_box(person, style)
    assert seal.x2 == pytest.approx(person.x1 + person.width / 3)
    assert seal.x2 - 100 < person.x1 < seal.x2  # the seal square overlaps the signature
    assert (seal.y1 + seal.y2) / 2 == pytest.approx((person.y1 + person.y2) / 2)
    assert seal.width == pytest.approx(250)


def test_corner_box_is_top_right() -> None:
    style = LayoutStyle(corner_size=(190, 48), corner_margin=28)
    box = corner_box(A4, style)
    assert (box.x2, box.y2) == (595 - 28, 842 - 28)
    assert (box.width, box.height) == (190, 48)


def test_vietnam_time_is_iso8601_with_offset() -> None:
    assert vietnam_time(WHEN) == "2026-03-15T09:30:05+07:00"


def test_texts_per_role() -> None:
    agency = signature_text(SignatureRole.AGENCY, signing_time=WHEN, agency_name="UBND tỉnh A")
    assert agency.splitlines() == ["UBND tỉnh A", "2026-03-15T09:30:05+07:00"]
    att = signature_text(SignatureRole.ATTACHMENT, signing_time=WHEN, number="12/QĐ-UBND")
    assert "12/QĐ-UBND" in att
    assert "+07:00" in att
    copy = signature_text(
        SignatureRole.COPY, signing_time=WHEN, copy_form="TRÍCH SAO", agency_name="Sở X"
    )
    assert copy.splitlines()[:2] == ["TRÍCH SAO", "Sở X"]
    assert signature_text(SignatureRole.PERSON, signing_time=WHEN) == ""


def test_folding_keeps_latin1_and_reduces_the_rest() -> None:
    assert fold_to_latin1("Ủy ban nhân dân") == "Uy ban nhân dân"
    assert fold_to_latin1("Đà Nẵng") == "Dà Nang"
    assert fold_to_latin1("Thời gian ký") == "Thoi gian ký"
    assert all(ord(c) < 256 for c in fold_to_latin1("Nguyễn Văn Ất ơ ư đ"))
    assert drawable("Đ", LayoutStyle()) == "D"
