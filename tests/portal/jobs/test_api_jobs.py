"""/jobs: submit (with the allocation's limits enforced), list, read one, cancel, logs."""

from __future__ import annotations

import pytest

from aifactory.portal.allocations.services import allocation_charge
from aifactory.portal.jobs.models import Job
from tests.conftest import (
    AllocationFactory,
    ApplicationFactory,
    JobFactory,
    OrganisationFactory,
    UserFactory,
    assert_refused,
    login,
    machine,
)
from tests.federation import job_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def body(allocation):
    return {"allocation": allocation.pk, "name": "train-1", "script": "echo hello\n", "gpus": 2,
            "time_limit_s": 600, "env": {"EPOCHS": "3", "MODEL_NAME": "tiny; rm -rf / $(x)"}}


def test_submit_read_list(api, body, site):
    response = api.post("/jobs", body)
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["state"] == "pending"
    assert out["site"] == site.site.name
    assert out["machine"] == "leonardo"
    assert len(out["uid"]) == 32
    job = Job.objects.get(uid=out["uid"])
    assert job.env == body["env"] and job.script == body["script"]
    assert api.get(f"/jobs/{out['uid']}").json()["name"] == "train-1"
    assert [j["uid"] for j in api.get("/jobs").json()] == [out["uid"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"allocation": "first"}, "allocation"),
        ({"name": ""}, "name"),
        ({"name": "bad name"}, "name"),
        ({"name": "-starts-with-dash"}, "name"),
        ({"name": "semi;colon"}, "name"),
        ({"name": "n" * 65}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"script": ""}, "script"),
        ({"script": "   \n\t "}, "script"),
        ({"script": "echo \x00"}, "script"),
        ({"script": "x" * 65537}, "script"),
        ({"script": ["echo"]}, "script"),
        ({"gpus": -1}, "gpus"),
        ({"gpus": 1025}, "gpus"),
        ({"gpus": "two"}, "gpus"),
        ({"gpus": 10**30}, "gpus"),
        ({"time_limit_s": 59}, "time_limit_s"),
        ({"time_limit_s": 7 * 86400 + 1}, "time_limit_s"),
        ({"time_limit_s": "1h"}, "time_limit_s"),
        ({"time_limit_s": 1e400}, "time_limit_s"),
        ({"env": {"A;B": "x"}}, "env"),
        ({"env": {"1ABC": "x"}}, "env"),
        ({"env": {"A B": "x"}}, "env"),
        ({"env": {"": "x"}}, "env"),
        ({"env": {"A\x00": "x"}}, "env"),
        ({"env": {"A": "x\x00y"}}, "env"),
        ({"env": {"A": 3}}, "env"),
        ({"env": {"A": "v" * 4097}}, "env"),
        ({"env": {f"V{i}": "x" for i in range(65)}}, "env"),
        ({"env": ["A=1"]}, "env"),
    ],
)
def test_submit_refuses_bad_fields(api, body, change, field):
    answer = assert_refused(api.post("/jobs", {**body, **change}), (400, 422))
    assert field in answer["message"]
    assert not Job.objects.exists()


@pytest.mark.parametrize("missing", ["allocation", "name", "script"])
def test_submit_refuses_missing_fields(api, body, missing):
    del body[missing]
    assert missing in assert_refused(api.post("/jobs", body), 422)["message"]


@pytest.mark.parametrize("raw", ["{", "[]", '{"allocation": }', "0"])
def test_submit_refuses_malformed_json(api, allocation, raw):
    assert_refused(api.post("/jobs", raw=raw), (400, 422))


@pytest.mark.parametrize(("allocation_id", "status"), [(424242, 404), (0, 404), (-1, 404), (2**63 - 1, 404),
                                                      (2**63, 422), (10**30, 422)])
def test_submit_to_an_allocation_that_is_not_there(api, body, allocation_id, status):
    """An id past the databases' 64-bit range is not an id: 422 naming the field."""
    refusal = assert_refused(api.post("/jobs", {**body, "allocation": allocation_id}), status)
    assert status == 404 or refusal["detail"][0]["field"] == "allocation"


@pytest.mark.parametrize("org_id", [2**63, 2**64, -(2**63) - 1, "9" * 5000])
def test_listing_jobs_of_an_organisation_past_the_id_range_is_refused(api, allocation, org_id):
    refusal = assert_refused(api.get("/jobs", organisation=org_id), 422)
    assert refusal["detail"][0]["field"] == "organisation"


def test_submit_to_another_organisations_allocation(other_api, body):
    assert_refused(other_api.post("/jobs", body), 404)
    assert not Job.objects.exists()


def test_more_gpus_than_the_machine_has(api, make_site, organisation):
    make_site(name="deucalion-a", machine_key="deucalion")
    small = AllocationFactory(application=ApplicationFactory(organisation=organisation, machine=machine("deucalion")))
    answer = assert_refused(api.post("/jobs", {"allocation": small.pk, "name": "big", "script": "true", "gpus": 200,
                                               "time_limit_s": 60}), 400)
    assert "132 GPUs" in answer["message"]


# --- enforcement ------------------------------------------------------------------------------------------------------


