"""An application walked edge by edge through its services (tests/state_edges.py): each expected move made by the
one service that makes it, and recorded (who, from, to, why); every other pair refused by those services, with the
application and its history unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.access.models import Application, StateChange
from aifactory.portal.access.services import (
    application_accept,
    application_decide,
    application_select,
    application_submit,
    routes_record,
)
from aifactory.portal.common.errors import Conflict, refusal_of
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.services import CriterionSpec, call_open
from tests.conftest import ApplicationFactory, OrganisationFactory, UserFactory
from tests.state_edges import APPLICATION_EDGES, allowed

pytestmark = pytest.mark.django_db

S = ApplicationState
CONCERN = {"flags": [{"code": "hours", "message": "the request is short of the plan", "blocking": False}]}
"""An assessment with a concern that is not blocking: a Fast Lane application with it goes to technical review."""

@pytest.fixture
def manager(db: None) -> Any:
    person = UserFactory(username="maria")
    role_grant(user=person, role="call_manager", granted_by=None)
    return person


@pytest.fixture
def call(manager, site) -> Any:
    return call_open(user=manager, title="Grand Challenge", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1), decision_by=timezone.localdate() + timedelta(days=30),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 10_000})


def submitted(organisation, user, **change: Any) -> Application:
    fields = {"title": "A small model", "machine_key": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 2,
              "requested_gpu_hours": 120.0, "months": 2, "civil_use": True}
    return application_submit(organisation=organisation, user=user, **{**fields, **change})


def standing(state: S, *, organisation, user, mode: str = "playground", call=None, **fields: Any) -> Application:
    """An application of `mode` standing in `state`, routed to the machine it asked for: the walk's starting point,
    set directly (a route is what acceptance needs besides the state, so that only the state can refuse it)."""
    app = ApplicationFactory(organisation=organisation, submitted_by=user, mode=mode, call=call, state=state.value,
                             **fields)
    routes_record(app, [(app.machine, app.requested_gpu_hours, None, ["walk"])], method="requested", actor=None)
    return app


def moves(app: Application) -> list[tuple[str, str]]:
    return list(StateChange.objects.filter(application=app).values_list("from_state", "to_state"))


# --- from submitted: the submission's own moves -----------------------------------------------------------------------


SUBMISSIONS: dict[S, Callable[..., dict[str, Any]]] = {
    S.APPROVED: lambda call: {},
    S.REFUSED: lambda call: {"practices": ["social_scoring"]},
    S.ETHICS_REVIEW: lambda call: {"areas": ["employment"]},
    S.TECHNICAL_REVIEW: lambda call: {"mode": "fast_lane", "requested_gpu_hours": 400.0, "months": 1},
    S.IN_REVIEW: lambda call: {"mode": "grand_challenge", "call": call, "requested_gpu_hours": 3.0, "months": 12,
                               "open_science": True, "keywords": ["llm"]},
}


@pytest.mark.parametrize("target", list(SUBMISSIONS), ids=lambda s: s.value)
def test_each_move_from_submitted_is_the_submissions(organisation, user, call, target):
    app = submitted(organisation, user, **SUBMISSIONS[target](call))
    assert app.state == target.value
    first, second = StateChange.objects.filter(application=app)
    assert (first.from_state, first.to_state, first.actor) == ("", "submitted", user)
    assert (second.from_state, second.to_state, second.actor) == ("submitted", target.value, None)
    assert second.reason


# --- the later moves, each by its service --------------------------------------------------------------------------

# (from, to) -> (mode and fields of the application, the service call); the decider is the call manager.
LATER: dict[tuple[S, S], tuple[dict[str, Any], Callable[[Application, Any], object]]] = {
    (S.ETHICS_REVIEW, S.APPROVED): ({}, lambda app, m: application_decide(
        application=app, user=m, approve=True, reason="safeguards in place")),
    (S.ETHICS_REVIEW, S.REFUSED): ({}, lambda app, m: application_decide(
        application=app, user=m, approve=False, reason="no safeguards")),
    (S.ETHICS_REVIEW, S.TECHNICAL_REVIEW): ({"mode": "fast_lane", "assessment": CONCERN}, lambda app, m:
                                            application_decide(application=app, user=m, approve=True, reason="ok")),
    (S.ETHICS_REVIEW, S.IN_REVIEW): ({"mode": "grand_challenge", "call": True}, lambda app, m: application_decide(
        application=app, user=m, approve=True, reason="ok")),
    (S.TECHNICAL_REVIEW, S.APPROVED): ({"mode": "fast_lane"}, lambda app, m: application_decide(
        application=app, user=m, approve=True, reason="the plan holds")),
    (S.TECHNICAL_REVIEW, S.REFUSED): ({"mode": "fast_lane"}, lambda app, m: application_decide(
        application=app, user=m, approve=False, reason="the run cannot finish")),
    (S.TECHNICAL_REVIEW, S.IN_REVIEW): ({"mode": "grand_challenge", "call": True}, lambda app, m: application_decide(
        application=app, user=m, approve=True, reason="feasible")),
    (S.IN_REVIEW, S.SELECTED): ({"mode": "grand_challenge", "call": True}, lambda app, m: application_select(
        application=app, user=m, selected=True, reason="funded")),
    (S.IN_REVIEW, S.NOT_SELECTED): ({"mode": "grand_challenge", "call": True}, lambda app, m: application_select(
        application=app, user=m, selected=False, reason="below the line")),
    (S.SELECTED, S.APPROVED): ({"mode": "grand_challenge", "call": True}, lambda app, m: application_accept(
        application=app, user=m, reason="winner of the call")),
}


def test_every_expected_edge_has_its_service():
    walked = {(a.value, b.value) for a, b in LATER} | {("submitted", t.value) for t in SUBMISSIONS}
    assert walked == APPLICATION_EDGES


def _standing_for(edge: tuple[S, S], state: S, *, organisation, user, call) -> Application:
    fields, _ = LATER[edge]
    fields = {**fields}
    if fields.pop("call", False):
        fields["call"] = call
    return standing(state, organisation=organisation, user=user, **fields)


@pytest.mark.parametrize("edge", list(LATER), ids=lambda e: f"{e[0].value}-{e[1].value}")
def test_each_later_move_is_made_and_recorded_by_its_service(organisation, user, manager, call, edge):
    current, target = edge
    app = _standing_for(edge, current, organisation=organisation, user=user, call=call)
    LATER[edge][1](app, manager)
    app.refresh_from_db()
    assert app.state == target.value
    (change,) = StateChange.objects.filter(application=app)
    assert (change.from_state, change.to_state, change.actor) == (current.value, target.value, manager)
    assert change.reason


@pytest.mark.parametrize("current", list(S), ids=lambda s: s.value)
@pytest.mark.parametrize("edge", list(LATER), ids=lambda e: f"{e[0].value}-{e[1].value}")
def test_every_service_from_every_state_moves_on_an_edge_or_refuses(organisation, user, manager, call, edge,
                                                                     current):
    """Each service, called from every state: it either makes an expected move (recorded, once) or refuses (409)
    and changes nothing; so no pair off the table is ever made."""
    app = _standing_for(edge, current, organisation=organisation, user=user, call=call)
    try:
        LATER[edge][1](app, manager)
    except (InvalidTransition, Conflict) as exc:
        assert refusal_of(exc).status == 409
        app.refresh_from_db()
        assert app.state == current.value
        assert moves(app) == []
        assert current != edge[0]  # the service's own edge is never refused
        return
    app.refresh_from_db()
    assert allowed(APPLICATION_EDGES, current, app.state), (current.value, app.state)
    assert moves(app) == [(current.value, app.state)]


def test_a_refused_application_stays_refused(user, site, manager):
    """Refused is final: no service moves it, and its history stays as it was."""
    org = OrganisationFactory(country="CN", members=[user])
    refused = submitted(org, user)
    assert moves(refused) == [("", "submitted"), ("submitted", "refused")]
    for edge in LATER:
        with pytest.raises((InvalidTransition, Conflict)):
            LATER[edge][1](refused, manager)
    assert Application.objects.get(pk=refused.pk).state == "refused"
    assert moves(refused) == [("", "submitted"), ("submitted", "refused")]
