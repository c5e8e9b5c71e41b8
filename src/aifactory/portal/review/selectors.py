"""Reads of the review context. Everyone signed in sees a call's public terms (rubric, budgets, deadline); a call
manager sees its proposals, assignments, scores and selection; a reviewer sees only the proposals assigned to them
(never one in conflict: the assignment keeps those apart)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from aifactory.core import review as core_review
from aifactory.portal.access.models import Application
from aifactory.portal.common.errors import Forbidden, NotFound
from aifactory.portal.organisations.selectors import is_call_manager
from aifactory.portal.review.choices import DECLARABLE_CALL_STATES
from aifactory.portal.review.models import Assignment, Call, ConflictDeclaration, Reviewer, SelectionRun


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
