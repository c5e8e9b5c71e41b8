"""Selection of a call's winners, their routing within the call's budgets, overrides and acceptance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from aifactory.core import routing as core_routing
from aifactory.core import selection as core_selection
from aifactory.portal.access.choices import ApplicationState, RouteMethod
from aifactory.portal.access.models import Application, Route
from aifactory.portal.access.routing import gpu_hours_of, project_of, target_of
from aifactory.portal.access.services import application_accept, application_select, routes_record
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.errors import Conflict
from aifactory.portal.federation.models import Machine
from aifactory.portal.review.choices import (
    CallState,
    check_call_transition,
)
from aifactory.portal.review.models import (
    Call,
    SelectionRun,
)
from aifactory.portal.review.selectors import (
    call_budgets,
    call_capacity_left,
    call_ranking,
    ranking_out,
)
from aifactory.portal.review.services.base import manager_only, refuse
from aifactory.portal.review.services.calls import call_move

# Funded sets of equal value are told apart by the ranking: proposal i (position p_i of n) weighs
# 1 + TIE_EPSILON * (n - p_i) / n, a nudge far below any difference of marks a rubric can make between two sets.
TIE_EPSILON = 1e-6


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
    manager_only(user)
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
    budgets = call_budgets(call)
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
        ranking=ranking_out(ranking),
    )
    call_move(call, CallState.SELECTED, actor=user,
               reason=f"{len(funded)} winners: total {run.optimum['value']:.6g} against the greedy's "
                      f"{run.greedy['value']:.6g}")
    return run


def _route_winners(call: Call, winners: Sequence[Application], *, actor: AbstractBaseUser) -> None:
    """Route the winners within the call's budgets (one assignment under capacities); a winner on several machines
    goes where it asked."""
    budgets = call_budgets(call)
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


@transaction.atomic
def route_override(*, application: Application, user: AbstractBaseUser, machine_key: str, reason: str) -> Route:
    """Staff send a winner to another machine of its call, with the reason recorded; the old route is kept."""
    manager_only(user)
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("call", "organisation", "machine")
        .get(pk=application.pk)
    )
    if not reason.strip():
        raise refuse("reason", "an override needs its reason")
    call = application.call
    if call is None or application.state != ApplicationState.SELECTED or call.state != CallState.SELECTED:
        raise Conflict(f"application {application.pk} is not a winner waiting for acceptance")
    if len(gpu_hours_of(application)) > 1:
        raise Conflict(f"application {application.pk} asked for several machines: it is funded where it asked")
    left = call_capacity_left(call, excluding=application)
    if machine_key not in left:
        raise refuse("machine", f"call {call.pk} has no budget on {machine_key!r} (machines: {', '.join(left)})")
    machine = Machine.objects.get(key=machine_key)
    project = project_of(application, allowed=left)
    targets = [target_of(Machine.objects.get(key=k), max(v, 0.0)) for k, v in left.items()]
    evaluation = core_routing.evaluate([project], targets, {project.id: machine_key})
    if not evaluation.feasible:
        raise refuse("machine", "; ".join(evaluation.violations))
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
    manager_only(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    check_call_transition(call.state, CallState.CLOSED)
    starts = call.starts_on or timezone.localdate()
    created: list[Allocation] = []
    winners = call.applications.filter(state=ApplicationState.SELECTED).order_by("pk")
    for app in winners:
        created += application_accept(application=app, user=user, reason=reason.strip() or "winner of the call",
                                      starts_on=starts)
    call_move(call, CallState.CLOSED, actor=user, reason=reason.strip() or f"{len(created)} allocations created")
    return created
