"""Reads of the monitoring context: each objective's progress over time, its status, exports, metrics."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from aifactory.core import objectives as core_objectives
from aifactory.portal.common.errors import Forbidden
from aifactory.portal.monitoring.kpis import BASIS, KPIS, SOURCES, details
from aifactory.portal.monitoring.models import Objective
from aifactory.portal.organisations.selectors import may_see_aggregates

POINTS = 24


def observer_only(user: AbstractBaseUser | AnonymousUser) -> None:
    if not may_see_aggregates(user):
        raise Forbidden("the objectives are for observers, call managers and staff")


def spec_of(o: Objective) -> core_objectives.ObjectiveSpec:
    return core_objectives.ObjectiveSpec(key=o.key, title=o.title, kpi=o.kpi, unit=o.unit, direction=o.direction,
                                         baseline=o.baseline, target=o.target, start=o.start, deadline=o.deadline)


def _end_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.max), timezone.get_current_timezone())


def days_of(o: Objective, today: date) -> list[date]:
    """POINTS days evenly from the start to today (or the deadline, if earlier), today included."""
    end = min(today, o.deadline)
    if end <= o.start:
        return [end]
    step = max(1, (end - o.start).days // (POINTS - 1))
    days = [o.start + timedelta(days=i * step) for i in range(POINTS) if o.start + timedelta(days=i * step) < end]
    return days + [end]


def progress(o: Objective, today: date | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    spec = spec_of(o)
    kpi = KPIS[o.kpi]
    series = []
    for day in days_of(o, today):
        value = kpi(_end_of(day))
        series.append({"date": day, "value": value, "expected": round(core_objectives.expected(spec, day), 4),
                       "status": core_objectives.status(spec, value, day)})
    current = series[-1]
    basis = BASIS[o.kpi](_end_of(today)) if o.kpi in BASIS else None
    return {"key": o.key, "title": o.title, "kpi": o.kpi, "unit": o.unit, "direction": o.direction,
            "baseline": o.baseline, "target": o.target, "start": o.start, "deadline": o.deadline,
            "value": current["value"], "basis": None if basis is None else {"met": basis[0], "of": basis[1]},
            "expected": current["expected"], "status": current["status"],
            "computed_from": SOURCES[o.kpi], "series": series}


def objectives_progress(today: date | None = None) -> list[dict[str, Any]]:
    return [progress(o, today) for o in Objective.objects.all()]


def objectives_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["objective", "kpi", "unit", "date", "value", "expected", "status", "baseline", "target",
                     "deadline"])
    for r in rows:
        for p in r["series"]:
            writer.writerow([r["key"], r["kpi"], r["unit"], p["date"].isoformat(),
                             "" if p["value"] is None else p["value"], p["expected"], p["status"], r["baseline"],
                             r["target"], r["deadline"].isoformat()])
    return out.getvalue()


class _ObjectivesCollector(Collector):
    """Each objective's KPI now, its target and whether it is on track, plus the figures that go with them."""

    def collect(self) -> Any:
        now = timezone.now()
        today = timezone.localdate()
        value = GaugeMetricFamily("aifactory_objective_value", "The KPI's value now, from the portal's records",
                                  labels=["objective", "kpi"])
        target = GaugeMetricFamily("aifactory_objective_target", "The objective's target", labels=["objective", "kpi"])
        on_track = GaugeMetricFamily("aifactory_objective_on_track", "1 when on track or met, 0 when behind or missed",
                                     labels=["objective", "kpi"])
        for o in Objective.objects.all():
            v = KPIS[o.kpi](now)
            if v is not None:
                value.add_metric([o.key, o.kpi], v)
                state = core_objectives.status(spec_of(o), v, today)
                on_track.add_metric([o.key, o.kpi], 1.0 if state in ("on track", "met") else 0.0)
            target.add_metric([o.key, o.kpi], o.target)
        yield value
        yield target
        yield on_track
        d = details(now)
        for axis in ("sector", "country"):
            hours = GaugeMetricFamily(f"aifactory_gpu_hours_delivered_by_{axis}", f"GPU-hours charged, by {axis}",
                                      labels=[axis])
            for name, h in d["gpu_hours"][axis].items():
                hours.add_metric([name], h)
            yield hours
        yield GaugeMetricFamily("aifactory_obligations_overdue", "Open-science obligations past their date",
                                value=d["obligations_overdue"])
        yield GaugeMetricFamily("aifactory_support_requests_open", "Support requests not answered or closed",
                                value=d["support_open"])


def metrics_text() -> bytes:
    registry = CollectorRegistry()
    registry.register(_ObjectivesCollector())
    return generate_latest(registry)
