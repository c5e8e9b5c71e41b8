"""/jobs with a job spec: placed by the broker for an organisation, with its reasons in the answer; every refusal a
4xx with a message; another organisation's jobs and allocations invisible."""

from __future__ import annotations

import json

import pytest

from aifactory.portal.jobs.models import Job
from tests.conftest import OrganisationFactory, assert_refused
from tests.federation import Federation, job_spec, make_federation

pytestmark = pytest.mark.django_db

YAML = """\
name: from-yaml
resources:
  gpu: any
  gpus_per_node: 2
  time_limit: 15m
image: docker://nvcr.io/nvidia/pytorch:24.05-py3
commands:
  - echo "$GREETING"
env:
  GREETING: "hello; $(rm -rf /)"
inputs: [/data/tokens]
outputs: [checkpoints/]
"""


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


def test_submit_a_spec_object(api, fed):
    response = api.post("/jobs", {"spec": job_spec(gpus_per_node=4)})
    assert response.status_code == 201, response.content
    out = response.json()
    assert (out["site"], out["machine"], out["account"], out["organisation"]) == (
        "jupiter-a", "jupiter", fed.on_jupiter.account, fed.organisation.pk)
    assert (out["gpus"], out["nodes"], out["state"]) == (4, 1, "pending")
    [placement] = out["placements"]
    assert placement["cause"] == "submitted" and placement["site"] == "jupiter-a"
    assert {r["site"]: r["chosen"] for r in placement["reasons"]} == {"leonardo-a": False, "jupiter-a": True}
    assert out["expected_end_at"] >= out["expected_start_at"]


def test_submit_yaml_text(api, fed):
    out = api.post("/jobs", {"spec": YAML}).json()
    job = Job.objects.get(uid=out["uid"])
    assert job.env == {"GREETING": "hello; $(rm -rf /)"}
    assert (out["image"], out["inputs"], out["outputs"]) == (
        "docker://nvcr.io/nvidia/pytorch:24.05-py3", ["/data/tokens"], ["checkpoints"])
    assert job.script == 'set -e\necho "$GREETING"\n'
    assert job.spec["resources"]["time_limit"] == 900


def test_submit_json_text_for_an_allocation(api, fed):
    out = api.post("/jobs", {"spec": json.dumps(job_spec()), "allocation": fed.on_leonardo.pk}).json()
    assert out["site"] == "leonardo-a"


def test_submit_for_a_named_organisation(api, fed, user):
    OrganisationFactory(members=[user])  # alice now belongs to two
    answer = assert_refused(api.post("/jobs", {"spec": job_spec()}), 400)
    assert "several organisations" in answer["message"] and answer["detail"] == {"field": "organisation"}
    out = api.post("/jobs", {"spec": job_spec(), "organisation": fed.organisation.pk})
    assert out.status_code == 201


def test_someone_without_an_organisation(other_api, fed):
    assert "no organisation" in assert_refused(other_api.post("/jobs", {"spec": job_spec()}), 409)["message"]


def test_another_organisation_is_not_there(other_api, api, fed, other_user):
    theirs = OrganisationFactory(members=[other_user])
    assert_refused(api.post("/jobs", {"spec": job_spec(), "organisation": theirs.pk}), 404)
    assert_refused(other_api.post("/jobs", {"spec": job_spec(), "organisation": fed.organisation.pk}), 404)
    assert_refused(other_api.post("/jobs", {"spec": job_spec(), "allocation": fed.on_jupiter.pk}), 404)
    assert not Job.objects.exists()


def test_the_reasons_of_a_refusal(api, fed):
    answer = assert_refused(api.post("/jobs", {"spec": job_spec(gpu="MI250X")}), 400)
    assert "no machine can take this job" in answer["message"]
    assert [r["site"] for r in answer["detail"]["reasons"]] == ["leonardo-a", "jupiter-a"]
    assert all("MI250X" in r["reason"] for r in answer["detail"]["reasons"])


