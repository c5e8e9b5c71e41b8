"""The AI Office's objectives under /api/v1/monitoring (observers, call managers and staff)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema

from aifactory.portal.common.schemas import Figure
from aifactory.portal.monitoring.kpis import details
from aifactory.portal.monitoring.selectors import objectives_progress, observer_only
from aifactory.portal.organisations.auth import user_auth

router = Router(tags=["monitoring"], auth=user_auth)


class PointOut(Schema):
    """The KPI on one day of the objective's series."""

    date: date
    value: Figure | None = Field(..., description="null: no data on that day")
    expected: float = Field(..., description="where the objective expects the KPI that day, on a straight line")
    status: str = Field(..., description="on track, behind, met, missed or no data")


class BasisOut(Schema):
    met: int
    of: int


class ObjectiveOut(Schema):
    """An objective (an Objective) with its KPI now and over time (monitoring.selectors.progress)."""

    key: str
    title: str
    kpi: str
    unit: str
    direction: str = Field(..., description="up or down: which way is better")
    baseline: float
    target: float
    start: date
    deadline: date
    value: Figure | None
    basis: BasisOut | None = Field(..., description="the counts a share is computed from")
    expected: float
    status: str
    computed_from: str = Field(..., description="the records the KPI is computed from")
    series: list[PointOut]


class DetailsOut(Schema):
    """Figures that go with the KPIs (monitoring.kpis.details)."""

    gpu_hours: dict[str, dict[str, float]] = Field(..., description="GPU-hours charged by sector and by country")
    obligations_overdue: int
    support_open: int


class ObjectivesOut(Schema):
    at: datetime
    objectives: list[ObjectiveOut]
    details: DetailsOut


@router.get("/monitoring/objectives", response=ObjectivesOut)
def objectives(request: HttpRequest) -> dict[str, Any]:
    """Every objective with its KPI over time (computed from the portal's records), on track or behind."""
    observer_only(request.user)
    return {"at": timezone.now(), "objectives": objectives_progress(), "details": details(timezone.now())}
