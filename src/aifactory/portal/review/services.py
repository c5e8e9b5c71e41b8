"""Writes of the review context: calls, the reviewer pool, assignment, scores, selection, routing and acceptance.

A call moves open -> review -> selected -> closed (choices.CALL_TRANSITIONS), each move a CallStateChange row:
    call_open     a call manager opens it with its rubric, budgets per machine, winner limit, threshold, objective
    call_close    the deadline has passed (or the manager closes it early, with a reason): review starts
    call_assign   k reviewers per proposal, free of conflict, load balanced and matched by expertise: one integer
                  program (core/review.assign), run once per call
    review_submit a reviewer marks an assigned proposal on the call's rubric (core/review.score_review)
    conflict_declare  a reviewer declares a conflict with a proposal of an open call or one in review: the assignment
                  keeps the pair apart, and the reviewer may not mark it
    call_select   the ranking (ties explained), the selection as an integer program and the rank-order greedy on the
                  same proposals (core/selection.compare); winners are routed within the call's budgets
                  (core/routing.route): the selection's own funding is one feasible routing, so every winner is
                  routed. Funded sets of equal value are told apart by the ranking (TIE_EPSILON)
    route_override  staff move a winner to another machine of the call, with a recorded reason
    call_accept   every winner accepted: allocations per machine, from the call's start date, and provisioning orders
Only a call manager (or staff) calls these, except review_submit (the assigned reviewer only) and
conflict_declare (a reviewer in the pool).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from aifactory.core import review as core_review
from aifactory.core import routing as core_routing
from aifactory.core import selection as core_selection
from aifactory.core.exceptions import InvalidInput
from aifactory.core.modes import load_modes
from aifactory.portal.access.choices import ApplicationState, RouteMethod
from aifactory.portal.access.models import Application, Route
from aifactory.portal.access.routing import gpu_hours_of, project_of, target_of
from aifactory.portal.access.services import application_accept, application_select, routes_record
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.errors import BadRequest, Conflict, Forbidden, NotFound
from aifactory.portal.federation.models import Machine
from aifactory.portal.organisations.selectors import country_code, is_call_manager
from aifactory.portal.review.choices import (
    DECLARABLE_CALL_STATES,
    CallMode,
    CallState,
    Objective,
    check_call_transition,
)
from aifactory.portal.review.models import (
    Assignment,
    Budget,
    Call,
    CallStateChange,
    ConflictDeclaration,
    Criterion,
    Review,
    Reviewer,
    SelectionRun,
)
from aifactory.portal.review.selectors import proposal_profile, reviewer_profile


def _refuse(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field})


def _manager(user: AbstractBaseUser) -> None:
    if not is_call_manager(user):
        raise Forbidden("only a call manager runs calls, reviews and selections")


def _call_move(call: Call, target: CallState, *, actor: AbstractBaseUser | None, reason: str) -> None:
    check_call_transition(call.state, target)
    CallStateChange.objects.create(call=call, actor=actor, from_state=call.state, to_state=target.value, reason=reason)
    call.state = target.value
    call.save(update_fields=["state"])


def rubric_of(call: Call) -> core_review.Rubric:
    return core_review.Rubric(
        tuple(core_review.Criterion(c.name, c.weight, c.low, c.high) for c in call.criteria.all())
    )


# --- opening and closing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionSpec:
    name: str
    weight: float
    low: float = 0.0
    high: float = 5.0


@transaction.atomic
def call_open(
    *,
    user: AbstractBaseUser,
    title: str,
    mode: str,
    deadline: datetime,
    criteria: Sequence[CriterionSpec],
    budgets: Mapping[str, float],
    decision_by: date | None = None,
    description: str = "",
    winner_limit: int | None = None,
    threshold: float | None = None,
    objective: str = Objective.SCORE,
    reviewers_per_proposal: int = 2,
    same_country_conflict: bool = False,
    prize_eur: Decimal | None = None,
    open_science: bool = False,
    months: int = 12,
    starts_on: date | None = None,
) -> Call:
    """Open a call (rules in the module doc); every value is checked and refused with its field named."""
    _manager(user)
    if mode not in CallMode.values:
        raise _refuse("mode", f"{mode!r} is not a mode run as a call ({', '.join(CallMode.values)})")
    spec = load_modes().get(mode)
    if not title.strip():
        raise _refuse("title", "a call needs a title")
    if timezone.is_naive(deadline):
        raise _refuse("deadline", "give the time zone (e.g. 2027-03-01T17:00:00+01:00)")
    if deadline <= timezone.now():
        raise _refuse("deadline", f"{deadline.isoformat()} has passed")
    cutoff = timezone.localtime(deadline).date()
    promised = spec.promised_by(submitted=cutoff, cutoff=cutoff, decision_by=decision_by)
    if promised is None:
        raise _refuse("decision_by", f"a {spec.name} call promises its decision date: give it")
    if promised < cutoff:
        raise _refuse("decision_by", f"{promised.isoformat()} is before the deadline")
    if months not in spec.months:
        raise _refuse("months", f"{spec.name} grants {', '.join(map(str, spec.months))} months")
    if objective not in Objective.values:
        raise _refuse("objective", f"{objective!r} is not one of {', '.join(Objective.values)}")
    if winner_limit is not None and winner_limit < 1:
        raise _refuse("winner_limit", "at least one winner, or no limit")
    if reviewers_per_proposal < 1:
        raise _refuse("reviewers_per_proposal", "at least one reviewer per proposal")
    if prize_eur is not None and prize_eur < 0:
        raise _refuse("prize_eur", "a prize is 0 or more euros")
    if starts_on is not None and starts_on < promised:
        raise _refuse("starts_on", f"allocations cannot start before the decision ({promised.isoformat()})")
    try:
        rubric = core_review.Rubric(tuple(core_review.Criterion(c.name, c.weight, c.low, c.high) for c in criteria))
    except InvalidInput as exc:
        raise _refuse("criteria", exc.message) from exc
    if threshold is not None:
        low = min(c.low for c in rubric.criteria)
        high = max(c.high for c in rubric.criteria)
        if not low <= threshold <= high:
            raise _refuse("threshold", f"{threshold:g} is outside the rubric's scale {low:g}..{high:g}")
    if not budgets:
        raise _refuse("budgets", "a call funds GPU-hours on at least one machine")
    machines: list[tuple[Machine, float]] = []
    for key, hours in budgets.items():
        machine = Machine.objects.filter(key=key).first()
        if machine is None:
            raise _refuse("budgets", f"unknown machine {key!r}")
        if not machine.sites.exists():
            raise _refuse("budgets", f"{key!r} has no site taking allocations yet")
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours > 0:
            raise _refuse("budgets", f"{key}: a budget is a positive number of GPU-hours")
        machines.append((machine, float(hours)))
    call = Call.objects.create(
        title=title.strip(), mode=mode, description=description, deadline=deadline, decision_by=promised,
        starts_on=starts_on, months=months, winner_limit=winner_limit, threshold=threshold, objective=objective,
        reviewers_per_proposal=reviewers_per_proposal, same_country_conflict=same_country_conflict,
        prize_eur=prize_eur, open_science=open_science, created_by=user,
    )
    for position, c in enumerate(rubric.criteria):
        Criterion.objects.create(call=call, name=c.name, weight=c.weight, low=c.low, high=c.high, position=position)
    for machine, hours in machines:
        Budget.objects.create(call=call, machine=machine, gpu_hours=hours)
    CallStateChange.objects.create(call=call, actor=user, from_state="", to_state=call.state, reason="opened")
    return call


@transaction.atomic
def call_close(*, call: Call, user: AbstractBaseUser, reason: str = "") -> Call:
    """End the call's intake; before the deadline only with a reason."""
    _manager(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    early = timezone.now() < call.deadline
    if early and not reason.strip():
        raise _refuse("reason", f"the call takes proposals until {call.deadline:%Y-%m-%d %H:%M} UTC: closing it "
                                "earlier needs a reason")
    _call_move(call, CallState.REVIEW, actor=user, reason=reason.strip() or "deadline passed")
    return call


# --- reviewers and assignment ----------------------------------------------------------------------------------------


@transaction.atomic
def reviewer_add(
    *,
    user: AbstractBaseUser,
    person: AbstractBaseUser,
    name: str,
    affiliation: str,
    country: str,
    keywords: Sequence[str],
    max_load: int = 5,
) -> Reviewer:
    """Add a person to the reviewer pool (or update their entry)."""
    _manager(user)
    country = country_code(country.strip())
    if not name.strip():
        raise _refuse("name", "a reviewer needs a name")
    if max_load < 0:
        raise _refuse("max_load", "0 or more reviews per call")
    words = [k.strip() for k in keywords if k.strip()]
    reviewer, _ = Reviewer.objects.update_or_create(
        user=person,
        defaults={"name": name.strip(), "affiliation": affiliation.strip(), "country": country, "keywords": words,
                  "max_load": max_load, "active": True},
    )
    return reviewer


def declared_conflicts(call: Call, proposals: Sequence[Application], reviewers: Sequence[Reviewer]) -> frozenset[
    tuple[str, str]
]:
    """Pairs in conflict that the names alone do not show: the reviewer is a member of the proposal's organisation
    or submitted it, or declared a conflict with it."""
    pairs = set()
    for app in proposals:
        members = set(app.organisation.members.values_list("pk", flat=True)) | {app.submitted_by_id}
        for r in reviewers:
            if r.user_id in members:
                pairs.add((str(r.pk), str(app.pk)))
    declared = ConflictDeclaration.objects.filter(application__in=list(proposals), reviewer__in=list(reviewers))
    pairs |= {(str(r), str(a)) for r, a in declared.values_list("reviewer_id", "application_id")}
    return frozenset(pairs)


@transaction.atomic
def conflict_declare(*, user: AbstractBaseUser, application: Application, reason: str) -> ConflictDeclaration:
    """A reviewer's declared conflict with a proposal of a call that is open or in review; once per proposal."""
    reviewer = Reviewer.objects.filter(user=user, active=True).first()
    if reviewer is None:
        raise Forbidden("only a reviewer in the pool declares conflicts")
    if application.call_id is None or application.call is None:
        raise _refuse("application", "only proposals to a call are peer reviewed")
    if application.call.state not in DECLARABLE_CALL_STATES:
        raise Conflict(f"application: call {application.call_id} is {application.call.state}: conflicts are declared "
                       "while it is open or in review", {"field": "application"})
    if not reason.strip():
        raise _refuse("reason", "say why, in a sentence: the call manager reads it")
    if ConflictDeclaration.objects.filter(reviewer=reviewer, application=application).exists():
        raise Conflict("application: you declared a conflict with this proposal already", {"field": "application"})
    if Review.objects.filter(assignment__reviewer=reviewer, assignment__application=application).exists():
        raise Conflict("application: you reviewed this proposal already; tell the call manager",
                       {"field": "application"})
    return ConflictDeclaration.objects.create(reviewer=reviewer, application=application, reason=reason.strip())


def conflict_rules(call: Call, proposals: Sequence[Application], reviewers: Sequence[Reviewer]) -> (
    core_review.ConflictRules
):
    return core_review.ConflictRules(
        same_country=call.same_country_conflict, declared=declared_conflicts(call, proposals, reviewers)
    )


@transaction.atomic
def call_assign(*, call: Call, user: AbstractBaseUser, load_weight: float | None = None) -> list[Assignment]:
    """Assign the call's reviewers with one integer program (core/review.assign)."""
    _manager(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.state != CallState.REVIEW:
        raise Conflict(f"call {call.pk} is {call.state}: reviewers are assigned once it is closed, before selection")
    if call.assignments.exists():
        raise Conflict(f"call {call.pk} has its reviewers assigned already")
    pending = list(call.applications.filter(state=ApplicationState.ETHICS_REVIEW).values_list("pk", flat=True))
    if pending:
        raise Conflict(f"decide the ethics reviews of proposals {', '.join(map(str, pending))} first",
                       {"proposals": pending})
    proposals = list(
        call.applications.filter(state=ApplicationState.IN_REVIEW).select_related("organisation").order_by("pk")
    )
    if not proposals:
        raise Conflict(f"call {call.pk} has no proposal in review")
    reviewers = list(Reviewer.objects.filter(active=True).order_by("pk"))
    rules = conflict_rules(call, proposals, reviewers)
    try:
        result = core_review.assign(
            [proposal_profile(a) for a in proposals], [reviewer_profile(r) for r in reviewers],
            k=call.reviewers_per_proposal, rules=rules, load_weight=load_weight,
        )
    except core_review.InfeasibleAssignment as exc:
        raise Conflict(f"reviewers cannot be assigned: {exc.message}",
                       {"proposals": [int(p) for p in exc.proposals]}) from exc
    by_app = {str(a.pk): a for a in proposals}
    by_reviewer = {str(r.pk): r for r in reviewers}
    return [
        Assignment.objects.create(call=call, application=by_app[a.proposal_id], reviewer=by_reviewer[a.reviewer_id],
                                  match=a.match, reason=a.reason, assigned_by=user)
        for a in result.assignments
    ]


@transaction.atomic
def review_submit(
    *, assignment: Assignment, user: AbstractBaseUser, marks: Mapping[str, float], comment: str = ""
) -> Review:
    """The assigned reviewer's marks on the call's rubric; once per assignment."""
    assignment = Assignment.objects.select_for_update().select_related("call", "reviewer").get(pk=assignment.pk)
    if assignment.reviewer.user_id != user.pk:
        raise NotFound(f"assignment {assignment.pk} not found")
    if assignment.call.state != CallState.REVIEW:
        raise Conflict(f"call {assignment.call_id} is {assignment.call.state}: scores are taken during review only")
    if Review.objects.filter(assignment=assignment).exists():
        raise Conflict(f"assignment {assignment.pk} has its review already; it is kept as submitted")
    app = Application.objects.select_related("organisation").get(pk=assignment.application_id)
    rules = conflict_rules(assignment.call, [app], [assignment.reviewer])
    found = core_review.conflicts(proposal_profile(app), reviewer_profile(assignment.reviewer), rules)
    if found:  # the pool entry or the organisation changed since the assignment
        raise Conflict(f"you are in conflict with this proposal ({'; '.join(found)}): a call manager reassigns it")
    rubric = rubric_of(assignment.call)
    try:
        score = core_review.score_review(
            rubric, core_review.Review(str(assignment.application_id), str(assignment.reviewer_id), dict(marks))
        )
    except InvalidInput as exc:
        raise BadRequest(f"marks: {exc.message.split(': ', 1)[-1]}", {"field": "marks"}) from exc
    return Review.objects.create(assignment=assignment, marks=dict(marks), score=score, comment=comment)


# --- ranking, selection, routing -------------------------------------------------------------------------------------


def call_ranking(call: Call) -> core_review.Ranking:
    """The proposals with at least one review, ranked with the tie-breaks explained (core/review.rank)."""
    reviews = [
        core_review.Review(str(r.assignment.application_id), str(r.assignment.reviewer_id), r.marks)
        for r in Review.objects.filter(assignment__call=call).select_related("assignment")
    ]
    reviewed = {rv.proposal_id for rv in reviews}
    candidates = [
        core_review.Candidate(str(a.pk), a.requested_gpu_hours, a.submitted_at)
        for a in call.applications.filter(state__in=(ApplicationState.IN_REVIEW, ApplicationState.SELECTED,
                                                     ApplicationState.NOT_SELECTED, ApplicationState.APPROVED))
        if str(a.pk) in reviewed
    ]
    return core_review.rank(rubric_of(call), reviews, candidates)


# Funded sets of equal value are told apart by the ranking: proposal i (position p_i of n) weighs
# 1 + TIE_EPSILON * (n - p_i) / n, a nudge far below any difference of marks a rubric can make between two sets.
TIE_EPSILON = 1e-6


def _budgets(call: Call) -> dict[str, float]:
    return {b.machine.key: b.gpu_hours for b in call.budgets.select_related("machine")}


def _result_dict(
    result: core_selection.SelectionResult,
    plain: Sequence[core_selection.Proposal],
    rules: core_selection.SelectionCall,
) -> dict[str, Any]:
    """The result with its value on the call's objective (without the ranking's tie-break weights)."""
    value = core_selection.evaluate(plain, rules, result.funded).value
    return {
        "method": result.method, "objective": result.objective.value,
        "funded": sorted(int(p) for p in result.funded), "value": value, "solver_value": result.value,
        "use": dict(result.use), "status": result.status, "gap": result.gap,
        "bound": result.bound, "proven_optimal": result.proven_optimal, "seconds": result.seconds,
        "winners": result.winners,
    }


@transaction.atomic
def call_select(*, call: Call, user: AbstractBaseUser) -> SelectionRun:
    """Rank, select (the optimum and the greedy, both kept), mark winners and route them (module doc)."""
    _manager(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.state != CallState.REVIEW:
        raise Conflict(f"call {call.pk} is {call.state}: selection runs once, after review")
    proposals = list(call.applications.filter(state=ApplicationState.IN_REVIEW).select_related(
        "organisation", "machine").order_by("pk"))
    if not proposals:
        raise Conflict(f"call {call.pk} has no proposal in review")
    missing = sorted({a.application_id for a in call.assignments.filter(review__isnull=True)})
    unassigned = [a.pk for a in proposals if not call.assignments.filter(application=a).exists()]
    if missing or unassigned:
        raise Conflict(
            f"scores are missing for proposals {', '.join(map(str, missing or unassigned))}",
            {"proposals": missing or unassigned},
        )
    ranking = call_ranking(call)
    scores = {e.proposal_id: e for e in ranking.entries}
    budgets = _budgets(call)
    ordered = sorted(proposals, key=lambda a: scores[str(a.pk)].position)
    n = len(ordered)
    plain = [core_selection.Proposal(str(a.pk), scores[str(a.pk)].score, gpu_hours_of(a)) for a in ordered]
    leaning = [
        core_selection.Proposal(p.id, p.score, p.hours, weight=1.0 + TIE_EPSILON * (n - i) / n)
        for i, p in enumerate(plain)
    ]
    rules = core_selection.SelectionCall(budgets=budgets, winner_limit=call.winner_limit, threshold=call.threshold,
                                         objective=core_selection.Objective(call.objective))
    comparison = core_selection.compare(leaning, rules)
    funded = set(comparison.optimum.funded)
    greedy_funded = set(comparison.greedy.funded)
    for app in proposals:
        entry = scores[str(app.pk)]
        head = f"Selection: rank {entry.position} of {len(ranking.entries)}, score {entry.score:.3f}"
        if str(app.pk) in funded:
            app.reasons = [*app.reasons, f"{head}: funded by the selection that maximises the call's objective."]
            application_select(application=app, user=user, selected=True, reason="funded by the call's selection")
            continue
        if call.threshold is not None and entry.score < call.threshold:
            why = f"under the call's score threshold {call.threshold:g}"
        else:
            why = "not in the funded set that maximises the call's objective within its budgets and winner limit"
            if str(app.pk) in greedy_funded:
                why += " (the rank-order greedy would have funded it, for a lower total)"
        app.reasons = [*app.reasons, f"{head}: not selected, {why}."]
        application_select(application=app, user=user, selected=False, reason=why)
    winners = [a for a in proposals if str(a.pk) in funded]
    _route_winners(call, winners, actor=user)
    run = SelectionRun.objects.create(
        call=call, objective=call.objective, run_by=user, funded=sorted(int(p) for p in funded),
        optimum=_result_dict(comparison.optimum, plain, rules), greedy=_result_dict(comparison.greedy, plain, rules),
        ranking={
            "rules": list(ranking.rules),
            "entries": [
                {"position": e.position, "application": int(e.proposal_id), "score": e.score,
                 "criteria": dict(e.criteria), "reviews": e.reviews, "gpu_hours": e.gpu_hours,
                 "decided_by": e.decided_by, "explanation": e.explanation}
                for e in ranking.entries
            ],
        },
    )
    _call_move(call, CallState.SELECTED, actor=user,
               reason=f"{len(funded)} winners: total {run.optimum['value']:.6g} against the greedy's "
                      f"{run.greedy['value']:.6g}")
    return run


def _route_winners(call: Call, winners: Sequence[Application], *, actor: AbstractBaseUser) -> None:
    """Route the winners within the call's budgets (one assignment under capacities); a winner on several machines
    goes where it asked."""
    budgets = _budgets(call)
    machines = {m.key: m for m in Machine.objects.filter(key__in=budgets)}
    left = dict(budgets)
    single: list[Application] = []
    for app in winners:
        lines = gpu_hours_of(app)
        if len(lines) == 1:
            single.append(app)
            continue
        for key, hours in lines.items():
            left[key] -= hours
        routes_record(app, [(machines[k], h, None, [f"funded on {k} as asked, by the call's budget there"])
                            for k, h in lines.items()], method=RouteMethod.REQUESTED, actor=actor)
    projects = [project_of(a, allowed=budgets) for a in single]
    targets = [target_of(machines[k], max(left[k], 0.0)) for k in budgets]
    result = core_routing.route(projects, targets)
    for app in single:
        found = next((r for r in result.routes if r.project == str(app.pk)), None)
        if found is None:  # cannot happen (module doc); kept as asked, with the reason
            reasons = ["kept on the machine asked for: "
                       + "; ".join(result.unrouted.get(str(app.pk), ("no routing found",)))]
            routes_record(app, [(app.machine, app.requested_gpu_hours, None, reasons)],
                          method=RouteMethod.REQUESTED, actor=actor)
            continue
        routes_record(app, [(machines[found.machine], app.requested_gpu_hours, found.fit, list(found.reasons))],
                      method=RouteMethod.OPTIMISER, actor=actor)


def call_capacity_left(call: Call, *, excluding: Application | None = None) -> dict[str, float]:
    """The call's budget per machine less the current routes of its winners (one application left out)."""
    left = _budgets(call)
    routes = Route.objects.filter(application__call=call, current=True).select_related("machine")
    if excluding is not None:
        routes = routes.exclude(application=excluding)
    for r in routes:
        left[r.machine.key] = left.get(r.machine.key, 0.0) - r.gpu_hours
    return left


@transaction.atomic
def route_override(*, application: Application, user: AbstractBaseUser, machine_key: str, reason: str) -> Route:
    """Staff send a winner to another machine of its call, with the reason recorded; the old route is kept."""
    _manager(user)
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("call", "organisation", "machine")
        .get(pk=application.pk)
    )
    if not reason.strip():
        raise _refuse("reason", "an override needs its reason")
    call = application.call
    if call is None or application.state != ApplicationState.SELECTED or call.state != CallState.SELECTED:
        raise Conflict(f"application {application.pk} is not a winner waiting for acceptance")
    if len(gpu_hours_of(application)) > 1:
        raise Conflict(f"application {application.pk} asked for several machines: it is funded where it asked")
    left = call_capacity_left(call, excluding=application)
    if machine_key not in left:
        raise _refuse("machine", f"call {call.pk} has no budget on {machine_key!r} (machines: {', '.join(left)})")
    machine = Machine.objects.get(key=machine_key)
    project = project_of(application, allowed=left)
    targets = [target_of(Machine.objects.get(key=k), max(v, 0.0)) for k, v in left.items()]
    evaluation = core_routing.evaluate([project], targets, {project.id: machine_key})
    if not evaluation.feasible:
        raise _refuse("machine", "; ".join(evaluation.violations))
    pair = core_routing.fit(project, next(t for t in targets if t.machine == machine_key))
    previous = ", ".join(application.routes.filter(current=True).values_list("machine__key", flat=True))
    application.reasons = [
        *application.reasons,
        f"Routing overridden by {user.get_username()} from {previous or 'none'} to {machine_key}: {reason.strip()}",
    ]
    application.save(update_fields=["reasons"])
    (route,) = routes_record(application, [(machine, application.requested_gpu_hours, pair.fit, list(pair.reasons))],
                             method=RouteMethod.OVERRIDE, actor=user, reason=reason.strip())
    return route


@transaction.atomic
def call_accept(*, call: Call, user: AbstractBaseUser, reason: str = "") -> list[Allocation]:
    """Accept every winner: allocations on their routed machines from the call's start date, and provisioning
    orders for the sites' agents."""
    _manager(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    check_call_transition(call.state, CallState.CLOSED)
    starts = call.starts_on or timezone.localdate()
    created: list[Allocation] = []
    winners = call.applications.filter(state=ApplicationState.SELECTED).order_by("pk")
    for app in winners:
        created += application_accept(application=app, user=user, reason=reason.strip() or "winner of the call",
                                      starts_on=starts)
    _call_move(call, CallState.CLOSED, actor=user, reason=reason.strip() or f"{len(created)} allocations created")
    return created