@pytest.mark.parametrize(("spec", "field"), [
    ({"name": "x"}, "resources"),
    (job_spec() | {"name": "bad name"}, "name"),
    (job_spec() | {"extra": 1}, "extra"),
    (job_spec(time_limit="forever"), "resources.time_limit"),
    (job_spec(gpus_per_node=0), "resources.gpus_per_node"),
    (job_spec() | {"env": {"A": 1}}, "env.A"),
    (job_spec() | {"env": {"LD_PRELOAD": "x"}}, "env.LD_PRELOAD"),
    (job_spec() | {"image": "docker://x;id"}, "image"),
    (job_spec() | {"inputs": ["../etc"]}, "inputs[0]"),
    (job_spec() | {"outputs": ["/etc/passwd"]}, "outputs[0]"),
    (job_spec() | {"commands": []}, "commands"),
    ("name: [", "spec"),
    ("{", "spec"),
    ("a: &x 1\nb: *x", "spec"),
])
def test_bad_specs_are_refused_naming_the_field(api, fed, spec, field):
    answer = assert_refused(api.post("/jobs", {"spec": spec}), 400)
    assert answer["detail"] == {"field": field}
    assert answer["message"].startswith(field)
    assert not Job.objects.exists()


@pytest.mark.parametrize(("body", "words"), [
    ({"spec": job_spec(), "script": "true"}, "not both"),
    ({"spec": job_spec(), "name": "x"}, "not both"),
    ({"spec": job_spec(), "organisation": 1, "allocation": 1}, "not both"),
    ({"name": "x", "script": "true", "organisation": 1, "allocation": 1}, "organisation"),
    ({}, "allocation"),
    ({"spec": 3}, "spec"),
    ({"spec": ["name: x"]}, "spec"),
    ({"spec": "x\x00"}, "spec"),
    ({"spec": job_spec(), "organisation": "mine"}, "organisation"),
])
def test_bodies_that_are_not_one_form_or_the_other(api, fed, body, words):
    assert words in assert_refused(api.post("/jobs", body), 422)["message"]


def test_list_filters_and_reads(api, fed):
    first = api.post("/jobs", {"spec": job_spec(name="one")}).json()
    second = api.post("/jobs", {"spec": job_spec(name="two")}).json()
    api.post(f"/jobs/{first['uid']}/cancel")
    assert [j["name"] for j in api.get("/jobs", state="open").json()] == ["two"]
    assert [j["name"] for j in api.get("/jobs", state="finished").json()] == ["one"]
    assert [j["name"] for j in api.get("/jobs", state="cancelled").json()] == ["one"]
    assert {j["name"] for j in api.get("/jobs").json()} == {"one", "two"}
    assert [j["name"] for j in api.get("/jobs", limit=1).json()] == ["two"]
    assert api.get("/jobs", organisation=fed.organisation.pk + 1).json() == []
    assert api.get(f"/jobs/{second['uid']}").json()["placements"][0]["reasons"]
    for params in ({"state": "exploded"}, {"limit": 0}, {"limit": 501}, {"organisation": "x"}):
        assert_refused(api.get("/jobs", **params), 422)


def test_jobs_of_another_organisation_are_invisible(api, other_api, fed):
    uid = api.post("/jobs", {"spec": job_spec()}).json()["uid"]
    assert other_api.get("/jobs").json() == []
    assert_refused(other_api.get(f"/jobs/{uid}"), 404)
    assert_refused(other_api.post(f"/jobs/{uid}/cancel"), 404)
    assert_refused(other_api.get(f"/jobs/{uid}/logs"), 404)


def test_a_site_token_is_not_a_persons(fed):
    from tests.conftest import ApiClient

    site = ApiClient(fed.jupiter.token)
    assert_refused(site.post("/jobs", {"spec": job_spec()}), 401)
    assert_refused(site.get("/jobs"), 401)
