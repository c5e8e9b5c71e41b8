"""Open-science obligations: call templates, winners' obligations, the licence rule, publications, reminders."""

from __future__ import annotations

import io
from datetime import timedelta
from itertools import product

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.access.services import application_submit
from aifactory.portal.obligations.choices import OBLIGATION_TRANSITIONS, ObligationState, check_obligation_transition
from aifactory.portal.obligations.models import Obligation
from aifactory.portal.obligations.services import call_open_from_template, obligations_remind
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.periodic.schedule import periodics
from aifactory.portal.periodic.services import periodic_enqueue_due
from aifactory.portal.review.services import (
    CriterionSpec,
    call_accept,
    call_assign,
    call_close,
    call_select,
    review_submit,
    reviewer_add,
)
from tests.conftest import OrganisationFactory, UserFactory, assert_refused, login, run_worker

pytestmark = pytest.mark.django_db

EDGES = {("pending", "met")}
PLAN = {"machine_key": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 2, "civil_use": True}


def test_the_state_machine_allows_exactly_these_moves():
    for a, b in product(ObligationState, ObligationState):
        if (a.value, b.value) in EDGES:
            check_obligation_transition(a.value, b)
        else:
            with pytest.raises(InvalidTransition):
                check_obligation_transition(a.value, b)
    assert {(a.value, b.value) for a, t in OBLIGATION_TRANSITIONS.items() for b in t} == EDGES


def won_call(template, budgets=None):
    """A call opened from the template, one proposal of alice's lab, reviewed, selected and accepted."""
    manager = UserFactory(username="maria")
    role_grant(user=manager, role="call_manager", granted_by=None)
    alice = UserFactory(username="alice")
    org = OrganisationFactory(name="Alice Lab", members=[alice])
    call = call_open_from_template(user=manager, template=template, title="Round", criteria=[CriterionSpec("q", 1)],
                                   deadline=timezone.now() + timedelta(days=1), budgets=budgets,
                                   decision_by=timezone.localdate() + timedelta(days=30),
                                   reviewers_per_proposal=1)
    application_submit(organisation=org, user=alice, title="Entry", mode="grand_challenge", call=call,
                       requested_gpu_hours=3, months=12, open_science=True, keywords=["llm"], **PLAN)
    reviewer = UserFactory(username="rita")
    reviewer_add(user=manager, person=reviewer, name="Rita", affiliation="Uni", country="SE", keywords=["llm"])
    call_close(call=call, user=manager, reason="test")
    (assignment,) = call_assign(call=call, user=manager)
    review_submit(assignment=assignment, user=reviewer, marks={"q": 4})
    call_select(call=call, user=manager)
    call_accept(call=call, user=manager)
    return manager, alice, call


def test_templates_carry_their_rules_and_sources(api):
    rows = {t["key"]: t for t in api.get("/call-templates").json()}
    frontier = rows["frontier-ai-grand-challenge"]
    assert frontier["winner_limit"] == 1 and frontier["entry"]["min_params"] == 4e11
    assert frontier["open_science"]["release_required"] is True and "f6s" in frontier["source"]
    assert frontier["capacity_prize"]["gpu_hours"] > 0 and "marenostrum5" in frontier["capacity_prize"][
        "machines_left_out"]
    assert rows["large-ai-grand-challenge"]["winner_limit"] == 4
    check = api.post("/call-templates/frontier-ai-grand-challenge/entry-check",
                     {"params": 1e11, "lead_eu_established": True, "lead_eu_controlled": False}).json()
    assert check["meets"] is False and len(check["unmet"]) == 3
    ok = api.post("/call-templates/frontier-ai-grand-challenge/entry-check",
                  {"params": 5e11, "lead_eu_established": True, "lead_eu_controlled": True,
                   "record_params": 1.2e11}).json()
    assert ok == {"template": "frontier-ai-grand-challenge", "meets": True, "unmet": []}


def test_a_frontier_call_takes_a_share_of_capacity_as_its_budgets(site, api_for):
    manager = UserFactory(username="maria")
    role_grant(user=manager, role="call_manager", granted_by=None)
    opened = api_for(manager).post("/call-templates/frontier-ai-grand-challenge/open", {
        "title": "Frontier", "deadline": (timezone.now() + timedelta(days=3)).isoformat(),
        "decision_by": (timezone.localdate() + timedelta(days=30)).isoformat(),
        "criteria": [{"name": "q", "weight": 1}]})
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert list(body) == ["id", "title", "template", "winner_limit", "budgets", "description"]
    assert (body["title"], body["template"], body["winner_limit"]) == ("Frontier", "frontier-ai-grand-challenge", 1)
    assert body["budgets"]["leonardo"] == round(0.025 * 13824 * 8760)
    assert "400" in body["description"] or "4e+11" in body["description"]


