"""Charts drawn on the server as inline SVG: no script and nothing loaded from elsewhere, so a chart shows with
JavaScript off and in a saved page. Each chart has a title and a description for screen readers; the page shows
the table of its figures next to it, and offers them as CSV. Colours come from the stylesheet (classes
chart-s0, chart-s1, ...), and series differ by line style as well as by colour.

Scales
    y: 0 to a "nice" maximum (1, 2, 2.5 or 5 times a power of ten) at or above the largest value, 5 ticks.
    x (line charts): the given range, mapped linearly; the caller names the ticks (dates, for time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[tuple[float, float], ...]  # (x, y), x increasing
    step: bool = False  # drawn as steps: the value holds until the next point
    dashed: bool = False


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `value` (1 for nothing to show)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= factor * power * (1 + 1e-12):
            return factor * power
    return 10.0 * power  # pragma: no cover - the loop ends at 10


def format_number(value: float) -> str:
    """Short labels for axes: 12, 1.5k, 2M; small values with their decimals."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:g}M"
    if size >= 1e4:
        return f"{value / 1e3:g}k"
    if size >= 10 or value == 0:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def time_ticks(start: datetime, end: datetime, count: int = 5) -> list[tuple[float, str]]:
    """About `count` ticks from start to end, at whole days when the range is a day or more, labelled by date."""
    span = (end - start).total_seconds()
    if span <= 0:
        return [(start.timestamp(), f"{start:%Y-%m-%d %H:%M}")]
    if span < 2 * 86400:
        step = span / max(count - 1, 1)
        label = "%H:%M:%S" if span < 600 else "%H:%M"
        return [((start + timedelta(seconds=step * i)).timestamp(), f"{start + timedelta(seconds=step * i):{label}}")
                for i in range(count)]
    days = max(1, math.ceil(span / 86400 / max(count - 1, 1)))
    first = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo or UTC)
    if first < start:
        first += timedelta(days=1)
    ticks = []
    at = first
    while at <= end:
        ticks.append((at.timestamp(), f"{at:%Y-%m-%d}"))
        at += timedelta(days=days)
    return ticks


def _svg_open(width: int, height: int, title: str, desc: str, ident: str) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    desc: str,
    ident: str,
    x_range: tuple[float, float],
    x_ticks: Sequence[tuple[float, str]],
    y_label: str,
    marker: tuple[float, str] | None = None,
    width: int = 720,
    height: int = 280,
) -> SafeString:
    """Lines (or steps) over a shared x range, y from 0; an optional vertical marker (e.g. today)."""
    left, right, top, bottom = 64, 44, 16, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    x0, x1 = x_range
    if x1 <= x0:
        x1 = x0 + 1.0
    y_top = nice_max(max((y for s in series for _, y in s.points), default=0.0))

    def sx(x: float) -> float:
        return left + (min(max(x, x0), x1) - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - max(y, 0.0) / y_top * plot_h

    out = _svg_open(width, height, title, desc, ident)
    for i in range(6):
        value = y_top * i / 5
        y = sy(value)
        out.append(f'<line class="chart-grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        out.append(f'<text class="chart-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{escape(format_number(value))}</text>")
    out.append(f'<text class="chart-axis" x="14" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">{escape(y_label)}</text>')
    for x, label in x_ticks:
        if not x0 <= x <= x1:
            continue
        px = sx(x)
        out.append(f'<line class="chart-grid" x1="{px:.1f}" y1="{top + plot_h}" x2="{px:.1f}" '
                   f'y2="{top + plot_h + 4}"/>')
        out.append(f'<text class="chart-tick" x="{px:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                   f"{escape(label)}</text>")
    out.append(f'<line class="chart-axis-line" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
               f'y2="{top + plot_h}"/>')
    if marker is not None and x0 <= marker[0] <= x1:
        px = sx(marker[0])
        out.append(f'<line class="chart-marker" x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + plot_h}"/>')
        out.append(f'<text class="chart-tick" x="{px + 4:.1f}" y="{top + 12}">{escape(marker[1])}</text>')
    legend_y = height - 12
    legend_x = left
    for n, s in enumerate(series):
        css = f"chart-line chart-s{n}" + (" chart-dashed" if s.dashed else "")
        coords: list[tuple[float, float]] = []
        for k, (x, y) in enumerate(s.points):
            if s.step and k > 0:
                coords.append((sx(x), sy(s.points[k - 1][1])))
            coords.append((sx(x), sy(y)))
        if coords:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline class="{css}" points="{path}"/>')
            if len(coords) == 1:
                out.append(f'<circle class="chart-dot chart-s{n}" cx="{coords[0][0]:.1f}" cy="{coords[0][1]:.1f}" '
                           'r="3"/>')
        out.append(f'<line class="{css}" x1="{legend_x}" y1="{legend_y - 4}" x2="{legend_x + 24}" '
                   f'y2="{legend_y - 4}"/>')
        out.append(f'<text class="chart-legend" x="{legend_x + 30}" y="{legend_y}">{escape(s.name)}</text>')
        legend_x += 40 + 8 * len(s.name)
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    desc: str,
    ident: str,
    unit: str = "",
    width: int = 720,
) -> SafeString:
    """Horizontal bars, one group per category, one bar per series, each labelled with its value."""
    label_w, right, top = 170, 80, 8
    bar_h, gap = 14, 10
    group_h = bar_h * max(len(series), 1) + gap
    plot_w = width - label_w - right
    height = top + group_h * max(len(categories), 1) + 34
    values = [v for _, vs in series for v in vs]
    x_top = nice_max(max(values, default=0.0))
    out = _svg_open(width, height, title, desc, ident)
    for i in range(6):
        px = label_w + plot_w * i / 5
        out.append(f'<line class="chart-grid" x1="{px:.1f}" y1="{top}" x2="{px:.1f}" '
                   f'y2="{height - 30}"/>')
        out.append(f'<text class="chart-tick" x="{px:.1f}" y="{height - 16}" text-anchor="middle">'
                   f"{escape(format_number(x_top * i / 5))}</text>")
    if not categories:
        out.append(f'<text class="chart-tick" x="{label_w + 8}" y="{top + 14}">nothing to show yet</text>')
    for c, category in enumerate(categories):
        y = top + c * group_h
        out.append(f'<text class="chart-label" x="{label_w - 8}" y="{y + bar_h * len(series) / 2 + 4:.1f}" '
                   f'text-anchor="end">{escape(category[:28])}</text>')
        for n, (_name, vs) in enumerate(series):
            value = vs[c] if c < len(vs) else 0.0
            w = max(value, 0.0) / x_top * plot_w
            by = y + n * bar_h
            out.append(f'<rect class="chart-bar chart-s{n}" x="{label_w}" y="{by}" width="{w:.1f}" '
                       f'height="{bar_h - 2}"/>')
            out.append(f'<text class="chart-value" x="{label_w + w + 4:.1f}" y="{by + bar_h - 4}">'
                       f"{escape(format_number(value))}{escape(unit)}</text>")
    legend_x = label_w
    for n, (name, _) in enumerate(series):
        out.append(f'<rect class="chart-bar chart-s{n}" x="{legend_x}" y="{height - 11}" width="12" height="10"/>')
        out.append(f'<text class="chart-legend" x="{legend_x + 16}" y="{height - 2}">{escape(name)}</text>')
        legend_x += 40 + 8 * len(name)
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped
