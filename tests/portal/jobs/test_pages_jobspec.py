"""The job spec page: a spec for one of your organisations, placed by the broker; its reasons on the job's page;
refusals next to the field, with the reasons per site."""

from __future__ import annotations

import pytest

from aifactory.portal.federation.services import terms_publish
from aifactory.portal.jobs.models import Job
from tests.conftest import UserFactory
from tests.federation import Federation, make_federation

pytestmark = pytest.mark.django_db

SPEC = "name: page-job\nresources:\n  gpu: {gpu}\n  time_limit: 10m\ncommands:\n  - echo hi\n"


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def test_the_form_and_a_job_placed_with_its_reasons(browser, fed):
    page = browser.get("/jobs/new/spec/")
    assert page.status_code == 200 and "Job spec (YAML or JSON)" in page.content.decode()
    response = browser.post("/jobs/new/spec/", {"organisation": fed.organisation.pk, "spec": SPEC.format(gpu="any")})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.uid}/"
    detail = browser.get(response["Location"]).content.decode()
    assert "Why jupiter-a" in detail and "chosen: earliest expected completion" in detail
    assert "later: expected completion" in detail


def test_an_invalid_spec_is_shown_next_to_the_field(browser, fed):
    page = browser.post("/jobs/new/spec/", {"organisation": fed.organisation.pk,
                                            "spec": SPEC.format(gpu="any").replace("10m", "soon")})
    assert page.status_code == 200 and "resources.time_limit" in page.content.decode()
    assert not Job.objects.exists()


def test_no_machine_shows_the_reasons_per_site(browser, fed):
    page = browser.post("/jobs/new/spec/", {"organisation": fed.organisation.pk, "spec": SPEC.format(gpu="H100")})
    text = page.content.decode()
    assert page.status_code == 200 and "no machine can take this job" in text
    assert "GPU type GH200, job asks for H100" in text and "GPU type A100, job asks for H100" in text


def test_the_sites_terms_not_accepted_show_as_the_reason(browser, fed):
    terms_publish(site=fed.jupiter.site, text="Version one.", actor=UserFactory(username="staffer", is_staff=True))
    page = browser.post("/jobs/new/spec/", {"organisation": fed.organisation.pk, "spec": SPEC.format(gpu="GH200")})
    text = page.content.decode()
    assert page.status_code == 200 and "no machine can take this job" in text
    assert "accept the terms of use of jupiter-a version 1" in text


def test_another_organisation_is_not_a_choice(browser, fed, other_user):
    from tests.conftest import OrganisationFactory

    theirs = OrganisationFactory(members=[other_user])
    page = browser.post("/jobs/new/spec/", {"organisation": theirs.pk, "spec": SPEC.format(gpu="any")})
    assert page.status_code == 200 and not Job.objects.exists()


def test_without_an_organisation(client, other_user):
    client.force_login(other_user)
    assert client.get("/jobs/new/spec/").status_code == 302


def test_the_script_form_links_to_the_spec_form(browser, fed):
    assert "/jobs/new/spec/" in browser.get("/jobs/new/").content.decode()
