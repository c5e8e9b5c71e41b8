"""The call state machine, every pair; a reviewer who became conflicted after the assignment cannot score."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.access.services import application_submit
from aifactory.portal.common.errors import Conflict, refusal_of
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.choices import CALL_TRANSITIONS, CallState, check_call_transition
from aifactory.portal.review.models import Call, CallStateChange, Review
from aifactory.portal.review.services import (
    CriterionSpec,
    call_accept,
    call_assign,
    call_close,
    call_open,
    call_select,
    review_submit,
    reviewer_add,
)
from tests.conftest import UserFactory
from tests.state_edges import CALL_EDGES, allowed

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("current", "target"), list(itertools.product(CallState, CallState)), ids=lambda s: s.value)
def test_every_call_transition(current, target):
    if allowed(CALL_EDGES, current, target):
        check_call_transition(current.value, target)
    else:
        with pytest.raises(InvalidTransition):
            check_call_transition(current.value, target)


def test_the_table_holds_exactly_the_expected_edges():
    assert CALL_TRANSITIONS.edges() == CALL_EDGES


def test_a_closed_call_stays_closed():
    assert CALL_TRANSITIONS.final(CallState.CLOSED)


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


def _call_in(state: CallState, manager):
    call = call_open(user=manager, title="Walk", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1), decision_by=timezone.localdate() + timedelta(days=9),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 100}, reviewers_per_proposal=1)
    Call.objects.filter(pk=call.pk).update(state=state.value)  # the walk's starting point, set directly
    call.refresh_from_db()
    return call


MOVES = {  # each move of a call and the one service that makes it
    CallState.REVIEW: lambda call, manager: call_close(call=call, user=manager, reason="walk"),
    CallState.SELECTED: lambda call, manager: call_select(call=call, user=manager),
    CallState.CLOSED: lambda call, manager: call_accept(call=call, user=manager),
}


def test_a_call_walks_every_expected_edge_through_its_services(organisation, user, site):
    """open -> review -> selected -> closed, each move by its own service and recorded."""
    manager = UserFactory(username="walker")
    role_grant(user=manager, role="call_manager", granted_by=None)
    call = _call_in(CallState.OPEN, manager)
    application_submit(organisation=organisation, user=user, title="Entry", machine_key="leonardo", params=1e8,
                       tokens=2e9, gpus=2, requested_gpu_hours=3, months=12, civil_use=True, mode="grand_challenge",
                       call=call, open_science=True)
    person = UserFactory(username="rev")
    reviewer_add(user=manager, person=person, name="Rev", affiliation="Elsewhere", country="SE", keywords=[])
    MOVES[CallState.REVIEW](call, manager)
    (assignment,) = call_assign(call=call, user=manager)
    review_submit(assignment=assignment, user=person, marks={"quality": 4})
    MOVES[CallState.SELECTED](call, manager)
    MOVES[CallState.CLOSED](call, manager)
    walked = [(c.from_state, c.to_state) for c in CallStateChange.objects.filter(call=call)]
    assert walked[0] == ("", "open")  # the opening is recorded too
    assert set(walked[1:]) == CALL_EDGES


@pytest.mark.parametrize("current", list(CallState), ids=lambda s: s.value)
@pytest.mark.parametrize("target", list(MOVES), ids=lambda s: s.value)
def test_every_other_call_move_is_refused_by_its_service(site, current, target):
    """From a state without the edge, each service refuses with 409 and nothing changes."""
    if allowed(CALL_EDGES, current, target):
        pytest.skip("an expected edge: walked above")
    manager = UserFactory(username="walker")
    role_grant(user=manager, role="call_manager", granted_by=None)
    call = _call_in(current, manager)
    before = CallStateChange.objects.filter(call=call).count()
    with pytest.raises((Conflict, InvalidTransition)) as caught:
        MOVES[target](call, manager)
    assert refusal_of(caught.value).status == 409
    call.refresh_from_db()
    assert call.state == current.value
    assert CallStateChange.objects.filter(call=call).count() == before
