"""Assignment of reviewers to a call's proposals, and the reviews they submit."""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from aifactory.core import review as core_review
from aifactory.core.exceptions import InvalidInput
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.access.models import Application
from aifactory.portal.common.errors import BadRequest, Conflict, NotFound
from aifactory.portal.review.choices import (
    CallState,
)
from aifactory.portal.review.models import (
    Assignment,
    Call,
    Review,
    Reviewer,
)
from aifactory.portal.review.selectors import (
    conflict_rules,
    proposal_profile,
    reviewer_profile,
    rubric_of,
)
from aifactory.portal.review.services.base import manager_only


@transaction.atomic
def call_assign(*, call: Call, user: AbstractBaseUser, load_weight: float | None = None) -> list[Assignment]:
    """Assign the call's reviewers with one integer program (core/review.assign)."""
    manager_only(user)
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
