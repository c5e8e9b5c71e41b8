"""Filters for figures on the pages: large numbers in scientific notation, durations in words, GPU-hours."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def sci(value: float | None) -> str:
    """1.26e+22 -> '1.26 × 10^22'; small numbers as they are."""
    if value is None:
        return "?"
    number = float(value)
    if abs(number) < 1e5:
        return f"{number:,.3g}"
    mantissa, exponent = f"{number:.3g}".split("e") if "e" in f"{number:.3g}" else (f"{number:.3g}", "0")
    return f"{mantissa} × 10^{int(exponent)}"


@register.filter
def duration_hours(hours: float | None) -> str:
    """Hours in the unit a person reads best: minutes, hours, days or years."""
    if hours is None:
        return "?"
    h = float(hours)
    if h < 1:
        return f"{h * 60:.0f} min"
    if h < 48:
        return f"{h:.1f} h"
    if h < 24 * 730:
        return f"{h / 24:,.1f} days"
    return f"{h / 24 / 365:,.1f} years"


@register.filter
def duration_seconds(seconds: int | float | None) -> str:
    """A time limit in seconds as people write it: 45 s, 30 min, 2 h, 1 h 30 min."""
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    hours, minutes = divmod(s // 60, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


@register.filter
def gpu_hours(value: float | None) -> str:
    """GPU-hours, the one unit of compute on every page, with the precision that matters and thousands separated:
    12,345 · 3.21 · 0.027 · 0."""
    if value is None:
        return "—"
    v = float(value)
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    if v == 0:
        return "0"
    return f"{v:.2g}" if abs(v) >= 1e-4 else "< 0.0001"


@register.filter
def gpu_hours_from_seconds(seconds: float | None) -> str:
    """GPU-seconds (what the schedulers count) shown as GPU-hours."""
    return gpu_hours(None if seconds is None else float(seconds) / 3600.0)


@register.filter
def thousands(value: float | None) -> str:
    """A count or an amount with thousands separated and no decimals; a dash when unknown."""
    if value is None:
        return "—"
    return f"{float(value):,.0f}"


@register.filter
def percent(part: float | None, whole: float | None) -> str:
    if not whole or part is None:
        return "0 %"
    return f"{100.0 * float(part) / float(whole):.1f} %"
