"""The observer's page of objectives (charts, on track or behind), its CSV and JSON exports, and /metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST

from aifactory.portal.common.charts import Series, line_chart, time_ticks
from aifactory.portal.monitoring.kpis import details
from aifactory.portal.monitoring.selectors import metrics_text, objectives_csv, objectives_progress, observer_only
from aifactory.portal.organisations.selectors import may_see_aggregates, user_by_token


def _ts(day: object) -> float:
    return timezone.make_aware(datetime.combine(day, time.min), UTC).timestamp()  # type: ignore[arg-type]


def _chart(row: dict) -> object:
    actual = tuple((_ts(p["date"]), float(p["value"])) for p in row["series"] if p["value"] is not None)
    expected = tuple((_ts(p["date"]), float(p["expected"])) for p in row["series"])
    start = timezone.make_aware(datetime.combine(row["start"], time.min), UTC)
    end = timezone.make_aware(datetime.combine(row["deadline"], time.min), UTC)
    return line_chart([Series("value", actual), Series("expected path to the target", expected, dashed=True)],
                      title=row["title"], desc=f"{row['title']}: {row['status']}", ident=f"obj-{row['key']}",
                      x_range=(start.timestamp(), end.timestamp()), x_ticks=time_ticks(start, end),
                      y_label=row["unit"], marker=(timezone.now().timestamp(), "today"))


@login_required
def objectives_page(request: HttpRequest) -> HttpResponse:
    observer_only(request.user)
    rows = objectives_progress()
    return render(request, "monitoring/objectives.html", {
        "rows": [(r, _chart(r)) for r in rows], "details": details(timezone.now())})


@login_required
def objectives_csv_view(request: HttpRequest) -> HttpResponse:
    observer_only(request.user)
    response = HttpResponse(objectives_csv(objectives_progress()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="objectives.csv"'
    return response


@login_required
def objectives_json_view(request: HttpRequest) -> HttpResponse:
    observer_only(request.user)
    body = json.dumps({"at": timezone.now(), "objectives": objectives_progress()}, cls=DjangoJSONEncoder, indent=1)
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="objectives.json"'
    return response


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for the operators' own monitoring: an observer's session or personal token."""
    user = request.user
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_by_token(header[7:].strip()) or user
    if not user.is_authenticated:
        return HttpResponse("a valid token is required (Authorization: Bearer <token>)\n", status=401,
                            content_type="text/plain")
    if not may_see_aggregates(user):
        return HttpResponse("the metrics are for observers, call managers and staff\n", status=403,
                            content_type="text/plain")
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
