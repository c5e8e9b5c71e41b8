from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aifactory.portal.allocations.models import Allocation
from aifactory.portal.allocations.selectors import (
    UsageEvent,
    allocation_window,
    notices_of,
)
from aifactory.portal.common.charts import Series, line_chart, time_ticks


@login_required
def notices_page(request: HttpRequest) -> HttpResponse:
    return render(request, "notices.html", {"notices": notices_of(request.user)[:200]})


def burndown_chart(allocation: Allocation, events: list[UsageEvent], now: datetime) -> str:
    """GPU-hours left against time, next to the even pace that would use the grant by the last day."""
    start, end = allocation_window(allocation)
    left = [(start.timestamp(), allocation.gpu_hours)] + [(e.at.timestamp(), max(e.left_hours, 0.0)) for e in events]
    left.append((min(now, end).timestamp(), left[-1][1]))
    return line_chart(
        [Series("GPU-hours left", tuple(left), step=True),
         Series("even pace", ((start.timestamp(), allocation.gpu_hours), (end.timestamp(), 0.0)), dashed=True)],
        title=f"Burn-down of {allocation.account}",
        desc=f"GPU-hours left of the {allocation.gpu_hours:g} granted, from {allocation.starts_on} to "
             f"{allocation.ends_on}; {allocation.gpu_hours_used:.3g} used so far.",
        ident=f"burndown-{allocation.pk}", x_range=(start.timestamp(), end.timestamp()),
        x_ticks=time_ticks(start, end), y_label="GPU-hours left", marker=(now.timestamp(), "now"),
    )


def usage_chart(allocation: Allocation, events: list[UsageEvent], now: datetime) -> str:
    """GPU-hours used so far against time, on a scale of its own so that the first jobs show."""
    start = min([allocation.created_at] + [e.at for e in events])
    until = max([now] + [e.at for e in events])
    used = [(start.timestamp(), 0.0)] + [(e.at.timestamp(), e.used_hours) for e in events]
    used.append((until.timestamp(), used[-1][1]))
    return line_chart(
        [Series("GPU-hours used", tuple(used), step=True)],
        title=f"GPU-hours used by {allocation.account}",
        desc=f"Cumulative GPU-hours charged to {allocation.account} from {start:%Y-%m-%d %H:%M} until now: "
             f"{allocation.gpu_hours_used:.3g} in {len(events)} charge(s).",
        ident=f"usage-{allocation.pk}", x_range=(start.timestamp(), until.timestamp()),
        x_ticks=time_ticks(start, until), y_label="GPU-hours used",
    )
