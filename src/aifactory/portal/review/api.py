"""Calls, the reviewer pool, assignments, reviews, ranking, selection, routing and acceptance under /api/v1."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.portal.access.models import Application, Route
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.errors import Forbidden, NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import is_call_manager
from aifactory.portal.review.models import Assignment, Call, ConflictDeclaration, Reviewer, SelectionRun
from aifactory.portal.review.selectors import (
    assignment_get,
    assignments_of,
    call_get,
    call_managed,
    call_ranking,
    call_summary,
    calls_visible,
    declarations_of,
    declarations_of_call,
    latest_selection,
    proposals_open_to_declare,
    ranking_out,
    routes_of_call,
)
from aifactory.portal.review.services import (
    CriterionSpec,
    call_accept,
    call_assign,
    call_close,
    call_open,
    call_select,
    conflict_declare,
    review_submit,
    reviewer_add,
    route_override,
)

router = Router(tags=["calls"], auth=user_auth)


class CriterionIO(Schema):
    name: str = Field(..., min_length=1, max_length=60)
    weight: float = Field(..., gt=0, le=1000)
    low: float = Field(0.0, ge=-1000, le=1000)
    high: float = Field(5.0, ge=-1000, le=1000)


class CallIn(In):
    title: str = Field(..., min_length=3, max_length=200)
    mode: str = Field(..., max_length=20, description="large_scale or grand_challenge")
    description: str = Field("", max_length=10_000)
    deadline: datetime = Field(..., description="cut-off or deadline, with its time zone")
    decision_by: date | None = Field(None, description="promised decision day (Large Scale: cut-off + 10 working days)")
    starts_on: date | None = Field(None, description="allocations start (the day of acceptance when empty)")
    months: int = Field(12, ge=1, le=36, strict=True)
    winner_limit: int | None = Field(None, ge=1, le=100_000, strict=True)
    threshold: float | None = Field(None, description="a proposal scoring below this is never funded")
    objective: str = Field("score", max_length=20, description="score or score_gpu_hours")
    reviewers_per_proposal: int = Field(2, ge=1, le=20, strict=True)
    same_country_conflict: bool = Field(False, strict=True)
    prize_eur: Decimal | None = Field(None, ge=0, le=Decimal("1e12"), max_digits=14, decimal_places=2)
    open_science: bool = Field(False, strict=True, description="winners must release their model or publish")
    criteria: list[CriterionIO] = Field(..., min_length=1, max_length=20)
    budgets: dict[str, float] = Field(..., min_length=1, max_length=50, description="GPU-hours per machine key")


class CallOut(Schema):
    id: int
    title: str
    mode: str
    description: str
    state: str
    deadline: datetime
    decision_by: date
    starts_on: date | None
    months: int
    winner_limit: int | None
    threshold: float | None
    objective: str
    reviewers_per_proposal: int
    same_country_conflict: bool
    prize_eur: Decimal | None
    open_science: bool
    criteria: list[CriterionIO]
    budgets: dict[str, float]
    proposals: int

    @staticmethod
    def resolve_budgets(call: Call) -> dict[str, float]:
        return {b.machine.key: b.gpu_hours for b in call.budgets.all()}

    @staticmethod
    def resolve_proposals(call: Call) -> int:
        return getattr(call, "proposals", None) or call.applications.count()


class ReasonIn(In):
    reason: str = Field("", max_length=2000)


class AssignIn(In):
    load_weight: float | None = Field(None, ge=0, description="match worth one unit of largest load (none: balance "
                                                                "first)")


class AssignmentOut(Schema):
    id: int
    call: int = Field(..., alias="call_id")
    application: int = Field(..., alias="application_id")
    reviewer: str = Field(..., alias="reviewer.name")
    match: float
    reason: str
    reviewed: bool

    @staticmethod
    def resolve_reviewed(a: Assignment) -> bool:
        return hasattr(a, "review")


class ReviewerIn(In):
    username: str = Field(..., max_length=150)
    name: str = Field(..., min_length=1, max_length=200)
    affiliation: str = Field("", max_length=200)
    country: str = Field(..., pattern=r"^[A-Za-z]{2}$")
    keywords: list[str] = Field(default_factory=list, max_length=30)
    max_load: int = Field(5, ge=0, le=1000, strict=True)


class ReviewerOut(Schema):
    id: int
    username: str = Field(..., alias="user.username")
    name: str
    affiliation: str
    country: str
    keywords: list[str]
    max_load: int
    active: bool


class ReviewIn(In):
    marks: dict[str, float] = Field(..., min_length=1, max_length=20, description="criterion name -> mark")
    comment: str = Field("", max_length=10_000)


class ReviewOut(Schema):
    marks: dict[str, int | float]
    score: float
    comment: str
    submitted_at: datetime


class ProposalForReviewOut(Schema):
    """An assignment as its reviewer sees it: the proposal, the call's rubric and the review written, if any."""

    assignment: int = Field(..., alias="pk")
    call: int = Field(..., alias="call_id")
    call_title: str = Field(..., alias="call.title")
    application: int = Field(..., alias="application_id")
    title: str = Field(..., alias="application.title")
    summary: str = Field(..., alias="application.summary")
    mode: str = Field(..., alias="application.mode")
    sector: str = Field(..., alias="application.sector")
    keywords: list[str] = Field(..., alias="application.keywords")
    machine_hours: dict[str, float]
    gpus: int = Field(..., alias="application.gpus")
    months: int = Field(..., alias="application.months")
    params: float = Field(..., alias="application.params")
    tokens: float = Field(..., alias="application.tokens")
    assessment: dict[str, Any] = Field(..., alias="application.assessment")
    criteria: list[CriterionIO] = Field(..., alias="call.criteria")
    match: float
    reason: str
    review: ReviewOut | None

    @staticmethod
    def resolve_machine_hours(a: Assignment) -> dict[str, float]:
        app = a.application
        return app.machine_hours or {app.machine.key: app.requested_gpu_hours}

    @staticmethod
    def resolve_review(a: Assignment) -> Any:
        return getattr(a, "review", None)


