"""Failover: waiting jobs on a site whose agent stopped reporting move to another site, keep their uid, and the site
they left is told to cancel its copy; reports from it are answered Gone; a copy's usage is charged once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.errors import BadRequest, Gone, NotFound
from aifactory.portal.federation.models import Site
from aifactory.portal.federation.services import site_heartbeat
from aifactory.portal.jobs.failover import jobs_failover
from aifactory.portal.jobs.models import Job, JobRevocation
from aifactory.portal.jobs.services import job_apply_report, job_cancel, job_revocation_done
from tests.conftest import assert_refused
from tests.federation import Federation, make_federation

pytestmark = pytest.mark.django_db


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


def on_jupiter(fed: Federation, state: str = "pending") -> Job:
    job = fed.submit()
    assert job.site.name == "jupiter-a"
    if state != "pending":
        job_apply_report(site=fed.jupiter.site, uid=job.uid, state=JobState(state), scheduler_id="17")
    return Job.objects.get(pk=job.pk)


@pytest.mark.parametrize("state", ["pending", "submitted"])
def test_a_waiting_job_on_a_lost_site_moves(fed, state):
    job = on_jupiter(fed, state)
    fed.lost(fed.jupiter)
    result = jobs_failover()
    assert [(m.uid, m.from_site, m.to_site, m.account) for m in result.moved] == [
        (job.uid, "jupiter-a", "leonardo-a", fed.on_leonardo.account)]
    moved = Job.objects.get(pk=job.pk)
    assert (moved.uid, moved.site.name, moved.allocation, moved.state) == (
        job.uid, "leonardo-a", fed.on_leonardo, "pending")
    assert moved.scheduler_id == "" and "moved from jupiter-a" in moved.message
    first, second = moved.placements.all()
    assert (first.site.name, first.cause) == ("jupiter-a", "submitted")
    assert second.site.name == "leonardo-a" and second.cause.startswith("moved from jupiter-a")
    why = {r["site"]: r["reason"] for r in second.reasons}
    assert why["jupiter-a"] == "the job moved away from this site before"
    assert why["leonardo-a"].startswith("chosen")
    revocation = JobRevocation.objects.get(job=job)
    assert (revocation.site.name, revocation.allocation, revocation.done_at) == (
        "jupiter-a", fed.on_jupiter, None)
    assert jobs_failover().moved == []  # once


@pytest.mark.parametrize("state", ["running", "completed", "failed", "cancelled"])
def test_a_job_that_started_or_ended_never_moves(fed, state):
    job = on_jupiter(fed, state if state != "cancelled" else "submitted")
    if state == "cancelled":
        job_apply_report(site=fed.jupiter.site, uid=job.uid, state=JobState.CANCELLED)
    fed.lost(fed.jupiter)
    assert jobs_failover().moved == []
    assert Job.objects.get(pk=job.pk).site.name == "jupiter-a"
    assert not JobRevocation.objects.exists()


def test_a_site_that_reports_keeps_its_jobs(fed):
    job = on_jupiter(fed)
    assert jobs_failover().moved == []
    assert Job.objects.get(pk=job.pk).site.name == "jupiter-a"


def test_with_nowhere_to_go_the_job_stays(fed):
    job = on_jupiter(fed)
    fed.lost(fed.jupiter, fed.leonardo)
    result = jobs_failover()
    assert result.moved == [] and job.uid in result.stuck
    assert Job.objects.get(pk=job.pk).site.name == "jupiter-a"


def test_a_job_goes_where_it_fits(fed):
    job = fed.submit(gpu="GH200")
    fed.lost(fed.jupiter)
    result = jobs_failover()
    assert result.moved == [] and "GPU type A100" in result.stuck[job.uid]


def test_the_usage_reserved_moves_with_the_job(fed):
    Allocation.objects.filter(pk=fed.on_leonardo.pk).update(gpu_seconds_used=99.5 * 3600)  # half an hour left
    job = fed.submit(gpus_per_node=4, time_limit="1h")  # 4 GPU-hours: only JUPITER
    fed.lost(fed.jupiter)
    assert job.uid in jobs_failover().stuck
    Allocation.objects.filter(pk=fed.on_leonardo.pk).update(gpu_seconds_used=0)
    assert [m.uid for m in jobs_failover().moved] == [job.uid]
    left = {a.pk: a for a in Allocation.objects.all()}
    assert left[fed.on_leonardo.pk].jobs.filter(state="pending").count() == 1
    assert left[fed.on_jupiter.pk].jobs.count() == 0


def test_a_job_never_goes_back_to_a_site_it_left(fed):
    job = on_jupiter(fed)
    fed.lost(fed.jupiter)
    jobs_failover()
    fed.alive(fed.jupiter)
    fed.lost(fed.leonardo)
    result = jobs_failover()
    assert result.moved == [] and "moved away from this site" in result.stuck[job.uid]


def test_a_cancel_asked_while_the_site_is_lost_is_done_by_failover(fed):
    job = on_jupiter(fed, "submitted")
    job_cancel(job=job, user=job.submitted_by)
    fed.lost(fed.jupiter)
    result = jobs_failover()
    assert result.cancelled == [job.uid] and result.moved == []
    job.refresh_from_db()
    assert job.state == "cancelled" and "cancels its copy" in job.message
    assert JobRevocation.objects.get(job=job).site.name == "jupiter-a"


def test_cancelling_a_pending_job_revokes_the_sites_copy(fed):
    job = on_jupiter(fed)
    job_cancel(job=job, user=job.submitted_by)
    assert JobRevocation.objects.get(job=job).reason == "cancelled before the site reported it"


# --- the site that lost the job -------------------------------------------------------------------------------------


def test_reports_from_the_site_the_job_left_are_gone(fed):
    job = on_jupiter(fed, "submitted")
    fed.lost(fed.jupiter)
    jobs_failover()
    for state in (JobState.RUNNING, JobState.SUBMITTED, JobState.COMPLETED):
        with pytest.raises(Gone):
            job_apply_report(site=fed.jupiter.site, uid=job.uid, state=state)
    job.refresh_from_db()
    assert (job.state, job.site.name) == ("pending", "leonardo-a")
    job_apply_report(site=fed.leonardo.site, uid=job.uid, state=JobState.RUNNING)  # its new site may
    assert Job.objects.get(pk=job.pk).state == "running"


def test_gone_through_the_agent_api(fed):
    from tests.conftest import ApiClient

    job = on_jupiter(fed, "submitted")
    fed.lost(fed.jupiter)
    jobs_failover()
    jupiter = ApiClient(fed.jupiter.token)
    body = assert_refused(jupiter.post(f"/agent/jobs/{job.uid}", {"state": "running"}), 410)
    assert body["detail"] == {"revoked": True}
    assert jupiter.get("/agent/jobs").json() == []
    assert jupiter.get("/agent/revocations").json() == [
        {"uid": job.uid, "account": fed.on_jupiter.account, "reason": "moved to leonardo-a"}]
    assert ApiClient(fed.leonardo.token).get("/agent/revocations").json() == []
    assert [j["uid"] for j in ApiClient(fed.leonardo.token).get("/agent/jobs").json()] == [job.uid]


def test_revocation_done_charges_the_copy_once(fed):
    job = on_jupiter(fed, "submitted")
    fed.lost(fed.jupiter)
    jobs_failover()
    done = job_revocation_done(site=fed.jupiter.site, uid=job.uid, found=True, state="cancelled", scheduler_id="17",
                               gpu_seconds=12.0)
    assert done.done_at is not None and done.found and done.state == "cancelled" and not done.released
    job_revocation_done(site=fed.jupiter.site, uid=job.uid, found=True, state="cancelled", gpu_seconds=99.0)
    assert Allocation.objects.get(pk=fed.on_jupiter.pk).gpu_seconds_used == 12.0
    assert Allocation.objects.get(pk=fed.on_leonardo.pk).gpu_seconds_used == 0.0
    from tests.conftest import ApiClient

    assert ApiClient(fed.jupiter.token).get("/agent/revocations").json() == []


def test_revocation_done_refusals(fed):
    job = on_jupiter(fed)
    with pytest.raises(NotFound):
        job_revocation_done(site=fed.jupiter.site, uid=job.uid, found=False)  # nothing to revoke
    fed.lost(fed.jupiter)
    jobs_failover()
    with pytest.raises(NotFound):
        job_revocation_done(site=fed.leonardo.site, uid=job.uid, found=False)  # not this site's revocation
    with pytest.raises(NotFound):
        job_revocation_done(site=fed.jupiter.site, uid="nope", found=False)
    with pytest.raises(BadRequest):
        job_revocation_done(site=fed.jupiter.site, uid=job.uid, found=True, gpu_seconds=1e9)
    with pytest.raises(BadRequest):
        job_revocation_done(site=fed.jupiter.site, uid=job.uid, found=True, state="exploded")


@pytest.mark.parametrize(("body", "status"), [
    ({}, 422), ({"found": "maybe"}, 422), ({"found": True, "gpu_seconds": -1}, 422),
    ({"found": True, "state": "exploded"}, 422), ({"found": True, "message": "x" * 2001}, 422),
])
def test_revocation_done_api_validates(fed, body, status):
    from tests.conftest import ApiClient

    job = on_jupiter(fed)
    fed.lost(fed.jupiter)
    jobs_failover()
    assert_refused(ApiClient(fed.jupiter.token).post(f"/agent/revocations/{job.uid}", body), status)


def test_people_tokens_cannot_use_the_agent_api_and_site_tokens_not_the_people_api(fed, api):
    from tests.conftest import ApiClient

    for path in ("/agent/jobs", "/agent/revocations"):
        assert_refused(api.get(path), 401)
    assert_refused(api.post("/agent/revocations/" + "0" * 32, {"found": False}), 401)
    site = ApiClient(fed.jupiter.token)
    for path in ("/jobs", "/notices", "/allocations"):
        assert_refused(site.get(path), 401)
    assert_refused(site.post("/jobs", {"spec": {}}), 401)


def test_a_job_kept_on_its_allocation_moves_only_among_its_sites(fed, make_site):
    from aifactory.core.jobspec import spec_from_dict
    from aifactory.portal.allocations.models import ProvisioningOrder
    from aifactory.portal.jobs.services import job_submit, job_submit_spec
    from tests.federation import job_spec

    pinned = job_submit_spec(user=fed.user, spec=spec_from_dict(job_spec()), allocation=fed.on_jupiter)
    script = job_submit(user=fed.user, allocation=fed.on_jupiter, name="s", script="true", gpus=1, time_limit_s=600)
    assert pinned.pinned and script.pinned and not fed.submit().pinned
    fed.lost(fed.jupiter)
    result = jobs_failover()
    assert {pinned.uid, script.uid} <= set(result.stuck)
    second = make_site(name="jupiter-b", machine_key="jupiter")
    ProvisioningOrder.objects.create(allocation=fed.on_jupiter, site=second.site, state="done")
    fed.alive(second)
    moved = {m.uid: m.to_site for m in jobs_failover().moved}
    assert moved == {pinned.uid: "jupiter-b", script.uid: "jupiter-b"}


def test_the_job_shows_where_it_left_a_copy(fed, api, client, user):
    job = on_jupiter(fed, "submitted")
    fed.lost(fed.jupiter)
    jobs_failover()
    [revocation] = api.get(f"/jobs/{job.uid}").json()["revocations"]
    assert (revocation["site"], revocation["done_at"], revocation["reason"]) == ("jupiter-a", None,
                                                                                 "moved to leonardo-a")
    client.force_login(user)
    page = client.get(f"/jobs/{job.uid}/").content.decode()
    assert "Copies left at other sites: jupiter-a" in page and "moved 1 time" in page


def test_a_portal_outage_does_not_make_a_site_lost(fed):
    """The portal was down for longer than AGENT_STALE_AFTER_S: no agent could report, but the failover worker (on the
    database) kept running. The first agent to report again must not take the jobs of a site whose agent has simply
    not reported yet: that site's silence counts from when the portal was reachable again."""
    job = on_jupiter(fed)
    fed.lost(fed.jupiter, fed.leonardo)  # nobody reached the portal
    assert jobs_failover().moved == []  # and nobody is alive to take anything
    site_heartbeat(site=fed.leonardo.site, queue_wait_s=0.0, backend="local")  # back: leonardo's agent reports first
    assert jobs_failover().moved == []
    assert Job.objects.get(pk=job.pk).site.name == "jupiter-a"
    # jupiter's agent stays silent for AGENT_STALE_AFTER_S more after the portal came back: now it is lost.
    Site.objects.filter(pk=fed.jupiter.site.pk).update(
        silence_counted_from=timezone.now() - timedelta(seconds=settings.AGENT_STALE_AFTER_S + 1))
    assert [m.uid for m in jobs_failover().moved] == [job.uid]


def test_one_site_silent_while_others_report_is_lost_at_once(fed):
    """Only a silence of every site is taken for the portal's: while leonardo kept reporting, jupiter's silence
    counts from its last report."""
    job = on_jupiter(fed)
    fed.lost(fed.jupiter)
    site_heartbeat(site=fed.leonardo.site, queue_wait_s=0.0, backend="local")
    assert Site.objects.get(pk=fed.jupiter.site.pk).silence_counted_from is None
    assert [m.uid for m in jobs_failover().moved] == [job.uid]
