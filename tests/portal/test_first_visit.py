"""The first visit: clear messages where the newcomer looks, mistakes corrected on the form, figures in one unit."""

from __future__ import annotations

import logging
import re
from decimal import Decimal

import pytest
from django.test import Client

from aifactory.portal.access.models import Application
from aifactory.portal.allocations.models import ProvisioningOrder
from aifactory.portal.federation.templatetags.aif import duration_seconds, gpu_hours, gpu_hours_from_seconds
from aifactory.portal.organisations.models import Organisation, RelatedEnterprise
from tests.conftest import AllocationFactory, ApplicationFactory, JobFactory, assert_refused, login, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def body(organisation):
    return {
        "organisation": organisation.pk, "title": "Clinical notes model", "machine": "leonardo", "params": 1e8,
        "tokens": 2e9, "gpus": 2, "requested_gpu_hours": 100, "months": 3, "civil_use": True,
    }


def form(organisation, **change):
    data = {"organisation": organisation.pk, "mode": "playground", "title": "Clinical notes model",
            "machine": "leonardo", "params": "1e8", "tokens": "2e9", "gpus": "2", "requested_gpu_hours": "100",
            "months": "3", "civil_use": "on"}
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


# --- civil use: a condition of applying, told next to the box ------------------------------------------------------

def test_the_api_refuses_an_application_not_for_civil_use_naming_the_field_and_stores_nothing(api, body):
    answer = assert_refused(api.post("/applications", {**body, "civil_use": False}), 400)
    assert answer["detail"]["field"] == "civil_use" and "civil" in answer["message"]
    assert not Application.objects.exists()


def test_the_form_shows_the_civil_use_box_as_a_form_error_and_keeps_what_was_typed(user, organisation):
    response = login(user).post("/applications/new/", form(organisation, civil_use=None, title="My project"))
    assert response.status_code == 200
    page = text(response)
    assert "civil uses only" in page and 'value="My project"' in page
    assert not Application.objects.exists()


# --- Playground never grants a run that cannot finish ---------------------------------------------------------------

def test_playground_refuses_a_plan_far_beyond_the_hours_asked_naming_the_estimate(api, body):
    answer = assert_refused(api.post("/applications", {**body, "params": 7e9, "tokens": 2e12, "gpus": 64,
                                                       "requested_gpu_hours": 4000}), 400)
    assert answer["detail"]["field"] == "requested_gpu_hours"
    assert "the planner estimates" in answer["message"] and "would not finish" in answer["message"]
    assert "Fast Lane" in answer["message"]  # more than Playground can grant
    assert not Application.objects.exists()


def test_playground_checks_the_hours_against_the_same_plan_as_the_assessment(api, body):
    """The run planner needs 324 GPU-hours for this run on Leonardo's 4 GPUs (the 6·N·D estimate says 267): 240 asked
    for is within the tolerance of the estimate but not of the plan, and the refusal names the plan's figure, which
    the application's assessment shows too."""
    run = {**body, "params": 1e9, "tokens": 2e10, "gpus": 4}
    answer = assert_refused(api.post("/applications", {**run, "requested_gpu_hours": 240}), 400)
    assert answer["detail"]["field"] == "requested_gpu_hours"
    assert "the planner estimates 324 GPU-hours" in answer["message"]
    created = api.post("/applications", {**run, "requested_gpu_hours": 300})
    assert created.status_code == 201, created.content
    assert round(Application.objects.get().assessment["planned_gpu_hours"]) == 324
    panel = text(Client().get("/plan/estimate/", {"machine": "leonardo", "params": "1e9", "tokens": "2e10",
                                                   "gpus": "4"}))
    assert "needs <strong>324 GPU-hours</strong>: the GPU-hours asked for are checked against this figure" in panel
    assert "needs" not in text(Client().get("/plan/estimate/", {"params": "1e9", "tokens": "2e10", "gpus": "4"}))


def test_playground_takes_a_request_that_covers_its_plan(api, body):
    assert api.post("/applications", body).json()["state"] == "approved"


