from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.core.modes import load_modes
from aifactory.portal.access.models import Application, Route, StateChange
from aifactory.portal.access.selectors import (
    application_get,
    applications_of,
    call_get,
    on_time,
    stats,
    with_details,
)
from aifactory.portal.access.services import application_decide, application_submit
from aifactory.portal.common.errors import Forbidden
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import may_see_aggregates, organisation_get

router = Router(tags=["access"], auth=user_auth)


class ApplicationIn(In):
    organisation: int = Field(..., strict=True)
    title: str = Field(..., min_length=3, max_length=200)
    mode: str = Field("playground", max_length=20, description="playground, fast_lane, large_scale, grand_challenge")
    call: int | None = Field(
        None, strict=True, description="the call a Large Scale or Grand Challenge proposal answers",
    )
    machine: str = Field(..., max_length=40, description="the machine asked for (the first, when split)")
    machine_hours: dict[str, float] = Field(
        default_factory=dict, max_length=20, description="GPU-hours per machine, for a call proposal on several"
    )
    gpu: str = Field("", max_length=20, description="the GPU model asked for, if any (A100, H100, GH200, MI250X)")
    params: float = Field(..., gt=0, le=1e15, description="model parameters")
    tokens: float = Field(..., gt=0, le=1e17, description="training tokens")
    gpus: int = Field(..., ge=1, le=100_000, strict=True)
    requested_gpu_hours: float = Field(..., gt=0, le=1e9)
    months: int = Field(3, ge=1, le=12, strict=True)
    civil_use: bool = Field(..., strict=True, description="the work is for civil use only")
    practices: list[str] = Field(default_factory=list, max_length=20, description="AI Act Article 5 practices")
    areas: list[str] = Field(default_factory=list, max_length=20, description="AI Act Annex III areas")
    sector: str = Field("", max_length=100, description="the project's sector (the organisation's when empty)")
    summary: str = Field("", max_length=5000)
    description: str = Field("", max_length=20000, description="the project in your words, for reviewers; screened "
                             "with the title and summary for AI Act practices and high-risk uses")
    keywords: list[str] = Field(default_factory=list, max_length=20, description="expertise keywords for reviewers")
    people: list[str] = Field(default_factory=list, max_length=50, description="people named in the proposal")
    open_science: bool = Field(False, strict=True, description="accepts the call's open-science obligation")


def _name(user: Any) -> str | None:
    return None if user is None else str(user.get_username())


class StateChangeOut(Schema):
    """One move of the application (a StateChange)."""

    at: datetime
    actor: str | None
    from_state: str
    to_state: str
    reason: str

    @staticmethod
    def resolve_actor(h: StateChange) -> str | None:
        return _name(h.actor)


class RouteOut(Schema):
    machine: str
    factory: str
    gpu_hours: float
    fit: float | None
    reasons: list[str]
    method: str
    reason: str
    decided_by: str | None
    decided_at: datetime
    current: bool

    @staticmethod
    def resolve_machine(r: Route) -> str:
        return r.machine.key

    @staticmethod
    def resolve_decided_by(r: Route) -> str | None:
        return _name(r.decided_by)


class ApplicationOut(Schema):
    """An application with its routes, its allocations and the history of its states."""

    id: int
    organisation: int
    title: str
    mode: str
    call: int | None
    machine: str
    machine_hours: dict[str, float]
    gpu: str
    sector: str
    state: str
    reasons: list[str]
    high_risk: bool
    systemic_risk: bool
    summary: str = ""
    description: str = ""
    text_findings: list[TextFindingOut] = Field(
        default_factory=list, description="what the AI Act text screening found, with the passages; an application "
        "with findings goes to an ethics review"
    )
    requested_gpu_hours: float
    months: int
    pledges: list[str]
    plan: dict[str, Any]
    assessment: dict[str, Any]
    submitted_at: datetime
    promised_by: date | None
    decided_at: datetime | None
    on_time: bool | None = Field(None, description="decided by the promised day; None while pending and not late")
    allocation: int | None = Field(None, description="the first allocation granted (see allocations)")
    allocations: list[int] = Field(default_factory=list, description="every allocation granted, one per machine")
    routes: list[RouteOut] = Field(default_factory=list)
    history: list[StateChangeOut] = Field(default_factory=list)

    @staticmethod
    def resolve_organisation(app: Application) -> int:
        return app.organisation_id

    @staticmethod
    def resolve_call(app: Application) -> int | None:
        return app.call_id

    @staticmethod
    def resolve_machine(app: Application) -> str:
        return app.machine.key

    @staticmethod
    def resolve_on_time(app: Application) -> bool | None:
        return on_time(app)

    @staticmethod
    def resolve_allocation(app: Application) -> int | None:
        return min((a.pk for a in app.allocations.all()), default=None)

    @staticmethod
    def resolve_allocations(app: Application) -> list[int]:
        return sorted(a.pk for a in app.allocations.all())


