"""Server-drawn SVG charts: scales, escaping, and what a screen reader is told."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from aifactory.portal.common.charts import Series, bar_chart, format_number, line_chart, nice_max, time_ticks


@pytest.mark.parametrize(("value", "expected"), [(0, 1), (-3, 1), (0.7, 1), (1, 1), (1.2, 2), (2.2, 2.5),
                                                 (3, 5), (7, 10), (13, 20), (240, 250), (9_001, 10_000)])
def test_nice_max(value, expected):
    assert nice_max(value) == pytest.approx(expected)


def test_format_number():
    assert [format_number(v) for v in (0, 0.0042, 3.5, 12, 1234, 25_000, 3_000_000)] == [
        "0", "0.0042", "3.5", "12", "1,234", "25k", "3M"]


def test_time_ticks_by_day_and_by_hour():
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    days = time_ticks(start, start + timedelta(days=90))
    assert days[0][1] == "2026-01-02" and 4 <= len(days) <= 6
    hours = time_ticks(start, start + timedelta(hours=3))
    assert [label for _, label in hours] == ["12:00", "12:45", "13:30", "14:15", "15:00"]


def test_line_chart_is_valid_svg_with_title_and_escaped_text():
    svg = line_chart(
        [Series("left <script>", ((0, 100), (5, 60), (10, 60)), step=True), Series("pace", ((0, 100), (10, 0)),
                                                                                    dashed=True)],
        title="Burn-down & co", desc="GPU-hours left", ident="t1", x_range=(0, 10), x_ticks=[(0, "a"), (10, "b")],
        y_label="GPU-hours", marker=(4, "now"),
    )
    root = ElementTree.fromstring(str(svg))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img" and root.get("aria-labelledby") == "t1-title t1-desc"
    assert root.find(f"{ns}title").text == "Burn-down & co"
    assert "<script>" not in svg
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2
    # steps: the value holds until the next point, so the step line has an extra corner per point after the first
    assert len(lines[0].get("points").split()) == 5
    assert "chart-dashed" in lines[1].get("class")
    assert root.find(f"{ns}line[@class='chart-marker']") is not None


def test_line_chart_scale_puts_the_largest_value_at_or_below_the_top():
    svg = str(line_chart([Series("s", ((0, 0), (1, 240)))], title="t", desc="d", ident="t2", x_range=(0, 1),
                         x_ticks=[], y_label="y"))
    ticks = re.findall(r'class="chart-tick"[^>]*>([^<]+)<', svg)
    assert ticks[:6] == ["0", "50", "100", "150", "200", "250"]


def test_bar_chart_groups_and_labels():
    svg = str(bar_chart(["leonardo", "lumi"], [("granted", [100, 50]), ("used", [25, 0])], title="GPU-hours",
                        desc="per machine", ident="b1", unit=" h"))
    root = ElementTree.fromstring(svg)
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if "chart-bar" in r.get("class")]
    assert len(bars) == 4 + 2  # two per machine, and the legend's two
    widths = [float(b.get("width")) for b in bars[:4]]
    assert widths[0] == pytest.approx(2 * widths[2]) and widths[3] == 0
    assert "25 h" in svg and "leonardo" in svg


def test_bar_chart_with_nothing():
    assert "nothing to show yet" in str(bar_chart([], [("granted", [])], title="t", desc="d", ident="b2"))
