"""Reads of the review context. Everyone signed in sees a call's public terms (rubric, budgets, deadline); a call
manager sees its proposals, assignments, scores and selection; a reviewer sees only the proposals assigned to them
(never one in conflict: the assignment keeps those apart)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from aifactory.core import review as core_review
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.access.models import Application, Route
from aifactory.portal.common.errors import Forbidden, NotFound
from aifactory.portal.organisations.selectors import is_call_manager
from aifactory.portal.review.choices import DECLARABLE_CALL_STATES
from aifactory.portal.review.models import Assignment, Call, ConflictDeclaration, Review, Reviewer, SelectionRun


def proposal_profile(app: Application) -> core_review.ProposalProfile:
    """A proposal as the core's conflict and assignment rules see it."""
    return core_review.ProposalProfile(
        id=str(app.pk), keywords=frozenset(app.keywords), organisation=app.organisation.name,
        people=frozenset(app.people), country=app.organisation.country,
    )


def reviewer_profile(r: Reviewer) -> core_review.Reviewer:
    """A reviewer of the pool as the core's conflict and assignment rules see them."""
    return core_review.Reviewer(
        id=str(r.pk), name=r.name, organisation=r.affiliation, country=r.country, keywords=frozenset(r.keywords),
        max_load=r.max_load,
    )


def calls_visible(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Call]:
    if not user.is_authenticated:
        return Call.objects.none()
    return Call.objects.prefetch_related("criteria", "budgets__machine").annotate(
        proposals=Count("applications", distinct=True)
    )


def call_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Call:
    call = calls_visible(user).filter(pk=pk).first()
    if call is None:
        raise NotFound(f"call {pk} not found")
    return call


def call_managed(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Call:
    """A call, for its managers only."""
    call = call_get(user=user, pk=pk)
    if not is_call_manager(user):
        raise Forbidden("only call managers see a call's proposals, reviews and selection")
    return call


def reviewer_of(user: AbstractBaseUser | AnonymousUser) -> Reviewer | None:
    if not user.is_authenticated:
        return None
    return Reviewer.objects.filter(user=user).first()


def assignments_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Assignment]:
    """The reviews assigned to the person."""
    qs = Assignment.objects.select_related("call", "application", "application__machine", "reviewer").prefetch_related(
        "call__criteria"
    )
    if not user.is_authenticated:
        return qs.none()
    return qs.filter(reviewer__user=user)


def assignment_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Assignment:
    found = assignments_of(user).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"assignment {pk} not found")
    return found


def latest_selection(call: Call) -> SelectionRun | None:
    return call.selections.order_by("-run_at", "-pk").first()


def call_summary(call: Call) -> dict[str, Any]:
    """Counts a call manager's page and the API show."""
    apps = call.applications.all()
    return {
        "proposals": apps.count(),
        "by_state": {row["state"]: row["n"] for row in apps.values("state").annotate(n=Count("pk"))},
        "assignments": call.assignments.count(),
        "reviews": call.assignments.filter(review__isnull=False).count(),
        "missing_reviews": call.assignments.filter(Q(review__isnull=True)).count(),
    }


# --- conflicts of interest, as a reviewer sees them -------------------------------------------------------------------


def proposals_open_to_declare() -> QuerySet[Application]:
    """Proposals of calls that are open or in review: those a reviewer may declare a conflict with."""
    return Application.objects.select_related("organisation", "call").filter(
        call__state__in=[s.value for s in DECLARABLE_CALL_STATES]
    ).order_by("call_id", "pk")


def declarations_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ConflictDeclaration]:
    if not user.is_authenticated:
        return ConflictDeclaration.objects.none()
    return ConflictDeclaration.objects.select_related("application", "application__call",
                                                      "application__organisation").filter(reviewer__user=user)


def conflicts_found(reviewer: Reviewer) -> list[tuple[Application, tuple[str, ...]]]:
    """The proposals of open calls and calls in review that the conflict rules keep the reviewer away from (their
    organisation, their name in the proposal, their country where the call says so, their membership), with why."""
    found = []
    me = reviewer_profile(reviewer)
    for app in proposals_open_to_declare().prefetch_related("organisation__members"):
        rules = core_review.ConflictRules(same_country=bool(app.call and app.call.same_country_conflict))
        reasons = list(core_review.conflicts(proposal_profile(app), me, rules))
        members = {m.pk for m in app.organisation.members.all()} | {app.submitted_by_id}
        if reviewer.user_id in members:
            reasons.append("member of the proposing organisation")
        if reasons:
            found.append((app, tuple(reasons)))
    return found


def declarations_of_call(call: Call) -> QuerySet[ConflictDeclaration]:
    """The conflicts reviewers declared with the call's proposals, for its managers."""
    return ConflictDeclaration.objects.select_related("reviewer", "application").filter(application__call=call)


# --- reads the writes share: the rubric, the ranking, the budgets, the conflicts ---------------------------------


def rubric_of(call: Call) -> core_review.Rubric:
    return core_review.Rubric(
        tuple(core_review.Criterion(c.name, c.weight, c.low, c.high) for c in call.criteria.all())
    )


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


def ranking_out(ranking: core_review.Ranking) -> dict[str, Any]:
    """The ranking as the API answers it and a selection run keeps it: the tie-break rules, then each entry."""
    return {
        "rules": list(ranking.rules),
        "entries": [
            {"position": e.position, "application": int(e.proposal_id), "score": e.score, "criteria": dict(e.criteria),
             "reviews": e.reviews, "gpu_hours": e.gpu_hours, "decided_by": e.decided_by,
             "explanation": e.explanation}
            for e in ranking.entries
        ],
    }


def routes_of_call(call: Call) -> QuerySet[Route]:
    """Every route of the call's winners, the replaced ones included, by application then when decided."""
    return Route.objects.filter(application__call=call).select_related("application", "machine", "decided_by").order_by(
        "application_id", "decided_at", "pk")


def call_budgets(call: Call) -> dict[str, float]:
    return {b.machine.key: b.gpu_hours for b in call.budgets.select_related("machine")}


def call_capacity_left(call: Call, *, excluding: Application | None = None) -> dict[str, float]:
    """The call's budget per machine less the current routes of its winners (one application left out)."""
    left = call_budgets(call)
    routes = Route.objects.filter(application__call=call, current=True).select_related("machine")
    if excluding is not None:
        routes = routes.exclude(application=excluding)
    for r in routes:
        left[r.machine.key] = left.get(r.machine.key, 0.0) - r.gpu_hours
    return left


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


def conflict_rules(call: Call, proposals: Sequence[Application], reviewers: Sequence[Reviewer]) -> (
    core_review.ConflictRules
):
    return core_review.ConflictRules(
        same_country=call.same_country_conflict, declared=declared_conflicts(call, proposals, reviewers)
    )
