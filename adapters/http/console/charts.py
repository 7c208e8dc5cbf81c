"""Bar charts as inline SVG, drawn on the server (the hub runs on closed networks: no script
library, no CDN, nothing fetched by the browser).

One bar per time bucket, its height proportional to the count (the tallest bar fills the
plot). Every bar carries its count in ``data-count`` and a ``<title>`` ("08:15–08:16: 3"), so
a pointer shows the figure and a test reads it back; the chart as a whole has ``role="img"``
and a text alternative with the total and the peak, and the page shows the totals in a table
beside it for screen readers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from adapters.http.console.page import VN_TIME, e
from hub.ports import Buckets

WIDTH, HEIGHT = 600, 120  # the viewBox; the SVG scales to its box
_TOP, _BOTTOM, _LEFT = 14, 18, 34  # room for the peak label, the time axis and the count axis
_GAP = 1.0


def _clock(at: dt.datetime, width_s: int) -> str:
    local = at.astimezone(VN_TIME)
    return local.strftime("%d/%m %H:%M" if width_s >= 3600 else "%H:%M")


def bar_chart(
    counts: Sequence[int], window: Buckets, *, label: str, css: str, chart_id: str
) -> str:
    """An SVG bar chart of ``counts`` (one per bucket of ``window``); ``label`` is the escaped
    text alternative's head ("Tiếp nhận — 1 giờ qua"), ``css`` the series' class."""
    if len(counts) != window.count:
        raise ValueError(f"{len(counts)} counts for {window.count} buckets")
    peak = max(counts, default=0)
    plot_w = WIDTH - _LEFT
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = plot_w / window.count
    bars = []
    for i, n in enumerate(counts):
        h = round(plot_h * n / peak, 2) if peak else 0.0
        x = round(_LEFT + i * slot + _GAP / 2, 2)
        y = round(_TOP + plot_h - h, 2)
        start = window.start + dt.timedelta(seconds=i * window.width_s)
        end = start + dt.timedelta(seconds=window.width_s)
        tip = f"{_clock(start, window.width_s)}–{_clock(end, window.width_s)}: {n}"
        bars.append(
            f'<rect class="bar {e(css)}" x="{x}" y="{y}" width="{round(slot - _GAP, 2)}" '
            f'height="{h}" data-count="{n}" data-start="{e(start.isoformat())}">'
            f"<title>{e(tip)}</title></rect>"
        )
    base = _TOP + plot_h
    first = _clock(window.start, window.width_s)
    last = _clock(window.end, window.width_s)
    axis = (
        f'<line x1="{_LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" class="axis"/>'
        f'<text x="{_LEFT - 4}" y="{_TOP + 4}" text-anchor="end" class="tick">{peak}</text>'
        f'<text x="{_LEFT - 4}" y="{base}" text-anchor="end" class="tick">0</text>'
        f'<text x="{_LEFT}" y="{HEIGHT - 4}" class="tick">{e(first)}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 4}" text-anchor="end" class="tick">{e(last)}</text>'
    )
    alt = f"{label}: {sum(counts)} (max {peak})"
    return (
        f'<svg class="chart" role="img" aria-labelledby="{e(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{e(chart_id)}">{alt}</title>'
        f"{axis}{''.join(bars)}</svg>"
    )
