"""Reads of the review context. Everyone signed in sees a call's public terms (rubric, budgets, deadline); a call
manager sees its proposals, assignments, scores and selection; a reviewer sees only the proposals assigned to them
(never one in conflict: the assignment keeps those apart)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from aifactory.portal.common.errors import Forbidden, NotFound
from aifactory.portal.organisations.selectors import is_call_manager
from aifactory.portal.review.models import Assignment, Call, Reviewer, SelectionRun


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