class ProposalOut(Schema):
    id: int
    title: str
    organisation: str
    country: str
    state: str
    requested_gpu_hours: float
    machine_hours: dict[str, float]
    keywords: list[str]
    reasons: list[str]

    @staticmethod
    def resolve_organisation(a: Application) -> str:
        return a.organisation.name

    @staticmethod
    def resolve_country(a: Application) -> str:
        return a.organisation.country

    @staticmethod
    def resolve_machine_hours(a: Application) -> dict[str, float]:
        return a.machine_hours or {a.machine.key: a.requested_gpu_hours}


class RouteIn(In):
    machine: str = Field(..., max_length=40)
    reason: str = Field(..., min_length=1, max_length=2000)


class SummaryOut(Schema):
    """A call's counts, as its managers' page shows them."""

    proposals: int
    by_state: dict[str, int]
    assignments: int
    reviews: int
    missing_reviews: int


class RankingEntryOut(Schema):
    position: int
    application: int
    score: float
    criteria: dict[str, float] = Field(..., description="mean mark per criterion")
    reviews: int
    gpu_hours: float
    decided_by: str | None = Field(..., description="the rule that placed it below the previous entry on a tie")
    explanation: str | None


class RankingOut(Schema):
    """The proposals with at least one review, by score, the tie-break rules first."""

    rules: list[str]
    entries: list[RankingEntryOut]


class SelectionResultOut(Schema):
    """One way of choosing the winners (the optimum or the rank-order greedy), valued on the call's objective."""

    method: str
    objective: str
    funded: list[int]
    value: float
    solver_value: float
    use: dict[str, float] = Field(..., description="GPU-hours funded per machine")
    status: str
    gap: float | None
    bound: float | None
    proven_optimal: bool
    seconds: float
    winners: int


class SelectionOut(Schema):
    id: int
    call: int = Field(..., alias="call_id")
    objective: str
    run_at: datetime
    run_by: str | None = Field(None, alias="run_by.username")
    funded: list[int]
    optimum: SelectionResultOut
    greedy: SelectionResultOut
    ranking: RankingOut
    difference: float = Field(..., description="the optimum's value less the greedy's")

    @staticmethod
    def resolve_difference(run: SelectionRun) -> float:
        return run.optimum["value"] - run.greedy["value"]


