"""A Grand Challenge round through the pages (plain forms, no JavaScript): a call manager opens and runs the call,
applicants submit, reviewers mark; every form field has its label; each role sees only its pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from aifactory.portal.access.models import Application
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.models import Assignment, Call
from aifactory.portal.review.services import reviewer_add
from tests.conftest import OrganisationFactory, UserFactory, login, text

pytestmark = pytest.mark.django_db


def assert_every_field_labelled(response):
    html = response.content.decode()
    ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html)
    hidden = set(re.findall(r'<input[^>]*type="hidden"[^>]*id="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
    # checkbox lists label each box and their group by its own <label> (id_x) or a legend
    missing = [i for i in ids if i not in hidden and i not in labelled and not re.match(r".*_\d+$", i)]
    assert not missing, missing


@pytest.fixture
def people(site, make_site):
    make_site(name="meluxina-a", machine_key="meluxina")
    manager = UserFactory(username="maria")
    role_grant(user=manager, role="call_manager", granted_by=None)
    founders = []
    for i, (name, country) in enumerate([("Nordlicht AI", "DE"), ("Pixel Farm", "IT"), ("Voxa", "ES")]):
        person = UserFactory(username=f"founder{i}")
        OrganisationFactory(name=name, country=country, members=[person], sector="agrifood")
        founders.append(person)
    reviewers = []
    for username, country, words in [("rita", "SE", "llm, vision"), ("sven", "FI", "llm, speech"),
                                     ("kai", "AT", "vision, agrifood")]:
        person = UserFactory(username=username)
        reviewer_add(user=manager, person=person, name=username.capitalize(), affiliation=f"{username} lab",
                     country=country, keywords=words.split(", "), max_load=5)
        reviewers.append(person)
    return {"manager": manager, "founders": founders, "reviewers": reviewers}


def call_form(**change):
    deadline = timezone.now() + timedelta(days=2)
    return {
        "title": "Large AI Grand Challenge", "mode": "grand_challenge", "description": "Open models for Europe",
        "deadline": deadline.strftime("%Y-%m-%dT%H:%M"), "decision_by": (deadline + timedelta(days=20)).date()
        .isoformat(), "months": "12", "winner_limit": "2", "threshold": "2", "objective": "score",
        "reviewers_per_proposal": "2", "prize_eur": "1000000", "open_science": "on",
        "criteria": "excellence, 0.5\nimpact, 0.3\nfeasibility, 0.2",
        "budgets": "leonardo: 20000\nmeluxina: 5000", **change,
    }


def proposal_form(org, call, title):
    return {"organisation": str(org.pk), "mode": "grand_challenge", "call": str(call.pk), "title": title,
            "summary": "A small open model", "keywords": "llm, vision", "machine": "leonardo", "params": "1e8",
            "tokens": "2e9", "gpus": "2", "requested_gpu_hours": "3", "months": "12", "civil_use": "on",
            "open_science": "on"}


def test_a_round_through_the_pages(people):
    manager = login(people["manager"])
    page = manager.get("/calls/new/")
    assert page.status_code == 200
    assert_every_field_labelled(page)
    bad = manager.post("/calls/new/", call_form(budgets="leonardo twenty thousand"))
    assert "machine: GPU-hours" in " ".join(bad.context["form"].errors["budgets"])
    none = manager.post("/calls/new/", call_form(budgets="deep-thought: 10"))
    assert "unknown machine" in " ".join(none.context["form"].errors["budgets"])
    response = manager.post("/calls/new/", call_form())
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    call = Call.objects.get()
    assert response["Location"] == f"/calls/{call.pk}/"

    for i, founder in enumerate(people["founders"]):
        client = login(founder)
        assert "Submit a proposal" in text(client.get("/calls/"))
        form_page = client.get(f"/applications/new/?call={call.pk}")
        assert_every_field_labelled(form_page)
        org = founder.organisations.get()
        sent = client.post("/applications/new/", proposal_form(org, call, f"Model {i}"))
        assert sent.status_code == 302, sent.context["form"].errors
    assert set(Application.objects.values_list("state", flat=True)) == {"in_review"}
    assert people["founders"][0].organisations.get().name in text(manager.get(f"/calls/{call.pk}/"))

    manager.post(f"/calls/{call.pk}/close/", {"reason": "all proposals in"})
    manager.post(f"/calls/{call.pk}/assign/")
    assert Assignment.objects.count() == 6
    page = text(manager.get(f"/calls/{call.pk}/"))
    assert "Reviewer assignment" in page and "missing" in page

    marks = {"rita": (5, 4, 4), "sven": (4, 3, 3), "kai": (3, 3, 3)}
    for person in people["reviewers"]:
        client = login(person)
        listing = client.get("/reviews/")
        mine = Assignment.objects.filter(reviewer__user=person)
        for a in mine:
            assert a.application.title in text(listing)
            form_page = client.get(f"/reviews/{a.pk}/")
            assert_every_field_labelled(form_page)
            e, i, f = marks[person.username]
            out_of_scale = client.post(f"/reviews/{a.pk}/", {"mark_excellence": "7", "mark_impact": i,
                                                              "mark_feasibility": f})
            assert out_of_scale.context["form"].errors["mark_excellence"]
            done = client.post(f"/reviews/{a.pk}/", {"mark_excellence": e, "mark_impact": i, "mark_feasibility": f,
                                                      "comment": "solid"})
            assert done.status_code == 302
        others = Assignment.objects.exclude(reviewer__user=person).first()
        assert client.get(f"/reviews/{others.pk}/").status_code == 404
        assert client.get(f"/calls/{call.pk}/").status_code == 200  # the public terms only
        assert "Reviewer assignment" not in text(client.get(f"/calls/{call.pk}/"))

    manager.post(f"/calls/{call.pk}/select/")
    page = text(manager.get(f"/calls/{call.pk}/"))
    assert "Optimum (integer program, HiGHS)" in page and "Rank-order greedy (baseline)" in page
    assert "proven optimal" in page and "Ranking" in page
    winner = Application.objects.filter(state="selected").first()
    moved = manager.post(f"/calls/{call.pk}/routes/{winner.pk}/",
                         {f"app{winner.pk}-machine": "meluxina", f"app{winner.pk}-reason": "closer to the team"})
    assert moved.status_code == 302
    assert "closer to the team" in text(manager.get(f"/calls/{call.pk}/"))
    manager.post(f"/calls/{call.pk}/accept/", {"reason": "jury decision"})
    assert Call.objects.get().state == "closed"
    assert Allocation.objects.count() == 2
    assert ProvisioningOrder.objects.count() == 2
    assert Allocation.objects.get(application=winner).machine.key == "meluxina"

    founder = winner.organisation.members.get()
    page = text(login(founder).get(f"/applications/{winner.pk}/"))
    assert "Approved" in page and "Promised" in page and "On time" in page and "yes" in page
    assert "closer to the team" in page


def test_role_pages(people):
    observer = UserFactory(username="otto")
    role_grant(user=observer, role="observer", granted_by=None)
    operator = UserFactory(username="olga")
    role_grant(user=operator, role="factory_operator", factory="it4lia", granted_by=None)
    founder = login(people["founders"][0])
    assert login(observer).get("/figures/").status_code == 200
    assert founder.get("/figures/").status_code == 403
    assert login(operator).get("/operator/").status_code == 200
    assert founder.get("/operator/").status_code == 403
    assert founder.get("/calls/new/").status_code == 403
    assert founder.get("/reviewers/").status_code == 403
    assert login(people["manager"]).get("/reviewers/").status_code == 200
    assert founder.post("/calls/1/close/").status_code in (403, 404)


def test_technical_review_decided_from_the_page(people, site):
    founder = people["founders"][0]
    org = founder.organisations.get()
    client = login(founder)
    sent = client.post("/applications/new/", {
        "organisation": str(org.pk), "mode": "fast_lane", "title": "Oversized", "machine": "leonardo",
        "params": "1e8", "tokens": "2e9", "gpus": "2", "requested_gpu_hours": "500", "months": "2", "civil_use": "on",
    })
    app = Application.objects.get()
    assert sent.status_code == 302 and app.state == "technical_review"
    assert "Record the decision" not in text(client.get(f"/applications/{app.pk}/"))
    manager = login(people["manager"])
    page = manager.get(f"/applications/{app.pk}/")
    assert "Record the decision" in text(page)
    assert_every_field_labelled(page)
    manager.post(f"/applications/{app.pk}/decide/", {"approve": "yes", "reason": "sweep of 100 runs"})
    app.refresh_from_db()
    assert app.state == "approved"
    assert "Technical review: sweep of 100 runs" in text(client.get(f"/applications/{app.pk}/"))