class TextFindingOut(Schema):
    key: str = Field(..., description="the Article 5 practice or Annex III area")
    kind: str = Field(..., description="practice (Article 5) or area (Annex III)")
    label: str
    field: str = Field(..., description="title, summary or description")
    passages: list[str] = Field(..., description="the passages that triggered the finding")
    words: list[str]


class DecisionIn(In):
    approve: bool = Field(..., strict=True)
    reason: str = Field(..., min_length=1, max_length=2000)


class AccessModeOut(Schema):
    """An access mode (core.modes.AccessMode): who it is for, its limits and the decision time it promises."""

    key: str
    name: str
    audience: str
    evaluation: str
    gpu_hours_above: float | None = Field(..., description="a request must be above this (exclusive)")
    gpu_hours_at_most: float | None = Field(..., description="and at most this")
    limits: str
    months: list[int]
    decision_working_days: int | None
    decision_from: str = Field(..., description="submission, cutoff or deadline")
    decision: str
    technical_assessment: bool
    peer_review: bool
    call: bool = Field(..., description="applications go to a call (cut-off or deadline)")
    competition: bool
    policy: list[str] = Field(..., description="the fields that are this portal's policy, not a public figure")
    sources: dict[str, str] = Field(..., description="field -> source")


class ModesOut(Schema):
    modes: list[AccessModeOut]
    notes: list[str]


class ModeStatsOut(Schema):
    """One access mode's applications: promised against actual decision times, states and GPU-hours asked."""

    mode: str
    name: str
    promised: str
    applications: int
    decided: int
    decided_on_time: int
    late: int
    median_working_days_to_decision: int | float | None
    states: dict[str, int] = Field(..., description="applications per state")
    gpu_hours_requested: int | float


class StatsOut(Schema):
    modes: list[ModeStatsOut]
    approved: int
    refused: int
    gpu_hours_granted_by_machine: dict[str, float]


@router.get("/modes", response=ModesOut, auth=None,
            summary="The access modes: size limits, durations, promised decision times")
def modes(request: HttpRequest) -> dict[str, Any]:
    data = load_modes()
    return {"modes": [m.to_dict() for m in data.modes], "notes": list(data.notes)}


@router.post("/applications", response={201: ApplicationOut})
def submit(request: HttpRequest, body: ApplicationIn) -> Any:
    org = organisation_get(user=request.user, pk=body.organisation)
    data = body.dict()
    data.pop("organisation")
    data["machine_key"] = data.pop("machine")
    call_id = data.pop("call")
    data["call"] = None if call_id is None else call_get(call_id)
    app = application_submit(organisation=org, user=request.user, **data)
    return answer(201, application_get(user=request.user, pk=app.pk))


@router.get("/applications", response=list[ApplicationOut])
def applications(request: HttpRequest) -> list[Application]:
    return list(with_details(applications_of(request.user)))


@router.get("/applications/{app_id}", response=ApplicationOut)
def application(request: HttpRequest, app_id: int) -> Application:
    return application_get(user=request.user, pk=app_id)


@router.post("/applications/{app_id}/decision", response=ApplicationOut,
             summary="A call manager decides an ethics or technical review, with the reason")
def decide(request: HttpRequest, app_id: int, body: DecisionIn) -> Application:
    app = application_get(user=request.user, pk=app_id)
    application_decide(application=app, user=request.user, approve=body.approve, reason=body.reason)
    return application_get(user=request.user, pk=app_id)


@router.get("/stats", response=StatsOut,
            summary="Aggregates for observers: promised against actual decision times, GPU-hours granted")
def aggregate(request: HttpRequest) -> dict[str, Any]:
    if not may_see_aggregates(request.user):
        raise Forbidden("the aggregates are for observers, call managers and staff")
    return stats()