class RouteOut(Schema):
    application: int = Field(..., alias="application_id")
    machine: str = Field(..., alias="machine.key")
    factory: str
    gpu_hours: float
    fit: float | None
    reasons: list[str]
    method: str
    reason: str
    current: bool
    decided_by: str | None = Field(None, alias="decided_by.username")
    decided_at: datetime


class RouteOverrideOut(Schema):
    application: int = Field(..., alias="application_id")
    machine: str = Field(..., alias="machine.key")
    factory: str
    reason: str
    reasons: list[str]
    fit: float | None


class AcceptedAllocationOut(Schema):
    id: int
    application: int = Field(..., alias="application_id")
    machine: str = Field(..., alias="machine.key")
    account: str
    gpu_hours: float
    starts_on: date
    ends_on: date
    orders: int

    @staticmethod
    def resolve_orders(a: Allocation) -> int:
        return a.orders.count()


class AcceptOut(Schema):
    call: int
    allocations: list[AcceptedAllocationOut]


# --- calls -------------------------------------------------------------------------------------------------------


@router.get("/calls", response=list[CallOut])
def calls(request: HttpRequest) -> list[Call]:
    return list(calls_visible(request.user))


@router.post("/calls", response={201: CallOut}, summary="Open a call (call managers)")
def open_call(request: HttpRequest, body: CallIn) -> Any:
    data = body.dict()
    criteria = [CriterionSpec(**c) for c in data.pop("criteria")]
    call = call_open(user=request.user, criteria=criteria, **data)
    return answer(201, call_get(user=request.user, pk=call.pk))


@router.get("/calls/{call_id}", response=CallOut)
def call(request: HttpRequest, call_id: int) -> Call:
    return call_get(user=request.user, pk=call_id)


@router.post("/calls/{call_id}/close", response=CallOut, summary="End intake: review starts (call managers)")
def close(request: HttpRequest, call_id: int, body: ReasonIn) -> Call:
    call_close(call=call_managed(user=request.user, pk=call_id), user=request.user, reason=body.reason)
    return call_get(user=request.user, pk=call_id)


@router.get("/calls/{call_id}/proposals", response=list[ProposalOut])
def proposals(request: HttpRequest, call_id: int) -> list[Application]:
    c = call_managed(user=request.user, pk=call_id)
    return list(c.applications.select_related("organisation", "machine").order_by("pk"))


@router.get("/calls/{call_id}/summary", response=SummaryOut)
def summary(request: HttpRequest, call_id: int) -> dict[str, Any]:
    return call_summary(call_managed(user=request.user, pk=call_id))


@router.post("/calls/{call_id}/assign", response=list[AssignmentOut],
             summary="Assign k reviewers per proposal: one integer program (call managers)")
def assign(request: HttpRequest, call_id: int, body: AssignIn) -> list[Assignment]:
    return list(call_assign(call=call_managed(user=request.user, pk=call_id), user=request.user,
                            load_weight=body.load_weight))


@router.get("/calls/{call_id}/assignments", response=list[AssignmentOut])
def assignments(request: HttpRequest, call_id: int) -> list[Assignment]:
    c = call_managed(user=request.user, pk=call_id)
    return list(c.assignments.select_related("reviewer", "review"))


@router.get("/calls/{call_id}/ranking", response=RankingOut,
            summary="Proposals by score, ties explained (call managers)")
def ranking(request: HttpRequest, call_id: int) -> dict[str, Any]:
    return ranking_out(call_ranking(call_managed(user=request.user, pk=call_id)))


@router.post("/calls/{call_id}/select", response=SelectionOut,
             summary="Select winners: the optimum and the greedy, both with totals")
def select(request: HttpRequest, call_id: int) -> SelectionRun:
    return call_select(call=call_managed(user=request.user, pk=call_id), user=request.user)


@router.get("/calls/{call_id}/selection", response=SelectionOut)
def selection(request: HttpRequest, call_id: int) -> SelectionRun:
    run = latest_selection(call_managed(user=request.user, pk=call_id))
    if run is None:
        raise NotFound(f"call {call_id} has no selection yet")
    return run


@router.get("/calls/{call_id}/routes", response=list[RouteOut])
def routes(request: HttpRequest, call_id: int) -> list[Route]:
    return list(routes_of_call(call_managed(user=request.user, pk=call_id)))


@router.post("/calls/{call_id}/routes/{app_id}", response=RouteOverrideOut,
             summary="Override a winner's routing, with the reason (staff)")