def test_a_winner_releases_under_a_non_commercial_licence_and_meets_the_rule(site, api_for,
                                                                            django_capture_on_commit_callbacks):
    manager, alice, call = won_call("large-ai-grand-challenge", budgets={"leonardo": 100})
    mapi, aapi = api_for(manager), api_for(alice)
    due = (timezone.localdate() + timedelta(days=20)).isoformat()
    created = mapi.post(f"/calls/{call.pk}/obligations", {"due_on": due})
    assert created.status_code == 201, created.content
    (o,) = created.json()
    assert {k: v for k, v in o.items() if k not in ("id", "application", "due_on")} == {
        "call": call.pk, "call_title": call.title, "organisation": "Alice Lab", "template": "large-ai-grand-challenge",
        "rule": "release the model under an open-source licence for non-commercial use, or publish the research",
        "release_required": False, "state": "pending", "overdue": False, "met_at": None, "evidence": []}
    assert o["due_on"] == due and aapi.get(f"/obligations/{o['id']}").json() == o
    assert aapi.post(f"/calls/{call.pk}/obligations", {"due_on": due}).status_code == 403
    refused = aapi.post(f"/obligations/{o['id']}/release", {"licence": "LicenseRef-scancode-proprietary-license",
                                                            "url": "https://models.example.org/a"})
    assert refused.status_code == 400 and refused.json()["detail"]["field"] == "licence"
    assert "commercial" in refused.json()["message"]
    bad = aapi.post(f"/obligations/{o['id']}/release", {"licence": "MIT AND", "url": "https://x.example.org/a"})
    assert bad.status_code == 400 and bad.json()["detail"]["field"] == "licence"
    assert aapi.post(f"/obligations/{o['id']}/release", {"licence": "MIT", "url": "ftp://example.org/x"}).json()["detail"][
        "field"] == "url"
    met = aapi.post(f"/obligations/{o['id']}/release", {"licence": "CC-BY-NC-4.0",
                                                        "url": "https://models.example.org/a"})
    assert met.status_code == 200 and met.json()["state"] == "met"
    assert met.json()["evidence"][0]["licence"] == "CC-BY-NC-4.0"
    assert {k: v for k, v in met.json().items() if k not in ("state", "met_at", "evidence")} == {
        k: v for k, v in o.items() if k not in ("state", "met_at", "evidence")}
    (evidence,) = met.json()["evidence"]
    assert list(evidence) == ["kind", "licence", "url", "identifier", "reasons", "at"]
    assert (evidence["kind"], evidence["url"], evidence["identifier"]) == ("release", "https://models.example.org/a",
                                                                           "")
    assert met.json()["met_at"] and aapi.get(f"/obligations/{o['id']}").json() == met.json()
    assert aapi.post(f"/obligations/{o['id']}/publication", {"identifier": "2401.01234"}).status_code == 409


def test_a_publication_is_checked_for_form_and_reminders_go_once(site, api_for):
    manager, alice, call = won_call("large-ai-grand-challenge", budgets={"leonardo": 100})
    mapi, aapi = api_for(manager), api_for(alice)
    (o,) = mapi.post(f"/calls/{call.pk}/obligations",
                     {"due_on": (timezone.localdate() + timedelta(days=5)).isoformat()}).json()
    run_worker()
    mail.outbox.clear()  # the call's decisions, delivered first
    sent = obligations_remind()
    run_worker()
    assert [r.days_before for r in sent] == [7] and mail.outbox[0].to == ["alice@example.org"]
    assert obligations_remind() == []
    call_command("obligations_remind", stdout=io.StringIO())
    run_worker()
    assert len(mail.outbox) == 1
    late = obligations_remind(today=timezone.localdate() + timedelta(days=6))
    run_worker()
    assert [r.days_before for r in late] == [0] and "overdue" in mail.outbox[-1].body
    Obligation.objects.filter(pk=o["id"]).update(due_on=timezone.localdate() - timedelta(days=1))
    page = login(manager).get("/obligations/")
    assert b"overdue" in page.content and b"1 overdue" in page.content
    assert aapi.get("/obligations").json()[0]["overdue"] is True
    bad = aapi.post(f"/obligations/{o['id']}/publication", {"identifier": "not-a-doi"})
    assert bad.status_code == 400 and bad.json()["detail"] == {"field": "identifier"}
    ok = aapi.post(f"/obligations/{o['id']}/publication", {"identifier": "https://doi.org/10.1234/abc.5"})
    assert ok.json()["state"] == "met" and ok.json()["evidence"][0]["identifier"] == "10.1234/abc.5"


