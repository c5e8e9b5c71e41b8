"""The access services: the gate, the decisions, the audit log, and the application state machine."""

from __future__ import annotations

import itertools

import pytest

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.access.choices import APPLICATION_TRANSITIONS, ApplicationState, check_application_transition
from aifactory.portal.access.models import Application, StateChange
from aifactory.portal.access.services import application_decide, application_submit
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.common.errors import BadRequest
from tests.conftest import OrganisationFactory, UserFactory
from tests.state_edges import APPLICATION_EDGES, allowed

pytestmark = pytest.mark.django_db

STATES = list(ApplicationState)


def submit(organisation, user, **change):
    fields = {
        "title": "A small model", "machine_key": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 2,
        "requested_gpu_hours": 120.0, "months": 2, "civil_use": True, "practices": (), "areas": (),
    }
    return application_submit(organisation=organisation, user=user, **{**fields, **change})


def moves(application):
    return list(application.history.values_list("from_state", "to_state"))


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATES, STATES)), ids=lambda s: s.value)
def test_every_application_transition(current, target):
    if allowed(APPLICATION_EDGES, current, target):
        check_application_transition(current.value, target)
    else:
        with pytest.raises(InvalidTransition) as caught:
            check_application_transition(current.value, target)
        assert (caught.value.current, caught.value.target) == (current.value, target.value)


def test_the_table_holds_exactly_the_expected_edges():
    assert APPLICATION_TRANSITIONS.edges() == APPLICATION_EDGES


def test_decided_applications_stay_decided():
    for state in (ApplicationState.APPROVED, ApplicationState.REFUSED, ApplicationState.NOT_SELECTED):
        assert APPLICATION_TRANSITIONS.final(state)


def test_eligible_and_clean_is_approved_with_one_order_per_site(organisation, user, site, make_site):
    second = make_site(name="leonardo-b")
    make_site(name="lumi-a", machine_key="lumi")
    app = submit(organisation, user)
    assert app.state == "approved"
    assert app.decided_at is not None
    allocation = Allocation.objects.get(application=app)
    assert allocation.gpu_hours == 120.0
    assert allocation.machine.key == "leonardo"
    assert (allocation.ends_on - allocation.starts_on).days in range(59, 63)  # two months
    sites = sorted(ProvisioningOrder.objects.filter(allocation=allocation).values_list("site__name", flat=True))
    assert sites == sorted([site.site.name, second.site.name])
    assert moves(app) == [("", "submitted"), ("submitted", "approved")]
    assert any("approved" in r for r in app.reasons)


def test_established_outside_is_refused_and_keeps_everything_sent(user, site):
    org = OrganisationFactory(country="CN", members=[user])
    app = submit(org, user, title="Kept title", params=3e8, tokens=6e9, gpus=4, requested_gpu_hours=77.5, months=1,
                 areas=["education"])
    stored = Application.objects.get(pk=app.pk)
    assert stored.state == "refused"
    assert any("China" in r and "not eligible" in r for r in stored.reasons), stored.reasons
    assert (stored.title, stored.params, stored.tokens, stored.gpus, stored.requested_gpu_hours, stored.months) == (
        "Kept title", 3e8, 6e9, 4, 77.5, 1)
    assert stored.areas == ["education"]
    assert stored.plan["plan"]["params"] == 3e8
    assert stored.submitted_by == user
    assert not Allocation.objects.exists()
    assert moves(stored) == [("", "submitted"), ("submitted", "refused")]
    assert "China" in stored.history.last().reason


@pytest.mark.parametrize("practice", ["social_scoring", "emotion_recognition", "facial_scraping"])
def test_article5_practice_is_refused_with_the_practice_named(organisation, user, site, practice):
    from aifactory.core.eligibility import ARTICLE5_PRACTICES

    app = submit(organisation, user, practices=[practice])
    assert app.state == "refused"
    assert any(ARTICLE5_PRACTICES[practice] in r for r in app.reasons)
    assert Application.objects.get(pk=app.pk).practices == [practice]
    assert not Allocation.objects.exists()


def test_annex3_area_goes_to_ethics_review_without_allocation(organisation, user, site):
    app = submit(organisation, user, areas=["law_enforcement"])
    assert app.state == "ethics_review"
    assert app.high_risk is True
    assert app.decided_at is None
    assert not Allocation.objects.exists()
    assert not ProvisioningOrder.objects.exists()
    assert moves(app) == [("", "submitted"), ("submitted", "ethics_review")]


def test_not_civil_is_refused_before_anything_is_stored(organisation, user, site):
    with pytest.raises(BadRequest) as refused:
        submit(organisation, user, civil_use=False)
    assert refused.value.detail == {"field": "civil_use"} and "civil" in refused.value.message
    assert not Application.objects.exists()


def test_every_refusal_reason_is_given(user, site):
    org = OrganisationFactory(country="US", members=[user])
    app = submit(org, user, practices=["social_scoring"])
    assert len([r for r in app.reasons if "not eligible" in r or "Article 5" in r]) == 2


def test_ethics_review_approved_then_allocated(organisation, user, site):
    app = submit(organisation, user, areas=["employment"])
    staff = UserFactory(username="reviewer", is_staff=True)
    decided = application_decide(application=app, user=staff, approve=True, reason="safeguards in place")
    assert decided.state == "approved"
    assert Allocation.objects.filter(application=app).exists()
    history = list(decided.history.all())
    assert [(h.from_state, h.to_state) for h in history][-1] == ("ethics_review", "approved")
    assert history[-1].actor == staff and history[-1].reason == "safeguards in place"
    assert "Ethics review: safeguards in place" in decided.reasons


def test_ethics_review_refused(organisation, user, site):
    app = submit(organisation, user, areas=["employment"])
    staff = UserFactory(username="reviewer", is_staff=True)
    decided = application_decide(application=app, user=staff, approve=False, reason="no safeguards")
    assert decided.state == "refused"
    assert not Allocation.objects.exists()


def test_a_decision_needs_a_reason_and_cannot_be_taken_twice(organisation, user, site):
    app = submit(organisation, user, areas=["employment"])
    staff = UserFactory(username="reviewer", is_staff=True)
    with pytest.raises(BadRequest):
        application_decide(application=app, user=staff, approve=True, reason="  ")
    application_decide(application=app, user=staff, approve=False, reason="no")
    with pytest.raises(InvalidTransition):
        application_decide(application=app, user=staff, approve=True, reason="changed our mind")
    assert Application.objects.get(pk=app.pk).state == "refused"
    assert not Allocation.objects.exists()
    assert StateChange.objects.filter(application=app).count() == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"machine_key": "nowhere"}, "machine"),
        ({"machine_key": "lumi"}, "machine"),
        ({"requested_gpu_hours": 5001}, "requested_gpu_hours"),
        ({"requested_gpu_hours": 0}, "requested_gpu_hours"),
        ({"months": 4}, "months"),
        ({"mode": "express"}, "mode"),
        ({"mode": "large_scale"}, "call"),
        ({"practices": ["unknown"]}, "practices"),
        ({"areas": ["unknown"]}, "areas"),
    ],
)
def test_bad_input_is_refused_before_anything_is_stored(organisation, user, site, change, field):
    with pytest.raises(BadRequest) as caught:
        submit(organisation, user, **change)
    assert caught.value.detail == {"field": field}
    assert not Application.objects.exists()
