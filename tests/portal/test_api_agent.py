"""/agent/*: the protocol a site's agent speaks with its own token, and the walls between sites."""

from __future__ import annotations

import pytest

from aifactory.portal.allocations.models import Allocation, ProvisioningOrder, UsageCharge
from aifactory.portal.federation.models import Site
from aifactory.portal.jobs.models import Job
from tests.conftest import AllocationFactory, ApiClient, JobFactory, assert_refused

pytestmark = pytest.mark.django_db

UID0 = "0" * 32


@pytest.fixture
def other_site(make_site):
    return make_site(name="leonardo-b")


@pytest.fixture
def other_site_api(other_site):
    return ApiClient(other_site.token)


# --- heartbeat ----------------------------------------------------------------------------------------------------


def test_heartbeat_records_the_site_alive(site_api, site):
    response = site_api.post("/agent/heartbeat", {"queue_wait_s": 12.5, "backend": "local"})
    assert response.status_code == 204
    fresh = Site.objects.get(pk=site.site.pk)
    assert fresh.last_seen_at is not None
    assert fresh.queue_wait_s == 12.5


@pytest.mark.parametrize(
    "body",
    [
        {"queue_wait_s": -1},
        {"queue_wait_s": "soon"},
        {"queue_wait_s": 1e300},
        {"backend": "b" * 21},
        {"backend": "lo\x00cal"},
        {"backend": 7},
    ],
)
def test_heartbeat_refuses_bad_input(site_api, site, body):
    assert_refused(site_api.post("/agent/heartbeat", body), 422)
    assert Site.objects.get(pk=site.site.pk).last_seen_at is None


def test_heartbeat_refuses_malformed_json(site_api):
    assert_refused(site_api.post("/agent/heartbeat", raw="{"), 400)


# --- provisioning orders --------------------------------------------------------------------------------------------


@pytest.fixture
def pending_allocation(organisation):
    return AllocationFactory(application__organisation=organisation, application__requested_gpu_hours=50,
                             provisioned=False)


def test_orders_are_listed_and_completed(site_api, site, pending_allocation):
    orders = site_api.get("/agent/orders").json()
    assert orders == [{"id": orders[0]["id"], "account": pending_allocation.account, "gpu_minutes": 3000}]
    response = site_api.post(f"/agent/orders/{orders[0]['id']}", {"ok": True, "message": "ready"})
    assert response.status_code == 204
    assert ProvisioningOrder.objects.get().state == "done"
    assert site_api.get("/agent/orders").json() == []
    again = site_api.post(f"/agent/orders/{orders[0]['id']}", {"ok": True, "message": "ready"})
    assert again.status_code == 204  # repeated after a crash: harmless


def test_a_failed_order_cannot_turn_done(site_api, pending_allocation):
    order = ProvisioningOrder.objects.get()
    assert site_api.post(f"/agent/orders/{order.pk}", {"ok": False, "message": "no such QOS"}).status_code == 204
    assert ProvisioningOrder.objects.get().message == "no such QOS"
    assert_refused(site_api.post(f"/agent/orders/{order.pk}", {"ok": True}), 409)


@pytest.mark.parametrize("body", [{}, {"ok": "perhaps"}, {"ok": True, "message": "m" * 2001},
                                  {"ok": True, "message": "a\x00b"}])
def test_order_done_refuses_bad_input(site_api, pending_allocation, body):
    order = ProvisioningOrder.objects.get()
    assert_refused(site_api.post(f"/agent/orders/{order.pk}", body), 422)
    assert ProvisioningOrder.objects.get().state == "pending"


@pytest.mark.parametrize("order_id", ["424242", "99999999999999999999999999", "-1", "first"])
def test_order_done_refuses_orders_that_are_not_there(site_api, pending_allocation, order_id):
    assert_refused(site_api.post(f"/agent/orders/{order_id}", {"ok": True}), (404, 422))


def test_a_site_sees_and_completes_only_its_own_orders(site_api, pending_allocation, other_site_api):
    # The allocation was made before leonardo-b existed: only leonardo-a has an order.
    order = ProvisioningOrder.objects.get()
    assert other_site_api.get("/agent/orders").json() == []
    assert_refused(other_site_api.post(f"/agent/orders/{order.pk}", {"ok": True}), 404)
    assert ProvisioningOrder.objects.get().state == "pending"


# --- jobs -------------------------------------------------------------------------------------------------------------


def test_open_jobs_for_the_site(site_api, allocation):
    job = JobFactory(allocation=allocation, env={"EPOCHS": "2"}, gpus=2, time_limit_s=900)
    JobFactory(allocation=allocation, state="completed")
    listed = site_api.get("/agent/jobs").json()
    assert listed == [{
        "uid": job.uid, "name": job.name, "account": allocation.account, "gpus": 2, "nodes": 1, "time_limit_s": 900,
        "script": job.script, "env": {"EPOCHS": "2"}, "image": "", "inputs": [], "outputs": [], "state": "pending",
        "cancel_requested": False, "scheduler_id": "", "user": "", "lease_s": 0,
    }]