def test_the_frontier_rule_wants_a_release_not_a_publication(site, api_for):
    manager, alice, call = won_call("frontier-ai-grand-challenge", budgets={"leonardo": 100})
    (o,) = api_for(manager).post(f"/calls/{call.pk}/obligations",
                                 {"due_on": (timezone.localdate() + timedelta(days=30)).isoformat()}).json()
    aapi = api_for(alice)
    refused = aapi.post(f"/obligations/{o['id']}/publication", {"identifier": "2401.01234"})
    assert refused.status_code == 400 and "release" in refused.json()["message"]
    assert aapi.post(f"/obligations/{o['id']}/release",
                     {"licence": "LicenseRef-scancode-proprietary-license", "url": "https://w.example.org"}
                     ).json()["state"] == "met"  # open weights: the announcement names no licence


def test_others_neither_see_nor_report(site, api_for, other_api):
    manager, alice, call = won_call("large-ai-grand-challenge", budgets={"leonardo": 100})
    (o,) = api_for(manager).post(f"/calls/{call.pk}/obligations",
                                 {"due_on": (timezone.localdate() + timedelta(days=30)).isoformat()}).json()
    assert other_api.get(f"/obligations/{o['id']}").status_code == 404
    assert other_api.post(f"/obligations/{o['id']}/release", {"licence": "MIT", "url": "https://x.example.org"}
                          ).status_code == 404
    assert api_for(manager).post(f"/obligations/{o['id']}/release", {"licence": "MIT",
                                                                     "url": "https://x.example.org"}).status_code == 403


def test_the_release_page_shows_the_rule_and_refusal(site, api_for):
    manager, alice, call = won_call("large-ai-grand-challenge", budgets={"leonardo": 100})
    (o,) = api_for(manager).post(f"/calls/{call.pk}/obligations",
                                 {"due_on": (timezone.localdate() + timedelta(days=30)).isoformat()}).json()
    client = login(alice)
    page = client.post(f"/obligations/{o['id']}/", {"do": "release", "release-licence": "Foo-1.0",
                                                    "release-url": "https://x.example.org"})
    assert page.status_code == 200 and b"Unknown license key" in page.content
    done = client.post(f"/obligations/{o['id']}/", {"do": "release", "release-licence": "Apache-2.0",
                                                    "release-url": "https://x.example.org"})
    assert done.status_code == 302
    assert b"Apache-2.0 is permissive" in client.get(done["Location"]).content
    assert login(manager).get("/calls/templates/").status_code == 200


def test_the_reminders_are_a_daily_periodic_task(site, api_for):
    manager, alice, call = won_call("large-ai-grand-challenge", budgets={"leonardo": 100})
    api_for(manager).post(f"/calls/{call.pk}/obligations",
                          {"due_on": (timezone.localdate() + timedelta(days=5)).isoformat()})
    run_worker()
    mail.outbox.clear()  # the call's decisions, delivered first
    periodic_enqueue_due()
    run_worker()
    assert [m.to for m in mail.outbox if "Open-science obligation" in m.subject] == [["alice@example.org"]]
    (daily,) = [p for p in periodics() if p.name == "obligations.remind"]
    assert daily.length() == timedelta(days=1)


def test_a_licence_is_checked_against_a_template_through_the_api(api, anon):
    ok = api.post("/licences/check", {"licence": "cc-by-nc-4.0", "template": "large-ai-grand-challenge"})
    assert ok.status_code == 200, ok.content
    assert list(ok.json()) == ["expression", "accepted", "reasons"]
    assert ok.json()["expression"] == "CC-BY-NC-4.0" and ok.json()["accepted"] is True and ok.json()["reasons"]
    closed = api.post("/licences/check", {"licence": "LicenseRef-scancode-proprietary-license",
                                          "template": "large-ai-grand-challenge"}).json()
    assert closed["accepted"] is False and closed["reasons"]
    assert_refused(api.post("/licences/check", {"licence": "MIT AND", "template": "large-ai-grand-challenge"}), 400)
    assert_refused(api.post("/licences/check", {"licence": "MIT", "template": "nowhere"}), (400, 404))
    assert_refused(api.post("/licences/check", {"licence": "", "template": "large-ai-grand-challenge"}), 422)
    assert_refused(anon.post("/licences/check", {"licence": "MIT", "template": "large-ai-grand-challenge"}), 401)
