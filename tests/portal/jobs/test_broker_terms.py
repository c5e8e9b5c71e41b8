"""The broker asks for the site's current terms of use directly: a person's job goes only to sites whose current
terms they accepted; a new version makes the site take none of their jobs (new or moving) until they accept it, and
every refusal names the site and the version."""

from __future__ import annotations

import pytest

from aifactory.portal.federation.services import terms_accept, terms_publish
from aifactory.portal.jobs.failover import jobs_failover
from tests.conftest import ApiClient, UserFactory, assert_refused
from tests.federation import Federation, make_federation

pytestmark = pytest.mark.django_db

V1 = "accept the terms of use of jupiter-a version 1"
V2 = "accept the terms of use of jupiter-a version 2"


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


@pytest.fixture
def staff(db):
    return UserFactory(username="staffer", is_staff=True)


def why(job, site: str) -> str:
    return next(r["reason"] for r in job.placements.order_by("pk").last().reasons if r["site"] == site)


def test_a_new_version_keeps_the_persons_jobs_away_until_they_accept_it(fed, staff):
    assert fed.submit().site.name == "jupiter-a"  # no terms: JUPITER is the faster choice
    terms_publish(site=fed.jupiter.site, text="Version one.", actor=staff)
    job = fed.submit()
    assert job.site.name == "leonardo-a" and why(job, "jupiter-a").startswith(V1)
    terms_accept(site=fed.jupiter.site, user=fed.user, version=1)
    assert fed.submit().site.name == "jupiter-a"

    terms_publish(site=fed.jupiter.site, text="Version two.", actor=staff)
    job = fed.submit()
    assert job.site.name == "leonardo-a" and why(job, "jupiter-a").startswith(V2)
    terms_accept(site=fed.jupiter.site, user=fed.user, version=2)
    job = fed.submit()
    assert job.site.name == "jupiter-a" and why(job, "jupiter-a").startswith("chosen")


def test_terms_are_per_person(fed, staff, organisation):
    colleague = UserFactory(username="carla")
    organisation.members.add(colleague)
    terms_publish(site=fed.jupiter.site, text="Version one.", actor=staff)
    terms_accept(site=fed.jupiter.site, user=colleague, version=1)
    assert fed.submit().site.name == "leonardo-a"  # alice has not accepted
    fed.user = colleague
    assert fed.submit().site.name == "jupiter-a"


def test_the_api_refuses_with_the_reason(fed, staff, api: ApiClient):
    terms_publish(site=fed.jupiter.site, text="Version one.", actor=staff)
    body = assert_refused(api.post("/jobs", {"allocation": fed.on_jupiter.pk, "name": "t", "script": "id",
                                             "gpus": 1, "time_limit_s": 600}), 400)
    assert V1 in str(body)
    terms_accept(site=fed.jupiter.site, user=fed.user, version=1)
    placed = api.post("/jobs", {"allocation": fed.on_jupiter.pk, "name": "t", "script": "id", "gpus": 1,
                                "time_limit_s": 600})
    assert placed.status_code == 201, placed.content


def test_a_job_does_not_move_to_a_site_whose_terms_its_owner_has_not_accepted(fed, staff):
    fed.alive(fed.jupiter, wait_s=7200)  # JUPITER's queue is long: the job goes to Leonardo
    job = fed.submit()
    assert job.site.name == "leonardo-a"
    terms_publish(site=fed.jupiter.site, text="Version one.", actor=staff)
    fed.lost(fed.leonardo)
    result = jobs_failover()
    assert result.moved == [] and V1 in result.stuck[job.uid]
    terms_accept(site=fed.jupiter.site, user=fed.user, version=1)
    assert [m.to_site for m in jobs_failover().moved] == ["jupiter-a"]
