from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.portal.access.models import Application
from aifactory.portal.access.selectors import application_get, applications_of
from aifactory.portal.access.services import application_submit
from aifactory.portal.common.auth import user_auth
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.organisations.selectors import organisation_get

router = Router(tags=["access"], auth=user_auth)


class ApplicationIn(In):
    organisation: int = Field(..., strict=True)
    title: str = Field(..., min_length=3, max_length=200)
    mode: str = Field("playground", max_length=20)
    machine: str = Field(..., max_length=40)
    params: float = Field(..., gt=0, le=1e15, description="model parameters")
    tokens: float = Field(..., gt=0, le=1e17, description="training tokens")
    gpus: int = Field(..., ge=1, le=100_000, strict=True)
    requested_gpu_hours: float = Field(..., gt=0, le=1e9)
    months: int = Field(3, ge=1, le=12, strict=True)
    civil_use: bool = Field(..., strict=True, description="the work is for civil use only")
    practices: list[str] = Field(default_factory=list, max_length=20, description="AI Act Article 5 practices")
    areas: list[str] = Field(default_factory=list, max_length=20, description="AI Act Annex III areas")


class ApplicationOut(Schema):
    id: int
    organisation: int
    title: str
    mode: str
    machine: str
    state: str
    reasons: list[str]
    high_risk: bool
    systemic_risk: bool
    requested_gpu_hours: float
    plan: dict[str, Any]
    submitted_at: datetime
    decided_at: datetime | None
    allocation: int | None = Field(None, description="the first allocation granted (see allocations)")
    allocations: list[int] = Field(default_factory=list, description="every allocation granted, one per machine")


def _out(app: Application) -> dict[str, Any]:
    granted = sorted(a.pk for a in app.allocations.all())
    return {
        "id": app.pk, "organisation": app.organisation_id, "title": app.title, "mode": app.mode,
        "machine": app.machine.key, "state": app.state, "reasons": app.reasons, "high_risk": app.high_risk,
        "systemic_risk": app.systemic_risk, "requested_gpu_hours": app.requested_gpu_hours, "plan": app.plan,
        "submitted_at": app.submitted_at, "decided_at": app.decided_at,
        "allocation": granted[0] if granted else None, "allocations": granted,
    }


@router.post("/applications", response={201: ApplicationOut})
def submit(request: HttpRequest, body: ApplicationIn) -> Any:
    org = organisation_get(user=request.user, pk=body.organisation)
    data = body.dict()
    data.pop("organisation")
    data["machine_key"] = data.pop("machine")
    app = application_submit(organisation=org, user=request.user, **data)
    return answer(201, _out(app))


@router.get("/applications", response=list[ApplicationOut])
def applications(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(a) for a in applications_of(request.user).prefetch_related("allocations")]


@router.get("/applications/{app_id}", response=ApplicationOut)
def application(request: HttpRequest, app_id: int) -> dict[str, Any]:
    return _out(application_get(user=request.user, pk=app_id))
