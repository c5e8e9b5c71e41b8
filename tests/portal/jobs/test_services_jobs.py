"""The job services: every report against every state, charging once, submission limits, cancel."""

from __future__ import annotations

import itertools

import pytest

from aifactory.core.jobs import TRANSITIONS, JobState
from aifactory.portal.allocations.models import Allocation, UsageCharge
from aifactory.portal.allocations.selectors import gpu_seconds_reserved
from aifactory.portal.common.errors import BadRequest, Conflict, NotFound
from aifactory.portal.jobs.services import job_apply_report, job_cancel, job_submit
from tests.conftest import AllocationFactory, JobFactory, assert_refused
from tests.state_edges import JOB_EDGES, allowed

pytestmark = pytest.mark.django_db

STATES = list(JobState)


def report_allowed(current: JobState, target: JobState) -> bool:
    """What an agent's report may do: stay, follow the table, or, from pending, anything the scheduler could say
    of a job it has (pending -> submitted is implied); never back to pending."""
    if target == current:
        return True
    if target == JobState.PENDING:
        return False
    if allowed(JOB_EDGES, current, target):
        return True
    return current == JobState.PENDING and allowed(JOB_EDGES, JobState.SUBMITTED, target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATES, STATES)),
                         ids=lambda s: s.value)
def test_every_report_against_every_state(site_api, allocation, current, target):
    """Through the agent's endpoint: allowed moves answer 204, the others 409 and change nothing."""
    job = JobFactory(allocation=allocation, state=current.value, gpus=1, time_limit_s=600)
    before = Allocation.objects.get(pk=allocation.pk).gpu_seconds_used
    response = site_api.post(f"/agent/jobs/{job.uid}", {"state": target.value, "scheduler_id": "77",
                                                         "gpu_seconds": 30.0})
    job.refresh_from_db()
    if report_allowed(current, target):
        assert response.status_code == 204, response.content
        assert job.state == target.value
        charged = target.terminal and not current.terminal
        assert UsageCharge.objects.filter(job=job).exists() == charged
        assert Allocation.objects.get(pk=allocation.pk).gpu_seconds_used == before + (30.0 if charged else 0.0)
    else:
        body = assert_refused(response, 409)
        assert target.value in body["message"]
        assert job.state == current.value
        assert not UsageCharge.objects.filter(job=job).exists()


def test_the_table_leaves_terminal_states_alone():
    assert TRANSITIONS.edges() == JOB_EDGES
    for state in STATES:
        assert TRANSITIONS.final(state) == state.terminal


@pytest.mark.parametrize("terminal", [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED])
def test_a_terminal_report_charges_once_even_reported_twice(allocation, terminal):
    job = JobFactory(allocation=allocation, state="running", gpus=2, time_limit_s=600)
    job_apply_report(site=job.site, uid=job.uid, state=terminal, gpu_seconds=100.0, exit_code=0, log_tail="end\n")
    job_apply_report(site=job.site, uid=job.uid, state=terminal, gpu_seconds=150.0, exit_code=3, log_tail="other\n")
    job.refresh_from_db()
    assert UsageCharge.objects.filter(job=job).count() == 1
    assert UsageCharge.objects.get(job=job).gpu_seconds == 100.0
    assert Allocation.objects.get(pk=allocation.pk).gpu_seconds_used == 100.0
    assert (job.gpu_seconds, job.exit_code, job.log_tail) == (100.0, 0, "end\n")  # the repeat changed nothing


def test_repeating_a_running_report_is_harmless(allocation):
    job = JobFactory(allocation=allocation, state="pending")
    for _ in range(3):
        job_apply_report(site=job.site, uid=job.uid, state=JobState.RUNNING, scheduler_id="9", gpu_seconds=5.0)
    job.refresh_from_db()
    assert (job.state, job.scheduler_id) == ("running", "9")
    assert not UsageCharge.objects.exists()


def test_report_keeps_what_a_later_report_leaves_out(allocation):
    job = JobFactory(allocation=allocation, state="pending")
    job_apply_report(site=job.site, uid=job.uid, state=JobState.RUNNING, scheduler_id="9", log_tail="a\n")
    job_apply_report(site=job.site, uid=job.uid, state=JobState.RUNNING)
    job.refresh_from_db()
    assert (job.scheduler_id, job.log_tail) == ("9", "a\n")


def test_report_for_another_site_is_not_found(allocation, make_site):
    job = JobFactory(allocation=allocation, state="running")
    stranger = make_site(name="leonardo-z").site
    with pytest.raises(NotFound):
        job_apply_report(site=stranger, uid=job.uid, state=JobState.COMPLETED)
    job.refresh_from_db()
    assert job.state == "running"


def test_report_refuses_impossible_usage(allocation):
    job = JobFactory(allocation=allocation, state="running", gpus=1, time_limit_s=600)
    with pytest.raises(BadRequest):
        job_apply_report(site=job.site, uid=job.uid, state=JobState.COMPLETED, gpu_seconds=1e7)
    assert not UsageCharge.objects.exists()


# --- submission -------------------------------------------------------------------------------------------------------


def _submit(allocation, **fields):
    data = {"name": "t", "script": "true", "gpus": 1, "time_limit_s": 600, **fields}
    return job_submit(user=allocation.application.submitted_by, allocation=allocation, **data)


def test_reserved_counts_only_open_jobs(allocation):
    JobFactory(allocation=allocation, state="pending", gpus=2, time_limit_s=600)
    JobFactory(allocation=allocation, state="running", gpus=1, time_limit_s=1000)
    JobFactory(allocation=allocation, state="completed", gpus=8, time_limit_s=9000)
    assert gpu_seconds_reserved(allocation) == 2 * 600 + 1000


def test_submit_refuses_what_is_not_left(allocation):
    _submit(allocation, gpus=90, time_limit_s=3600)
    with pytest.raises(BadRequest) as caught:
        _submit(allocation, gpus=11, time_limit_s=3600)
    assert "left" in caught.value.message
    assert _submit(allocation, gpus=10, time_limit_s=3600).state == "pending"


def test_submit_before_provisioning_is_a_conflict(organisation, user):
    waiting = AllocationFactory(application__organisation=organisation, application__submitted_by=user,
                                provisioned=False)
    with pytest.raises(Conflict) as caught:
        _submit(waiting)
    assert caught.value.status == 409


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "a b"}, "name"),
        ({"script": " "}, "script"),
        ({"script": "a\x00"}, "script"),
        ({"gpus": -1}, "gpus"),
        ({"time_limit_s": 30}, "time_limit_s"),
        ({"env": {"A;B": "1"}}, "env"),
        ({"env": {"A": 1}}, "env.A"),
    ],
)
def test_submit_validates_fields(allocation, fields, field):
    with pytest.raises(BadRequest) as caught:
        _submit(allocation, **fields)
    assert caught.value.detail == {"field": field}


# --- cancel -----------------------------------------------------------------------------------------------------------


def test_cancel_pending_then_again(allocation):
    job = JobFactory(allocation=allocation)
    assert job_cancel(job=job, user=job.submitted_by).state == "cancelled"
    with pytest.raises(Conflict):
        job_cancel(job=job, user=job.submitted_by)


@pytest.mark.parametrize("state", ["submitted", "running"])
def test_cancel_at_the_site_is_a_request(allocation, state):
    job = JobFactory(allocation=allocation, state=state)
    out = job_cancel(job=job, user=job.submitted_by)
    assert (out.state, out.cancel_requested) == (state, True)