# --- a refused application can be corrected and sent again -----------------------------------------------------------

def test_a_refused_application_is_corrected_and_sent_again_from_its_page(api, body, user, organisation, other_user):
    refused = api.post("/applications", {**body, "practices": ["social_scoring"], "summary": "First try"}).json()
    assert refused["state"] == "refused"
    page = text(login(user).get(f"/applications/{refused['id']}/"))
    assert "Correct and send again" in page and f"?from={refused['id']}" in page
    again = text(login(user).get(f"/applications/new/?from={refused['id']}"))
    assert 'value="Clinical notes model"' in again and "First try" in again
    assert re.search(r'value="social_scoring"[^>]*checked', again)
    response = login(user).post("/applications/new/", form(organisation, summary="First try, corrected"))
    assert response.status_code == 302
    assert Application.objects.get(summary="First try, corrected").state == "approved"
    assert Application.objects.get(pk=refused["id"]).state == "refused"  # the refusal stays on record
    assert login(other_user).get(f"/applications/new/?from={refused['id']}").status_code in (302, 404)


def test_an_approved_application_offers_no_resubmission(api, body, user):
    out = api.post("/applications", body).json()
    assert "Correct and send again" not in text(login(user).get(f"/applications/{out['id']}/"))


# --- registering: the message says what matters -----------------------------------------------------------------------

def test_an_ineligible_organisation_is_told_so_in_the_message_not_in_green(user, site):
    client = login(user)
    response = client.post("/organisations/new/", {"name": "Pacific Labs", "country": "US", "headcount": "12",
                                                   "turnover_eur": "1000000", "balance_sheet_eur": "900000",
                                                   "sector": "health"}, follow=True)
    page = text(response)
    assert 'class="warning"' in page and "cannot apply for access" in page and "not eligible" in page
    assert 'class="success"' not in page


def test_an_eligible_organisation_is_registered_in_green(user, site):
    response = login(user).post("/organisations/new/", {
        "name": "Lyon Labs", "country": "FR", "headcount": "12", "turnover_eur": "1000000",
        "balance_sheet_eur": "900000", "sector": "health"}, follow=True)
    assert 'class="success"' in text(response) and "Lyon Labs registered" in text(response)


def test_partner_and_linked_enterprises_are_declared_on_the_form(user, site):
    response = login(user).post("/organisations/new/", {
        "name": "Bologna AI", "country": "IT", "headcount": "40", "turnover_eur": "5000000",
        "balance_sheet_eur": "4000000", "sector": "manufacturing",
        "related": "partner; Holding SpA; 30; 100; 20000000; 15000000\nlinked; Sister Srl; 100; 20; 1000000; 500000",
    })
    assert response.status_code == 302
    org = Organisation.objects.get(name="Bologna AI")
    rows = list(RelatedEnterprise.objects.filter(organisation=org).values_list("name", "relation", "share"))
    assert [(name, relation, Decimal(share)) for name, relation, share in rows] == [
        ("Holding SpA", "partner", Decimal("0.3")), ("Sister Srl", "linked", Decimal("1"))]
    assert org.sme_category == "medium"  # 40 + 0.3 x 100 + 20 = 90 staff


@pytest.mark.parametrize(
    ("related", "says"),
    [
        ("partner; Holding; 30; 100", "six parts"),
        ("owner; Holding; 30; 100; 1; 1", "the relation is"),
        ("partner; Holding; thirty; 100; 1; 1", "plain numbers"),
        ("partner; Holding; 30; -5; 1; 1", "0 or more"),
        ("partner; Holding; 80; 10; 1; 1", "share"),
    ],
)
def test_a_malformed_related_enterprise_is_shown_next_to_the_field(user, site, related, says):
    response = login(user).post("/organisations/new/", {
        "name": "Bologna AI", "country": "IT", "headcount": "40", "turnover_eur": "5000000",
        "balance_sheet_eur": "4000000", "sector": "manufacturing", "related": related})
    assert response.status_code == 200
    assert says in text(response)
    assert not Organisation.objects.filter(name="Bologna AI").exists()


