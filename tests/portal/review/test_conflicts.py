"""Conflicts of interest declared by reviewers: through the reviewer's page, kept apart by the assignment, shown to
the call manager, and refused with the reason next to the field."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from aifactory.portal.access.services import application_submit
from aifactory.portal.common.errors import Conflict, Forbidden
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.models import ConflictDeclaration
from aifactory.portal.review.services import (
    CriterionSpec,
    call_assign,
    call_close,
    call_open,
    conflict_declare,
    review_submit,
    reviewer_add,
)
from tests.conftest import OrganisationFactory, UserFactory, assert_refused, login, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def round_(site):
    manager = UserFactory(username="maria")
    role_grant(user=manager, role="call_manager", granted_by=None)
    call = call_open(user=manager, title="Grand Challenge", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1), decision_by=timezone.localdate() + timedelta(days=30),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 10_000}, reviewers_per_proposal=1)
    founder = UserFactory(username="founder")
    org = OrganisationFactory(name="Nordlicht AI", country="DE", members=[founder])
    proposal = application_submit(organisation=org, user=founder, title="Open speech model", mode="grand_challenge",
                                  call=call, machine_key="leonardo", params=1e8, tokens=2e9, gpus=2,
                                  requested_gpu_hours=3, months=12, civil_use=True, open_science=True,
                                  keywords=["speech"])
    reviewers = {}
    for name, affiliation in (("rita", "Uni Uppsala"), ("sven", "Nordlicht AI")):
        person = UserFactory(username=name)
        reviewer_add(user=manager, person=person, name=name.capitalize(), affiliation=affiliation, country="SE",
                     keywords=["speech"])
        reviewers[name] = person
    return {"manager": manager, "call": call, "proposal": proposal, "founder": founder, **reviewers}


def test_declared_conflict_is_kept_apart_by_the_assignment(round_):
    response = login(round_["rita"]).post("/reviews/conflicts/", {"application": round_["proposal"].pk,
                                                                   "reason": "co-authored with its lead last year"})
    assert response.status_code == 302 and response["Location"] == "/reviews/"
    page = text(login(round_["rita"]).get("/reviews/"))
    assert "co-authored with its lead last year" in page
    # sven shares the organisation: found by the rules, and shown to him
    assert "same organisation (Nordlicht AI)" in text(login(round_["sven"]).get("/reviews/"))
    call_close(call=round_["call"], user=round_["manager"], reason="test")
    with pytest.raises(Conflict, match="cannot be assigned"):
        call_assign(call=round_["call"], user=round_["manager"])  # the only two reviewers are both in conflict


def test_declared_after_assignment_stops_the_marks(round_):
    call_close(call=round_["call"], user=round_["manager"], reason="test")
    (assignment,) = call_assign(call=round_["call"], user=round_["manager"])
    assert assignment.reviewer.user == round_["rita"]
    conflict_declare(user=round_["rita"], application=round_["proposal"], reason="a competitor of my spin-off")
    with pytest.raises(Conflict, match=r"in conflict with this proposal \(conflict declared\)"):
        review_submit(assignment=assignment, user=round_["rita"], marks={"quality": 4})
    page = text(login(round_["manager"]).get(f"/calls/{round_['call'].pk}/"))
    assert "Conflicts declared by reviewers" in page and "a competitor of my spin-off" in page
    assert "conflict declared" in text(login(round_["rita"]).get("/reviews/"))


def test_refusals_show_next_to_their_field(round_):
    client = login(round_["rita"])
    response = client.post("/reviews/conflicts/", {"application": round_["proposal"].pk, "reason": ""})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<ul class="errorlist" id="id_reason_error"><li>This field is required', html)
    client.post("/reviews/conflicts/", {"application": round_["proposal"].pk, "reason": "a relative"})
    response = client.post("/reviews/conflicts/", {"application": round_["proposal"].pk, "reason": "again"})
    html = response.content.decode()
    assert re.search(r'<ul class="errorlist" id="id_application_error"><li>Select a valid choice', html)
    assert ConflictDeclaration.objects.count() == 1


def test_service_refusals(round_):
    with pytest.raises(Forbidden):
        conflict_declare(user=round_["founder"], application=round_["proposal"], reason="x")
    conflict_declare(user=round_["rita"], application=round_["proposal"], reason="a relative")
    with pytest.raises(Conflict, match="already"):
        conflict_declare(user=round_["rita"], application=round_["proposal"], reason="again")


def test_only_reviewers_declare(round_):
    assert login(round_["founder"]).post("/reviews/conflicts/", {"application": round_["proposal"].pk,
                                                                  "reason": "x"}).status_code == 403
    assert "Declare a conflict" not in text(login(round_["founder"]).get("/reviews/"))
    assert Client().post("/reviews/conflicts/", {})["Location"].startswith("/login/")


def test_conflicts_through_the_api(round_, api_for):
    rita = api_for(round_["rita"])
    body = assert_refused(rita.post("/conflicts", {"application": round_["proposal"].pk, "reason": ""}), 422)
    assert body["message"]
    made = rita.post("/conflicts", {"application": round_["proposal"].pk, "reason": "a relative"})
    assert made.status_code == 201 and made.json()["reason"] == "a relative"
    assert [c["application"] for c in rita.get("/conflicts").json()] == [round_["proposal"].pk]
    assert_refused(rita.post("/conflicts", {"application": round_["proposal"].pk, "reason": "again"}), 409)
    assert_refused(api_for(round_["founder"]).post("/conflicts", {"application": round_["proposal"].pk,
                                                                 "reason": "x"}), 403)
    assert_refused(rita.post("/conflicts", {"application": 99999, "reason": "x"}), 404)
    call = round_["call"].pk
    assert [c["reviewer"] for c in api_for(round_["manager"]).get(f"/calls/{call}/conflicts").json()] == ["Rita"]
    assert_refused(rita.get(f"/calls/{call}/conflicts"), 403)
