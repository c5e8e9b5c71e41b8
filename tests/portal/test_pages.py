"""The pages, through Django's test client: each renders, refusals show next to their field, others' rows 404."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.html import escape

from aifactory.portal.access.models import Application
from aifactory.portal.jobs.models import Job
from aifactory.portal.organisations.models import Organisation
from tests.conftest import (
    PASSWORD,
    AllocationFactory,
    ApplicationFactory,
    JobFactory,
    OrganisationFactory,
    UserFactory,
    text,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def field_errors(response, field):
    """The errors the page shows next to one field (the form is shown again, not followed by a redirect)."""
    assert response.status_code in (200, 400), response.status_code
    form = response.context["form"]
    errors = " ".join(form.errors.get(field, []))
    if errors:
        shown = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', response.content.decode(), re.S)
        assert shown, f"no error list next to {field}"
        assert all(escape(e) in shown.group(1) for e in form.errors[field])
    return errors


# --- open pages -----------------------------------------------------------------------------------------------------


def test_home(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Sign up" in text(response)


def test_catalog_page(client, machines):
    response = client.get("/catalog/")
    assert response.status_code == 200
    page = text(response)
    assert "Leonardo" in page and "LUMI" in page


def test_pages_that_need_a_login_send_to_it(client):
    for path in ("/dashboard/", "/organisations/new/", "/applications/new/", "/jobs/new/", "/jobs/table/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


# --- signing up and in ------------------------------------------------------------------------------------------------


def test_signup_logs_in_and_goes_to_the_dashboard(client):
    response = client.post("/signup/", {"username": "dora", "email": "dora@example.org",
                                        "password": "a-long-enough-passphrase"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert client.get("/dashboard/").status_code == 200
    assert get_user_model().objects.filter(username="dora").exists()


def test_signup_short_password_is_shown_next_to_the_field(client):
    response = client.post("/signup/", {"username": "dora", "email": "dora@example.org", "password": "short"})
    assert "at least 10 characters" in field_errors(response, "password")
    assert not get_user_model().objects.filter(username="dora").exists()


def test_signup_common_password_is_shown_next_to_the_field(client):
    response = client.post("/signup/", {"username": "dora", "email": "dora@example.org", "password": "1234567890"})
    assert "common" in field_errors(response, "password")


def test_signup_taken_username_is_shown_next_to_the_field(client, user):
    response = client.post("/signup/", {"username": "alice", "email": "a2@example.org",
                                        "password": "a-long-enough-passphrase"})
    assert "taken" in field_errors(response, "username")
    assert "taken" in text(response)


def test_login(client, user):
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    wrong = client.post("/login/", {"username": "alice", "password": "nope-nope-nope"})
    assert wrong.status_code == 200 and "correct username and password" in text(wrong)


# --- the dashboard in each state ------------------------------------------------------------------------------------


def test_dashboard_without_organisation_offers_registration(browser):
    page = text(browser.get("/dashboard/"))
    assert "Register your organisation" in page
    assert 'name="country"' in page


def test_dashboard_with_organisation(browser, organisation):
    page = text(browser.get("/dashboard/"))
    assert "Alice Lab" in page
    assert "No applications yet." in page and "No allocations yet." in page
    assert "Apply for Playground access" in page


def test_dashboard_with_application(browser, organisation):
    ApplicationFactory(organisation=organisation, title="Tiny transformer", state="ethics_review")
    page = text(browser.get("/dashboard/"))
    assert "Tiny transformer" in page and "Ethics review" in page
    assert "No allocations yet." in page


def test_dashboard_with_allocation_and_job(browser, allocation):
    page = text(browser.get("/dashboard/"))
    assert allocation.account in page
    assert "Submit a job" in page and "No jobs yet." in page
    JobFactory(allocation=allocation, name="first-run", state="running")
    page = text(browser.get("/dashboard/"))
    assert "first-run" in page and "running" in page


def test_dashboard_shows_only_ones_own(browser, organisation, other_user):
    OrganisationFactory(name="Secret Lab", members=[other_user])
    assert "Secret Lab" not in text(browser.get("/dashboard/"))


# --- organisation form ------------------------------------------------------------------------------------------------

ORG = {"name": "Nordlicht AI", "country": "DE", "headcount": "12", "turnover_eur": "1500000",
       "balance_sheet_eur": "900000", "sector": "health"}


def test_organisation_form_registers(browser, user):
    assert browser.get("/organisations/new/").status_code == 200
    response = browser.post("/organisations/new/", ORG)
    assert response.status_code == 302
    org = Organisation.objects.get()
    assert list(org.members.all()) == [user]
    assert "registered" in text(browser.get("/dashboard/"))


def test_organisation_form_unknown_country_is_shown_next_to_country(browser):
    response = browser.post("/organisations/new/", {**ORG, "country": "QQ"})
    assert "unknown country code" in field_errors(response, "country")
    assert not Organisation.objects.exists()


@pytest.mark.parametrize(("change", "field"), [({"headcount": "-3"}, "headcount"), ({"turnover_eur": "lots"},
                                               "turnover_eur"), ({"country": "Germany"}, "country")])
def test_organisation_form_field_refusals(browser, change, field):
    response = browser.post("/organisations/new/", {**ORG, **change})
    assert field_errors(response, field)


def test_pledges_form(browser, organisation, other_user):
    response = browser.post(f"/organisations/{organisation.pk}/pledges/", {"pledges": ["governance"]})
    assert response.status_code == 302
    assert list(organisation.pledges.values_list("pledge", flat=True)) == ["governance"]
    theirs = OrganisationFactory(members=[other_user])
    assert browser.post(f"/organisations/{theirs.pk}/pledges/", {"pledges": ["governance"]}).status_code == 404
    assert not theirs.pledges.exists()


# --- application form -------------------------------------------------------------------------------------------------


@pytest.fixture
def app_form(organisation):
    return {"organisation": str(organisation.pk), "title": "Clinical notes model", "machine": "leonardo",
            "params": "1e8", "tokens": "2e9", "gpus": "2", "requested_gpu_hours": "100", "months": "3",
            "civil_use": "on"}


def test_application_form_without_organisation_goes_to_registration(browser):
    response = browser.get("/applications/new/")
    assert response.status_code == 302 and response["Location"] == "/organisations/new/"


def test_application_form_approves_and_shows_the_decision(browser, app_form):
    assert browser.get("/applications/new/").status_code == 200
    response = browser.post("/applications/new/", app_form)
    assert response.status_code == 302
    app = Application.objects.get()
    assert app.state == "approved"
    page = text(browser.get(response["Location"]))
    assert "Approved" in page and app.allocation.account in page


def test_application_form_gpu_hours_beyond_the_limit_is_shown_next_to_the_field(browser, app_form):
    response = browser.post("/applications/new/", {**app_form, "requested_gpu_hours": "9000"})
    assert "5,000" in field_errors(response, "requested_gpu_hours")
    assert not Application.objects.exists()


def test_application_form_refusal_by_the_gate_is_shown_on_the_application(browser, app_form):
    response = browser.post("/applications/new/", {**app_form, "practices": ["social_scoring"]})
    assert response.status_code == 302
    page = text(browser.get(response["Location"]))
    assert "Refused" in page and "social scoring" in page


def test_another_users_application_is_404(browser, other_user):
    theirs = ApplicationFactory(organisation=OrganisationFactory(members=[other_user]))
    assert browser.get(f"/applications/{theirs.pk}/").status_code == 404


# --- jobs -----------------------------------------------------------------------------------------------------------


def test_job_form_without_allocation_goes_to_the_dashboard(browser, organisation):
    response = browser.get("/jobs/new/")
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


def test_job_form_submits(browser, allocation):
    assert browser.get("/jobs/new/").status_code == 200
    response = browser.post("/jobs/new/", {"allocation": str(allocation.pk), "name": "train", "script": "echo hi",
                                           "gpus": "1", "time_limit_s": "600"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.uid}/"


def test_job_form_refusal_beyond_the_allocation_is_shown(browser, allocation):
    response = browser.post("/jobs/new/", {"allocation": str(allocation.pk), "name": "huge", "script": "echo hi",
                                           "gpus": "1000", "time_limit_s": "3600"})
    assert "GPU-hours" in field_errors(response, "time_limit_s")
    assert not Job.objects.exists()


def test_job_form_bad_name_is_shown_next_to_the_field(browser, allocation):
    response = browser.post("/jobs/new/", {"allocation": str(allocation.pk), "name": "bad name", "script": "x",
                                           "gpus": "1", "time_limit_s": "600"})
    assert field_errors(response, "name")


def test_job_form_before_provisioning_shows_why(browser, organisation, site):
    waiting = AllocationFactory(application__organisation=organisation, provisioned=False)
    response = browser.post("/jobs/new/", {"allocation": str(waiting.pk), "name": "early", "script": "echo",
                                           "gpus": "1", "time_limit_s": "600"})
    assert response.status_code in (200, 400)
    assert "not provisioned" in " ".join(response.context["form"].non_field_errors())


def test_job_detail_and_live_partial(browser, allocation):
    job = JobFactory(allocation=allocation, name="live-one", state="running", log_tail="step 7 loss 0.3")
    page = browser.get(f"/jobs/{job.uid}/")
    assert page.status_code == 200
    assert "<html" in text(page) and "live-one" in text(page) and "step 7 loss 0.3" in text(page)
    partial = browser.get(f"/jobs/{job.uid}/", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in text(partial)
    assert 'id="job-live"' in text(partial) and "step 7 loss 0.3" in text(partial)
    assert 'hx-trigger="every 2s"' in text(partial)


def test_jobs_table_partial(browser, allocation):
    JobFactory(allocation=allocation, name="tabled")
    response = browser.get("/jobs/table/")
    assert response.status_code == 200 and "tabled" in text(response) and "<html" not in text(response)


def test_cancel_from_the_page(browser, allocation):
    job = JobFactory(allocation=allocation, state="running")
    response = browser.post(f"/jobs/{job.uid}/cancel/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.cancel_requested
    assert "Cancellation requested" in text(browser.get(f"/jobs/{job.uid}/"))


def test_another_users_job_is_404(browser, site, other_user):
    theirs = JobFactory(allocation__application__organisation=OrganisationFactory(members=[other_user]))
    assert browser.get(f"/jobs/{theirs.uid}/").status_code == 404
    assert browser.get(f"/jobs/{theirs.uid}/", headers={"HX-Request": "true"}).status_code == 404
    assert browser.post(f"/jobs/{theirs.uid}/cancel/").status_code in (302, 404)
    theirs.refresh_from_db()
    assert not theirs.cancel_requested
    assert browser.get("/jobs/" + "0" * 32 + "/").status_code == 404
    assert browser.get("/jobs/%00/").status_code == 404


# --- admin ----------------------------------------------------------------------------------------------------------


def test_admin_index_loads_for_staff(machines):
    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 200
    for path in ("/admin/jobs/job/", "/admin/access/application/", "/admin/allocations/allocation/",
                 "/admin/federation/site/", "/admin/organisations/organisation/"):
        assert client.get(path).status_code == 200, path


def test_admin_is_closed_to_others(browser):
    response = browser.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