def test_a_job_that_could_use_more_than_is_left_is_refused(api, body, allocation):
    # 100 GPU-hours granted = 360,000 GPU-seconds.
    answer = assert_refused(api.post("/jobs", {**body, "gpus": 100, "time_limit_s": 3601}), 400)
    assert "GPU-hours" in answer["message"]
    assert answer["detail"]["left_gpu_hours"] == pytest.approx(100)
    assert api.post("/jobs", {**body, "gpus": 100, "time_limit_s": 3600}).status_code == 201  # exactly what is left


def test_open_jobs_reserve_their_gpu_hours(api, body, allocation):
    first = api.post("/jobs", {**body, "gpus": 50, "time_limit_s": 3600})  # reserves 50 GPU-hours
    assert first.status_code == 201
    answer = assert_refused(api.post("/jobs", {**body, "gpus": 51, "time_limit_s": 3600}), 400)
    assert answer["detail"]["left_gpu_hours"] == pytest.approx(50)
    assert api.post("/jobs", {**body, "gpus": 50, "time_limit_s": 3600}).status_code == 201


def test_usage_counts_and_finished_jobs_release_their_reservation(api, body, allocation):
    done = JobFactory(allocation=allocation, gpus=100, time_limit_s=3600, state="completed")
    allocation_charge(allocation=allocation, job=done, gpu_seconds=90 * 3600)  # 90 GPU-hours used
    answer = assert_refused(api.post("/jobs", {**body, "gpus": 11, "time_limit_s": 3600}), 400)
    assert answer["detail"]["left_gpu_hours"] == pytest.approx(10)
    assert api.post("/jobs", {**body, "gpus": 10, "time_limit_s": 3600}).status_code == 201


def test_a_job_before_the_account_is_provisioned_is_refused(api, organisation, site):
    waiting = AllocationFactory(application__organisation=organisation, provisioned=False)
    answer = assert_refused(api.post("/jobs", {"allocation": waiting.pk, "name": "early", "script": "true"}), 409)
    assert "provisioned" in answer["message"]
    assert not Job.objects.exists()


# --- reading, cancelling, logs ---------------------------------------------------------------------------------------


def test_another_organisations_jobs_are_not_there(api, other_api, allocation, other_user):
    mine = JobFactory(allocation=allocation)
    theirs = JobFactory(allocation__application__organisation=OrganisationFactory(members=[other_user]))
    assert [j["uid"] for j in api.get("/jobs").json()] == [mine.uid]
    for path in (f"/jobs/{theirs.uid}", f"/jobs/{theirs.uid}/logs"):
        assert_refused(api.get(path), 404)
    assert_refused(api.post(f"/jobs/{theirs.uid}/cancel"), 404)
    theirs.refresh_from_db()
    assert theirs.state == "pending" and not theirs.cancel_requested
    assert_refused(other_api.get(f"/jobs/{mine.uid}"), 404)


@pytest.mark.parametrize("uid", ["0" * 32, "nope", "A" * 32, "%00", "x" * 300])
def test_job_paths_refuse_uids_that_are_not_there(api, allocation, uid):
    for path in (f"/jobs/{uid}", f"/jobs/{uid}/logs"):
        assert_refused(api.get(path), 404)
    assert_refused(api.post(f"/jobs/{uid}/cancel"), 404)


def test_cancel_a_pending_job_cancels_it_at_once(api, allocation):
    job = JobFactory(allocation=allocation)
    out = api.post(f"/jobs/{job.uid}/cancel").json()
    assert out["state"] == "cancelled"
    assert "before it reached the site" in out["message"]


def test_cancel_a_running_job_asks_the_site(api, allocation):
    job = JobFactory(allocation=allocation, state="running")
    out = api.post(f"/jobs/{job.uid}/cancel").json()
    assert out["state"] == "running"
    assert out["cancel_requested"] is True


@pytest.mark.parametrize("state", ["completed", "failed", "cancelled"])
def test_cancel_a_finished_job_is_a_conflict(api, allocation, state):
    job = JobFactory(allocation=allocation, state=state)
    assert state in assert_refused(api.post(f"/jobs/{job.uid}/cancel"), 409)["message"]


def test_logs(api, allocation):
    job = JobFactory(allocation=allocation, state="running", log_tail="epoch 1\nloss 0.42\n")
    assert api.get(f"/jobs/{job.uid}/logs").json() == {"uid": job.uid, "log": "epoch 1\nloss 0.42\n"}


def test_staff_read_every_organisation_but_submit_only_for_their_own(api_for, body, allocation, organisation):
    """One rule for the API and the pages: members act for an organisation; staff read every one."""
    staff = UserFactory(username="root", is_staff=True)
    staff_api = api_for(staff)
    assert staff_api.get(f"/allocations/{allocation.pk}").status_code == 200
    refused = assert_refused(staff_api.post("/jobs", body), 403)
    assert refused["detail"]["field"] == "organisation"
    spec = {"spec": job_spec(), "organisation": organisation.pk}
    assert_refused(staff_api.post("/jobs", spec), 403)
    assert Job.objects.count() == 0
    page = login(staff).get("/jobs/new/", follow=True)
    assert "Apply for an allocation first." in page.content.decode()
    organisation.members.add(staff)
    assert staff_api.post("/jobs", body).status_code == 201
