"""Every move of a job's state records one JobStateChange through its service: who (the person, the site's agent, or
the portal), from, to and why; a refused move records nothing. The job page shows the history."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aifactory.core.exceptions import InvalidTransition
from aifactory.core.jobs import JobState
from aifactory.portal.jobs.failover import jobs_failover
from aifactory.portal.jobs.models import Job, JobStateChange
from aifactory.portal.jobs.services import job_apply_report, job_cancel, job_move
from tests.conftest import JobFactory, login
from tests.federation import Federation, job_spec, make_federation
from tests.portal.jobs.test_services_failover import on_jupiter
from tests.state_edges import JOB_EDGES, allowed

pytestmark = pytest.mark.django_db

AGENT_EDGES = sorted(e for e in JOB_EDGES if e[1] != "pending" and e != ("pending", "cancelled"))
"""The moves a site's agent reports; pending -> cancelled is the person's, submitted -> pending the portal's."""


def rows(job: Job) -> list[tuple[str, str, str, str]]:
    return [(h.from_state, h.to_state, h.moved_by, h.reason)
            for h in JobStateChange.objects.filter(job=job).order_by("at", "pk")]


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


@pytest.mark.parametrize(("current", "target"), AGENT_EDGES, ids=lambda s: s)
def test_each_move_an_agent_reports_is_recorded_as_its(allocation, current, target):
    job = JobFactory(allocation=allocation, state=current)
    job_apply_report(site=job.site, uid=job.uid, state=JobState(target), message=f"now {target}")
    assert rows(job) == [(current, target, "agent", f"now {target}")]
    change = JobStateChange.objects.get(job=job)
    assert (change.site, change.actor) == (job.site, None)


def test_a_report_from_pending_past_submitted_records_both_moves(allocation):
    job = JobFactory(allocation=allocation, state="pending")
    job_apply_report(site=job.site, uid=job.uid, state=JobState.COMPLETED)
    reason = f"reported by {job.site.name}"
    assert rows(job) == [("pending", "submitted", "agent", reason), ("submitted", "completed", "agent", reason)]


def test_a_repeated_report_records_no_move(allocation):
    job = JobFactory(allocation=allocation, state="running")
    for state in (JobState.RUNNING, JobState.RUNNING, JobState.COMPLETED, JobState.COMPLETED):
        job_apply_report(site=job.site, uid=job.uid, state=state)
    assert [r[:2] for r in rows(job)] == [("running", "completed")]


def test_cancelling_a_pending_job_is_the_persons_move(allocation, user):
    job = JobFactory(allocation=allocation, state="pending")
    job_cancel(job=job, user=user)
    assert rows(job) == [("pending", "cancelled", "person", "cancelled before it reached the site")]
    assert JobStateChange.objects.get(job=job).actor == user


def test_cancelling_a_job_its_site_has_moves_nothing_until_the_agent_reports(allocation, user):
    job = JobFactory(allocation=allocation, state="running")
    job_cancel(job=job, user=user)
    assert rows(job) == []
    job_apply_report(site=job.site, uid=job.uid, state=JobState.CANCELLED, message="scancel")
    assert rows(job) == [("running", "cancelled", "agent", "scancel")]


def test_a_failover_move_is_the_portals(fed):
    job = on_jupiter(fed, "submitted")
    fed.lost(fed.jupiter)
    jobs_failover()
    (submitted, moved) = [r for r in rows(job) if r[0]][-2:]
    assert submitted[:3] == ("pending", "submitted", "agent")
    assert moved[:3] == ("submitted", "pending", "system") and moved[3].startswith("moved from jupiter-a")


def test_a_failover_cancel_is_the_portals(fed):
    job = on_jupiter(fed, "pending")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    fed.lost(fed.jupiter)
    jobs_failover()
    last = rows(job)[-1]
    assert last[:3] == ("pending", "cancelled", "system") and "not reporting" in last[3]


def test_a_submission_records_its_first_row_by_its_submitter(api, allocation, user):
    body = api.post("/jobs", {"spec": job_spec()}).json()
    job = Job.objects.get(uid=body["uid"])
    ((from_state, to_state, by, reason),) = rows(job)
    assert (from_state, to_state, by) == ("", "pending", "person") and reason.startswith("submitted to leonardo-a")
    assert JobStateChange.objects.get(job=job).actor == user


def test_a_submission_writes_one_row_more_than_the_job_and_its_placement(api, allocation):
    api.post("/jobs", {"spec": job_spec()})  # the first fills the process's size limits and the token's last use
    with CaptureQueriesContext(connection) as queries:
        assert api.post("/jobs", {"spec": job_spec()}).status_code == 201
    sql = [q["sql"] for q in queries.captured_queries]
    inserts = [q.split('"')[1] for q in sql if q.lstrip().upper().startswith("INSERT")]
    assert sorted(inserts) == ["jobs_job", "jobs_jobplacement", "jobs_jobstatechange"]


@pytest.mark.parametrize(("current", "target"), list(itertools.product(JobState, JobState)), ids=lambda s: s.value)
def test_the_guarded_move_refuses_every_pair_off_the_table_and_records_nothing(allocation, current, target):
    job = JobFactory(allocation=allocation, state=current.value)
    if allowed(JOB_EDGES, current, target):
        job_move(job, target, reason="walk")
        assert rows(job) == [(current.value, target.value, "system", "walk")] and job.state == target.value
    else:
        with pytest.raises(InvalidTransition):
            job_move(job, target, reason="walk")
        assert rows(job) == [] and job.state == current.value


def test_a_refused_report_records_nothing(allocation):
    job = JobFactory(allocation=allocation, state="running")
    with pytest.raises(InvalidTransition):
        job_apply_report(site=job.site, uid=job.uid, state=JobState.SUBMITTED)
    assert rows(job) == []


def test_the_job_page_shows_the_history(allocation, user):
    job = JobFactory(allocation=allocation, state="pending", submitted_by=user)
    job_apply_report(site=job.site, uid=job.uid, state=JobState.RUNNING, message="started by slurm")
    page = login(user).get(f"/jobs/{job.uid}/").content.decode()
    assert 'data-testid="job-history"' in page
    assert "started by slurm" in page and "the agent of leonardo-a" in page
