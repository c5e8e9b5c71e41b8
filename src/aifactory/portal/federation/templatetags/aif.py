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
def gpu_hours(value: float | None) -> str:
    """GPU-hours with the precision that matters: 12,345 or 3.21 or 0.0042."""
    if value is None:
        return "?"
    v = float(value)
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:,.2f}"
    return f"{v:.2g}" if v else "0"


@register.filter
def percent(part: float | None, whole: float | None) -> str:
    if not whole or part is None:
        return "0 %"
    return f"{100.0 * float(part) / float(whole):.1f} %"
