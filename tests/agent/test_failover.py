"""Two sites, one local agent each, against the portal in this process: a job waiting at a site whose agent stops
moves to the other site and runs there once; the first agent, when it comes back, cancels its copy before the
copy's commands run, and the portal charges what each scheduler recorded."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aifactory.agent.client import PortalClient
from aifactory.agent.local import LocalBackend
from aifactory.agent.runner import Agent, CycleResult
from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Allocation, UsageCharge
from aifactory.portal.jobs.failover import jobs_failover
from aifactory.portal.jobs.models import Job, JobRevocation
from aifactory.portal.jobs.services import job_submit_spec
from aifactory.sdk import PortalCallError
from tests.conftest import DjangoTransport
from tests.federation import Federation, job_spec, make_federation

pytestmark = pytest.mark.django_db

URL = "http://testserver"


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


def agent_for(fed: Federation, which: str, root: Path, transport: DjangoTransport, start_wait_s: int = 60) -> Agent:
    site = getattr(fed, which)
    backend = LocalBackend(root / which)
    for allocation in (fed.on_leonardo, fed.on_jupiter):
        backend.ensure_account(allocation.account, 6000)
    return Agent(PortalClient(URL, site.token, transport=transport), backend, start_wait_s=start_wait_s)


def cycle_until(agent: Agent, done: Callable[[], bool], timeout_s: float = 20) -> list[CycleResult]:
    results = []
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, results[-3:]
        results.append(agent.cycle())
        assert not results[-1].errors, results[-1].errors
        time.sleep(0.05)
    return results


def submit(fed: Federation, marker: Path, **resources: object) -> Job:
    from aifactory.core.jobspec import spec_from_dict

    spec = spec_from_dict(job_spec(commands=[f"echo \"$AIF_JOB_UID ran on $(pwd)\" >> {marker}", "sleep 0.3"],
                                   **resources))
    return job_submit_spec(user=fed.user, spec=spec, organisation=fed.organisation)


def state(job: Job) -> str:
    return Job.objects.get(pk=job.pk).state


def test_a_job_runs_behind_the_start_gate(fed, tmp_path, transport):
    marker = tmp_path / "runs"
    job = submit(fed, marker)
    jupiter = agent_for(fed, "jupiter", tmp_path, transport)
    results = cycle_until(jupiter, lambda: state(job) == "completed")
    assert [uid for r in results for uid in r.released] == [job.uid]
    assert marker.read_text().splitlines() == [f"{job.uid} ran on {tmp_path / 'jupiter' / 'jobs' / job.uid}"]
    job.refresh_from_db()
    assert job.exit_code == 0 and job.gpu_seconds > 0
    assert UsageCharge.objects.get(job=job).allocation == fed.on_jupiter


def test_the_lost_sites_copy_never_runs_and_the_job_runs_once_elsewhere(fed, tmp_path, transport):
    marker = tmp_path / "runs"
    jobs = [submit(fed, marker) for _ in range(3)]
    assert {j.site.name for j in jobs} == {"jupiter-a"}
    jupiter = agent_for(fed, "jupiter", tmp_path, transport)
    # JUPITER's agent hands the jobs to its scheduler (they start and wait at the gate), then stops before it can
    # report them running: the portal has them submitted at most.
    first = jupiter.cycle()
    assert sorted(first.submitted) == sorted(j.uid for j in jobs) and first.released == []
    for j in jobs:
        assert jupiter.backend.find(j.uid) is not None
    assert {state(j) for j in jobs} <= {"submitted", "running"}
    Job.objects.filter(pk__in=[j.pk for j in jobs]).update(state="submitted")  # what it reported, at most
    fed.lost(fed.jupiter)

    moved = jobs_failover().moved
    assert sorted(m.uid for m in moved) == sorted(j.uid for j in jobs)
    assert {m.to_site for m in moved} == {"leonardo-a"}

    leonardo = agent_for(fed, "leonardo", tmp_path, transport)
    cycle_until(leonardo, lambda: all(state(j) == "completed" for j in jobs))

    # JUPITER's agent comes back: its copies are no longer its jobs, it cancels them and says so.
    fed.alive(fed.jupiter)
    back = jupiter.cycle()
    assert not back.errors and back.submitted == [] and back.released == []
    cycle_until(jupiter, lambda: not JobRevocation.objects.filter(done_at__isnull=True).exists())
    for j in jobs:
        copy = jupiter.backend.find(j.uid)
        assert copy is not None and copy.state == JobState.CANCELLED
        assert not jupiter.backend.released(j.uid)
        revocation = JobRevocation.objects.get(job=j)
        assert revocation.found and revocation.state == "cancelled" and not revocation.released

    lines = marker.read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(j.uid for j in jobs)  # each ran once
    assert all("/leonardo/" in line for line in lines)  # and only on the site it moved to
    # Usage: what each site's scheduler recorded, on the allocation it ran under.
    for j in jobs:
        j.refresh_from_db()
        assert (j.allocation, j.state) == (fed.on_leonardo, "completed")
    leo = Allocation.objects.get(pk=fed.on_leonardo.pk)
    jup = Allocation.objects.get(pk=fed.on_jupiter.pk)
    assert leo.gpu_seconds_used == pytest.approx(sum(Job.objects.get(pk=j.pk).gpu_seconds for j in jobs))
    assert jup.gpu_seconds_used == pytest.approx(sum(r.gpu_seconds for r in JobRevocation.objects.all()))
    assert jup.gpu_seconds_used > 0  # the copies held their GPUs while they waited at the gate


def test_a_late_running_report_is_answered_gone_and_the_copy_is_cancelled(fed, tmp_path, transport):
    marker = tmp_path / "runs"
    job = submit(fed, marker)
    jupiter = agent_for(fed, "jupiter", tmp_path, transport)
    jupiter.cycle()
    snapshot = jupiter.portal.jobs()  # read before the move: the agent still believes the job is its own
    fed.lost(fed.jupiter)
    jobs_failover()
    deadline = time.monotonic() + 10
    while jupiter.backend.find(job.uid).state != JobState.RUNNING:  # the copy started, waiting at its gate
        assert time.monotonic() < deadline
        time.sleep(0.05)
    result = CycleResult()
    jupiter._handle(snapshot[0], result)
    assert result.revoked == [job.uid] and result.released == []
    deadline = time.monotonic() + 10
    while not jupiter.backend.find(job.uid).state.terminal:
        time.sleep(0.05)
        assert time.monotonic() < deadline
    assert jupiter.backend.find(job.uid).state == JobState.CANCELLED
    assert not marker.exists()
    with pytest.raises(PortalCallError) as caught:
        jupiter.portal.report(jupiter.backend.find(job.uid))
    assert caught.value.status == 410


def test_a_copy_started_while_its_agent_is_away_ends_without_running(fed, tmp_path, transport):
    marker = tmp_path / "runs"
    job = submit(fed, marker)
    jupiter = agent_for(fed, "jupiter", tmp_path, transport, start_wait_s=1)
    jupiter.cycle()  # handed to the scheduler; the agent never comes back
    folder = tmp_path / "jupiter" / "jobs" / job.uid
    deadline = time.monotonic() + 15
    while not (folder / "exit_code").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    report = jupiter.backend.find(job.uid)
    assert (report.state, report.exit_code) == (JobState.FAILED, 75)
    assert "nothing was run" in report.message and (folder / "not-released").exists()
    assert not marker.exists()


def test_a_pending_job_cancelled_before_the_site_reported_it(fed, tmp_path, transport):
    marker = tmp_path / "runs"
    job = submit(fed, marker)
    jupiter = agent_for(fed, "jupiter", tmp_path, transport)
    snapshot = jupiter.portal.jobs()
    from aifactory.portal.jobs.services import job_cancel

    job_cancel(job=job, user=job.submitted_by)  # the portal cancels at once: for the portal the site never had it
    jupiter._handle(snapshot[0], CycleResult())  # but the agent had read the job already and submits it
    cycle_until(jupiter, lambda: JobRevocation.objects.get(job=job).done_at is not None)
    assert jupiter.backend.find(job.uid).state == JobState.CANCELLED
    assert not jupiter.backend.released(job.uid)
    assert not marker.exists()
    assert state(job) == "cancelled"
