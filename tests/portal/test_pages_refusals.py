"""Refusals of the call manager's forms are shown in the page, next to the field they concern (or at the top of
the action's form when they concern no field), never only as a message elsewhere."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from aifactory.portal.access.services import application_submit
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.services import CriterionSpec, call_open
from tests.conftest import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(site):
    person = UserFactory(username="maria")
    role_grant(user=person, role="call_manager", granted_by=None)
    client = Client()
    client.force_login(person)
    client.person = person
    return client


@pytest.fixture
def call(manager):
    return call_open(user=manager.person, title="Grand Challenge", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1), decision_by=timezone.localdate() + timedelta(days=30),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 10_000})


def test_closing_early_without_a_reason_is_refused_next_to_the_reason(manager, call):
    response = manager.post(f"/calls/{call.pk}/close/", {"reason": ""})
    assert response.status_code == 200
    shown = re.search(r'<ul class="errorlist" id="id_reason_error">(.*?)</ul>', response.content.decode(), re.S)
    assert shown and "closing it earlier needs a reason" in shown.group(1)


def test_an_action_out_of_turn_is_refused_at_its_form(manager, call):
    from aifactory.portal.review.services import call_close

    call_close(call=call, user=manager.person, reason="early")
    response = manager.post(f"/calls/{call.pk}/select/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<div class="form-errors" role="alert"><ul class="errorlist nonfield"><li>[^<]*no proposal', html)


def test_decision_refusals_next_to_their_fields(manager, site):
    founder = UserFactory(username="founder")
    org = OrganisationFactory(members=[founder])
    app = application_submit(organisation=org, user=founder, title="Fast Lane run", mode="fast_lane",
                             machine_key="leonardo", params=1e8, tokens=2e9, gpus=2, requested_gpu_hours=400,
                             months=1, civil_use=True)
    assert app.state == "technical_review"
    response = manager.post(f"/applications/{app.pk}/decide/", {})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_approve_error"' in html and 'id="id_reason_error"' in html
    response = manager.post(f"/applications/{app.pk}/decide/", {"approve": "no", "reason": "the plan needs 4x"})
    assert response.status_code == 302