def test_the_dashboard_links_to_registering_another_organisation(user, organisation):
    assert "Register another organisation" in text(login(user).get("/dashboard/"))


# --- provisioning before "Submit a job" ----------------------------------------------------------------------

def test_submit_a_job_waits_for_the_site_account(user, organisation, site):
    application = ApplicationFactory(organisation=organisation, submitted_by=user, state="approved")
    allocation = AllocationFactory(application=application, provisioned=False)
    for path in ("/dashboard/", f"/applications/{application.pk}/"):
        page = text(login(user).get(path))
        assert "provisioning" in page and "Submit a job</a>" not in page, path
    ProvisioningOrder.objects.filter(allocation=allocation).update(state="done")
    for path in ("/dashboard/", f"/applications/{application.pk}/"):
        assert "Submit a job</a>" in text(login(user).get(path)), path


# --- one unit, one way of writing numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "—"), (0, "0"), (0.0267, "0.027"), (3.2, "3.2"), (3.0, "3"), (96.25, "96.25"), (267_000_000.4,
     "267,000,000"), (4000, "4,000"), (1e-7, "< 0.0001")],
)
def test_gpu_hours_are_written_one_way(value, shown):
    assert gpu_hours(value) == shown


def test_gpu_seconds_are_shown_as_gpu_hours_and_limits_in_words():
    assert gpu_hours_from_seconds(96.2) == "0.027"
    assert gpu_hours_from_seconds(None) == "—"
    assert [duration_seconds(s) for s in (45, 1800, 7200, 5400)] == ["45 s", "30 min", "2 h", "1 h 30 min"]


def test_job_pages_speak_gpu_hours_and_the_cancel_button_goes_when_the_job_ends(user, allocation):
    running = JobFactory(allocation=allocation, state="running", gpu_seconds=96.2)
    done = JobFactory(allocation=allocation, state="completed", gpu_seconds=7200.0)
    client = login(user)
    page = text(client.get(f"/jobs/{running.uid}/"))
    assert "Cancel job" in page and "GPU-seconds" not in page and "0.027" in page
    live = text(client.get(f"/jobs/{running.uid}/", HTTP_HX_REQUEST="true"))
    assert "Cancel job" in live
    for response in (client.get(f"/jobs/{done.uid}/"), client.get(f"/jobs/{done.uid}/", HTTP_HX_REQUEST="true")):
        page = text(response)
        assert "Cancel job" not in page and "GPU-hours charged 2" in page
    for path in ("/dashboard/", f"/allocations/{allocation.pk}/"):
        page = text(client.get(path))
        assert "GPU-seconds" not in page and "None" not in page, path


def test_the_catalog_writes_no_none(client):
    assert "None" not in text(client.get("/catalog/"))


# --- 403 and 404 carry the navigation and the reason; a 403 logs no traceback -----------------------------------------

def test_a_404_page_has_the_navigation_and_says_what_is_missing(user, other_user, organisation):
    response = login(other_user).get(f"/organisations/{organisation.pk}/")
    assert response.status_code == 404
    page = text(response)
    assert 'aria-label="Main"' in page and "Dashboard" in page and "Nothing here" in page
    assert f"/organisations/{organisation.pk}/" in page


def test_a_403_page_has_the_navigation_and_the_reason_and_logs_no_traceback(user, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = login(user).get("/figures/")
    assert response.status_code == 403
    page = text(response)
    assert 'aria-label="Main"' in page and "You may not open this page" in page and "observers" in page
    forbidden = [r for r in caplog.records if getattr(r, "status_code", None) == 403]
    assert forbidden and all(r.exc_info is None for r in forbidden)


def test_the_api_docs_load_their_scripts_from_the_portal(client):
    page = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page.split("<body")[0]
    script = client.get("/static/ninja/swagger-ui-bundle.js")
    try:
        assert script.status_code == 200
    finally:
        script.close()  # a file response: closed here, not left to the garbage collector
