"""The call state machine, every pair; a reviewer who became conflicted after the assignment cannot score."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.access.services import application_submit
from aifactory.portal.common.errors import Conflict
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.choices import CALL_TRANSITIONS, CallState, check_call_transition
from aifactory.portal.review.models import Review
from aifactory.portal.review.services import (
    CriterionSpec,
    call_assign,
    call_close,
    call_open,
    review_submit,
    reviewer_add,
)
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("current", "target"), list(itertools.product(CallState, CallState)), ids=lambda s: s.value)
def test_every_call_transition(current, target):
    if target in CALL_TRANSITIONS[current]:
        check_call_transition(current.value, target)
    else:
        with pytest.raises(InvalidTransition):
            check_call_transition(current.value, target)


def test_a_closed_call_stays_closed():
    assert not CALL_TRANSITIONS[CallState.CLOSED]


def test_a_reviewer_who_joined_the_applicant_cannot_score(organisation, user, site):
    manager = UserFactory(username="maria")
    role_grant(user=manager, role="call_manager", granted_by=None)
    call = call_open(user=manager, title="Challenge", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1), decision_by=timezone.localdate() + timedelta(days=9),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 100}, reviewers_per_proposal=1)
    application_submit(organisation=organisation, user=user, title="Entry", machine_key="leonardo", params=1e8,
                       tokens=2e9, gpus=2, requested_gpu_hours=3, months=12, civil_use=True, mode="grand_challenge",
                       call=call, open_science=True)
    person = UserFactory(username="rev")
    reviewer_add(user=manager, person=person, name="Rev", affiliation="Elsewhere", country="SE", keywords=[])
    call_close(call=call, user=manager, reason="test")
    (assignment,) = call_assign(call=call, user=manager)
    organisation.members.add(person)
    with pytest.raises(Conflict, match="conflict with this proposal"):
        review_submit(assignment=assignment, user=person, marks={"quality": 4})
    assert not Review.objects.exists()