def test_report_moves_the_job_and_charges_at_the_end(site_api, allocation):
    job = JobFactory(allocation=allocation, gpus=2, time_limit_s=600)
    running = {"state": "running", "scheduler_id": "4242", "started_at": "2026-01-15T10:00:00+00:00"}
    assert site_api.post(f"/agent/jobs/{job.uid}", running).status_code == 204
    job.refresh_from_db()
    assert (job.state, job.scheduler_id) == ("running", "4242")
    done = {"state": "completed", "scheduler_id": "4242", "exit_code": 0, "gpu_seconds": 240.0,
            "ended_at": "2026-01-15T10:02:00+00:00", "log_tail": "loss 0.1\n"}
    assert site_api.post(f"/agent/jobs/{job.uid}", done).status_code == 204
    job.refresh_from_db()
    assert (job.state, job.exit_code, job.gpu_seconds, job.log_tail) == ("completed", 0, 240.0, "loss 0.1\n")
    assert Allocation.objects.get(pk=allocation.pk).gpu_seconds_used == 240.0
    assert site_api.get("/agent/jobs").json() == []


def test_output_with_nul_bytes_is_kept_without_them(site_api, allocation):
    job = JobFactory(allocation=allocation, state="running")
    body = {"state": "failed", "exit_code": 1, "log_tail": "bin\x00ary\n", "message": "crash\x00"}
    assert site_api.post(f"/agent/jobs/{job.uid}", body).status_code == 204
    job.refresh_from_db()
    assert (job.log_tail, job.message) == ("binary\n", "crash")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"state": "exploded"},
        {"state": "running", "exit_code": 256},
        {"state": "running", "exit_code": "zero"},
        {"state": "running", "gpu_seconds": -1},
        {"state": "running", "gpu_seconds": "lots"},
        {"state": "running", "started_at": "yesterday"},
        {"state": "running", "scheduler_id": "s" * 65},
        {"state": "running", "scheduler_id": "1\x00"},
        {"state": "running", "message": "m" * 2001},
    ],
)
def test_report_refuses_bad_input(site_api, allocation, body):
    job = JobFactory(allocation=allocation)
    assert_refused(site_api.post(f"/agent/jobs/{job.uid}", body), 422)
    job.refresh_from_db()
    assert job.state == "pending"


@pytest.mark.parametrize("gpu_seconds", [1e9, 1e300])
def test_report_refuses_usage_the_job_cannot_have_had(site_api, allocation, gpu_seconds):
    job = JobFactory(allocation=allocation, state="running", gpus=1, time_limit_s=600)
    answer = assert_refused(site_api.post(f"/agent/jobs/{job.uid}", {"state": "completed", "gpu_seconds": gpu_seconds}),
                            400)
    assert "gpu_seconds" in answer["message"]
    assert not UsageCharge.objects.exists()


@pytest.mark.parametrize("uid", [UID0, "not-a-uid", "%00", "F" * 32])
def test_report_on_jobs_that_are_not_there(site_api, allocation, uid):
    assert_refused(site_api.post(f"/agent/jobs/{uid}", {"state": "running"}), 404)


def test_a_site_cannot_see_report_on_or_finish_another_sites_jobs(site_api, other_site_api, allocation):
    job = JobFactory(allocation=allocation, state="running")
    assert job.site.name == "leonardo-a"
    assert other_site_api.get("/agent/jobs").json() == []
    for state in ("completed", "failed", "cancelled", "running"):
        assert_refused(other_site_api.post(f"/agent/jobs/{job.uid}", {"state": state, "gpu_seconds": 1}), 404)
    job.refresh_from_db()
    assert job.state == "running"
    assert not UsageCharge.objects.exists()


def test_report_backwards_is_a_conflict(site_api, allocation):
    job = JobFactory(allocation=allocation, state="running")
    answer = assert_refused(site_api.post(f"/agent/jobs/{job.uid}", {"state": "pending"}), 409)
    assert "pending" in answer["message"]
    done = JobFactory(allocation=allocation, state="completed")
    assert_refused(site_api.post(f"/agent/jobs/{done.uid}", {"state": "running"}), 409)


def test_jobs_go_only_to_a_site_that_provisioned_the_account(api, site, make_site, organisation):
    """Two sites in front of one machine: the job goes to the one whose provisioning order is done."""
    first = site
    second = make_site(name="leonardo-b")
    allocation = AllocationFactory(application__organisation=organisation, provisioned=False)
    assert ProvisioningOrder.objects.filter(allocation=allocation).count() == 2
    ApiClient(second.token).post(
        f"/agent/orders/{ProvisioningOrder.objects.get(site=second.site).pk}", {"ok": True}
    )
    out = api.post("/jobs", {"allocation": allocation.pk, "name": "t", "script": "true"}).json()
    assert out["site"] == "leonardo-b"
    assert ApiClient(first.token).get("/agent/jobs").json() == []
    assert [j["uid"] for j in ApiClient(second.token).get("/agent/jobs").json()] == [out["uid"]]
    assert Job.objects.get().site == second.site