def override(request: HttpRequest, call_id: int, app_id: int, body: RouteIn) -> Route:
    c = call_managed(user=request.user, pk=call_id)
    app = c.applications.filter(pk=app_id).first()
    if app is None:
        raise NotFound(f"application {app_id} is not in call {call_id}")
    return route_override(application=app, user=request.user, machine_key=body.machine, reason=body.reason)


@router.post("/calls/{call_id}/accept", response=AcceptOut,
             summary="Accept the winners: allocations and provisioning orders")
def accept(request: HttpRequest, call_id: int, body: ReasonIn) -> dict[str, Any]:
    made = call_accept(call=call_managed(user=request.user, pk=call_id), user=request.user, reason=body.reason)
    return {"call": call_id, "allocations": made}


# --- the reviewer pool and reviews --------------------------------------------------------------------------------


@router.post("/reviewers", response={201: ReviewerOut}, summary="Add a person to the reviewer pool (call managers)")
def add_reviewer(request: HttpRequest, body: ReviewerIn) -> Any:
    if not is_call_manager(request.user):
        raise Forbidden("only call managers keep the reviewer pool")
    person = get_user_model().objects.filter(username=body.username).first()
    if person is None:
        raise NotFound(f"username: no user {body.username!r}", {"field": "username"})
    data = body.dict()
    data.pop("username")
    r = reviewer_add(user=request.user, person=person, **data)
    return answer(201, r)


@router.get("/reviewers", response=list[ReviewerOut])
def reviewers(request: HttpRequest) -> list[Reviewer]:
    if not is_call_manager(request.user):
        raise Forbidden("only call managers see the reviewer pool")
    return list(Reviewer.objects.select_related("user"))


@router.get("/reviews", response=list[ProposalForReviewOut], summary="The proposals assigned to me (reviewers)")
def my_reviews(request: HttpRequest) -> list[Assignment]:
    return list(assignments_of(request.user))


@router.get("/reviews/{assignment_id}", response=ProposalForReviewOut)
def my_review(request: HttpRequest, assignment_id: int) -> Assignment:
    return assignment_get(user=request.user, pk=assignment_id)


@router.post("/reviews/{assignment_id}", response={201: ProposalForReviewOut},
             summary="Mark an assigned proposal on the call's rubric (its reviewer)")
def submit_review(request: HttpRequest, assignment_id: int, body: ReviewIn) -> Any:
    a = assignment_get(user=request.user, pk=assignment_id)
    review_submit(assignment=a, user=request.user, marks=body.marks, comment=body.comment)
    return answer(201, assignment_get(user=request.user, pk=assignment_id))


class ConflictIn(In):
    application: int = Field(..., strict=True, description="a proposal of a call that is open or in review")
    reason: str = Field(..., min_length=1, max_length=2000, description="why; read by the call manager only")


class ConflictOut(Schema):
    id: int
    reviewer: str = Field(..., alias="reviewer.name")
    application: int = Field(..., alias="application_id")
    title: str = Field(..., alias="application.title")
    call: int | None = Field(..., alias="application.call_id")
    reason: str
    declared_at: datetime


@router.get("/conflicts", response=list[ConflictOut], summary="The conflicts of interest I declared (reviewers)")
def my_conflicts(request: HttpRequest) -> list[ConflictDeclaration]:
    return list(declarations_of(request.user).select_related("reviewer"))


@router.post("/conflicts", response={201: ConflictOut},
             summary="Declare a conflict of interest with a proposal of an open call or one in review (reviewers)")
def declare_conflict(request: HttpRequest, body: ConflictIn) -> Any:
    app = proposals_open_to_declare().filter(pk=body.application).first()
    if app is None:
        raise NotFound(f"application {body.application} is not a proposal of an open call or a call in review")
    return answer(201, conflict_declare(user=request.user, application=app, reason=body.reason))


@router.get("/calls/{call_id}/conflicts", response=list[ConflictOut],
            summary="The conflicts reviewers declared with the call's proposals (call managers)")
def call_conflicts(request: HttpRequest, call_id: int) -> list[ConflictDeclaration]:
    call = call_managed(user=request.user, pk=call_id)
    return list(declarations_of_call(call).select_related("application"))
