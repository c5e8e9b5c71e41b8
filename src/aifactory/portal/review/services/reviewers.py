"""The reviewer pool and the conflicts reviewers declare."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from aifactory.portal.access.models import Application
from aifactory.portal.common.errors import Conflict, Forbidden
from aifactory.portal.organisations.selectors import country_code
from aifactory.portal.review.choices import (
    DECLARABLE_CALL_STATES,
)
from aifactory.portal.review.models import (
    ConflictDeclaration,
    Review,
    Reviewer,
)
from aifactory.portal.review.services.base import manager_only, refuse


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
    manager_only(user)
    country = country_code(country.strip())
    if not name.strip():
        raise refuse("name", "a reviewer needs a name")
    if max_load < 0:
        raise refuse("max_load", "0 or more reviews per call")
    words = [k.strip() for k in keywords if k.strip()]
    reviewer, _ = Reviewer.objects.update_or_create(
        user=person,
        defaults={"name": name.strip(), "affiliation": affiliation.strip(), "country": country, "keywords": words,
                  "max_load": max_load, "active": True},
    )
    return reviewer


@transaction.atomic
def conflict_declare(*, user: AbstractBaseUser, application: Application, reason: str) -> ConflictDeclaration:
    """A reviewer's declared conflict with a proposal of a call that is open or in review; once per proposal."""
    reviewer = Reviewer.objects.filter(user=user, active=True).first()
    if reviewer is None:
        raise Forbidden("only a reviewer in the pool declares conflicts")
    if application.call_id is None or application.call is None:
        raise refuse("application", "only proposals to a call are peer reviewed")
    if application.call.state not in DECLARABLE_CALL_STATES:
        raise Conflict(f"application: call {application.call_id} is {application.call.state}: conflicts are declared "
                       "while it is open or in review", {"field": "application"})
    if not reason.strip():
        raise refuse("reason", "say why, in a sentence: the call manager reads it")
    if ConflictDeclaration.objects.filter(reviewer=reviewer, application=application).exists():
        raise Conflict("application: you declared a conflict with this proposal already", {"field": "application"})
    if Review.objects.filter(assignment__reviewer=reviewer, assignment__application=application).exists():
        raise Conflict("application: you reviewed this proposal already; tell the call manager",
                       {"field": "application"})
    return ConflictDeclaration.objects.create(reviewer=reviewer, application=application, reason=reason.strip())
