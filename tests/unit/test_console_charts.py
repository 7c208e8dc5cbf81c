"""The overview's SVG bar charts: one bar per bucket, heights proportional to the counts, the
figures readable by a pointer (``<title>``), a test (``data-count``) and a screen reader."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from adapters.http.console.charts import bar_chart
from hub.ports import Buckets
from hub.services.activity import SPANS, window

SVG = "{http://www.w3.org/2000/svg}"
START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def _parse(counts: list[int], width_s: int = 60) -> ET.Element:
    w = Buckets(START, width_s, len(counts))
    return ET.fromstring(bar_chart(counts, w, label="Tiếp nhận", css="received", chart_id="c1"))


def test_one_bar_per_bucket_with_its_count_and_time() -> None:
    counts = [0, 3, 1, 0, 6]
    svg = _parse(counts)
    rects = list(svg.iter(f"{SVG}rect"))
    assert [int(r.attrib["data-count"]) for r in rects] == counts
    starts = [dt.datetime.fromisoformat(r.attrib["data-start"]) for r in rects]
    assert starts == [START + dt.timedelta(minutes=i) for i in range(5)]
    tips = [r.find(f"{SVG}title") for r in rects]
    assert [t.text for t in tips if t is not None][1] == "08:01–08:02: 3"  # Vietnam time


def test_heights_are_proportional_and_bars_share_the_baseline() -> None:
    svg = _parse([0, 3, 1, 0, 6])
    rects = list(svg.iter(f"{SVG}rect"))
    heights = [float(r.attrib["height"]) for r in rects]
    assert heights[0] == 0
    assert heights[4] == pytest.approx(2 * heights[1], abs=0.02)
    assert heights[4] == pytest.approx(6 * heights[2], abs=0.02)
    bottoms = {round(float(r.attrib["y"]) + float(r.attrib["height"]), 1) for r in rects}
    assert len(bottoms) == 1
    xs = [float(r.attrib["x"]) for r in rects]
    assert xs == sorted(xs)  # oldest on the left


def test_an_empty_window_draws_flat_bars_and_says_zero() -> None:
    svg = _parse([0] * 24, 3600)
    assert {float(r.attrib["height"]) for r in svg.iter(f"{SVG}rect")} == {0.0}
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.text == "Tiếp nhận: 0 (max 0)"
    assert svg.attrib["role"] == "img"
    assert svg.attrib["aria-labelledby"] == "c1"


def test_counts_must_match_the_buckets() -> None:
    with pytest.raises(ValueError, match="3 counts for 4 buckets"):
        bar_chart([1, 2, 3], Buckets(START, 60, 4), label="x", css="x", chart_id="x")


@pytest.mark.parametrize("span", list(SPANS))
def test_windows_end_with_the_bucket_of_now(span: str) -> None:
    now = dt.datetime.now(dt.UTC)
    w = window(span, now)
    assert w.index(now) == w.count - 1
    assert w.start.timestamp() % w.width_s == 0
    assert w.index(w.start - dt.timedelta(microseconds=1)) is None
