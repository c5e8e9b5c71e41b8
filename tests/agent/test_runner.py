"""The agent against the portal, in one process: PortalClient over DjangoTransport, LocalBackend in a tmp folder.

The jobs are real detached processes; the portal is the test database. An agent "killed" is an Agent object
dropped with its backend object; the new one only shares the backend's folder, as a restarted agent would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

from aifactory.agent.base import BackendError, BatchJob
from aifactory.agent.client import PortalClient
from aifactory.agent.local import LocalBackend
from aifactory.agent.runner import Agent, CycleResult
from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder, UsageCharge
from aifactory.portal.federation.models import Site
from aifactory.portal.jobs.models import Job, JobRevocation
from aifactory.portal.jobs.services import job_submit_spec
from aifactory.portal.organisations.services import api_token_create
from aifactory.sdk import Client, PortalCallError
from tests.conftest import AllocationFactory, DjangoTransport, JobFactory, assert_refused

pytestmark = pytest.mark.django_db

URL = "http://testserver"


class CountingBackend(LocalBackend):
    """The local backend, counting what the agent asks of it."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.submitted: list[str] = []
        self.cancelled: list[str] = []

    def submit(self, job: BatchJob) -> str:
        self.submitted.append(job.uid)
        return super().submit(job)

    def cancel(self, uid: str) -> None:
        self.cancelled.append(uid)
        super().cancel(uid)


class FailingAccounts(CountingBackend):
    def ensure_account(self, account: str, gpu_minutes: int) -> None:
        raise BackendError("sacctmgr: permission denied")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "site"


@pytest.fixture
def make_agent(site, transport: DjangoTransport, workdir: Path) -> Callable[..., Agent]:
    """An agent for the site. Accounts whose orders the site has done exist in its scheduler, unless told not."""

    def make(backend_class: type[LocalBackend] = CountingBackend, *, accounts: bool = True) -> Agent:
        backend = backend_class(workdir)
        if accounts:
            for order in ProvisioningOrder.objects.filter(site=site.site, state="done").select_related("allocation"):
                backend.ensure_account(order.allocation.account, int(order.allocation.gpu_hours * 60))
        return Agent(PortalClient(URL, site.token, transport=transport), backend)

    return make


@pytest.fixture
def person(user, transport: DjangoTransport) -> Client:
    return Client(URL, api_token_create(user=user), transport=transport)


@pytest.fixture
def fresh_allocation(organisation) -> Allocation:
    """Granted, not yet provisioned at the site: 10 GPU-hours."""
    return AllocationFactory(application__organisation=organisation, application__requested_gpu_hours=10,
                             provisioned=False)


def cycle_until(agent: Agent, done: Callable[[], bool], timeout_s: float = 20.0) -> list[CycleResult]:
    results: list[CycleResult] = []
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out after {len(results)} cycles: {results[-3:]}"
        results.append(agent.cycle())
        assert not results[-1].errors, results[-1].errors
        time.sleep(0.05)
    return results


def job_state(uid: str) -> str:
    return Job.objects.get(uid=uid).state


def submit(person: Client, allocation: Allocation, script: str, **fields: Any) -> str:
    job = person.submit(allocation=allocation.pk, name="train", script=script, gpus=2, time_limit_s=600, **fields)
    return str(job["uid"])


def job_folders(workdir: Path) -> list[str]:
    return sorted(p.name for p in (workdir / "jobs").iterdir())


# --- provisioning -----------------------------------------------------------------------------------------------------


def test_orders_are_provisioned_once(make_agent, fresh_allocation, site):
    agent = make_agent()
    result = agent.cycle()
    assert result.provisioned == [fresh_allocation.account]
    order = ProvisioningOrder.objects.get(allocation=fresh_allocation)
    assert order.state == "done" and fresh_allocation.account in order.message
    assert agent.backend.account_limit(fresh_allocation.account) == 600  # 10 GPU-hours in GPU-minutes
    assert agent.cycle().provisioned == []
    fresh = Site.objects.get(pk=site.site.pk)
    assert fresh.last_seen_at is not None and fresh.backend == "local"


def test_an_order_the_scheduler_refuses_is_failed_at_the_portal(make_agent, fresh_allocation, person):
    result = make_agent(FailingAccounts).cycle()
    assert result.provisioned == [] and "permission denied" in result.errors[0]
    order = ProvisioningOrder.objects.get(allocation=fresh_allocation)
    assert order.state == "failed" and "permission denied" in order.message
    with pytest.raises(PortalCallError) as caught:
        person.submit(allocation=fresh_allocation.pk, name="t", script="true")
    assert caught.value.status == 409


# --- a job from acceptance to charge ----------------------------------------------------------------------------------


def test_job_runs_and_is_charged(make_agent, fresh_allocation, person, workdir):
    agent = make_agent()
    agent.cycle()  # provisions the account
    uid = submit(person, fresh_allocation, 'echo "epoch 1"\nsleep 1\necho "loss 0.42"\n')
    first = agent.cycle()
    assert first.submitted == [uid]
    assert job_state(uid) in ("submitted", "running")
    seen: set[str] = set()
    cycle_until(agent, lambda: seen.add(job_state(uid)) or job_state(uid) == "completed")
    assert "running" in seen
    job = Job.objects.get(uid=uid)
    assert job.exit_code == 0
    assert "loss 0.42" in job.log_tail and "loss 0.42" in person.logs(uid)
    assert job.gpu_seconds >= 2 * 1.0  # 2 GPUs for at least a second
    assert job.scheduler_id and job.started_at and job.ended_at
    allocation = Allocation.objects.get(pk=fresh_allocation.pk)
    assert allocation.gpu_seconds_used == pytest.approx(job.gpu_seconds)
    assert UsageCharge.objects.filter(job=job).count() == 1
    assert person.allocation(allocation.pk)["gpu_hours_used"] == pytest.approx(job.gpu_seconds / 3600)
    assert agent.backend.submitted == [uid]
    assert job_folders(workdir) == [uid]
    assert agent.cycle().reported == []  # finished jobs are no longer asked for


def test_a_failing_job_is_reported_failed_and_charged(make_agent, allocation, person):
    agent = make_agent()
    uid = submit(person, allocation, "echo oops\nexit 7\n")
    cycle_until(agent, lambda: job_state(uid) == "failed")
    job = Job.objects.get(uid=uid)
    assert job.exit_code == 7 and "exit code 7" in job.message and "oops" in job.log_tail
    assert UsageCharge.objects.filter(job=job).count() == 1


# --- crashes and restarts ---------------------------------------------------------------------------------------------


def test_an_agent_killed_while_its_job_runs_is_replaced_without_running_it_twice(make_agent, allocation, person,
                                                                                   workdir, tmp_path):
    runs = tmp_path / "runs"
    uid = submit(person, allocation, f"echo run >> {runs}\nsleep 1.5\necho finished\n")
    first = make_agent()
    assert first.cycle().submitted == [uid]
    runner_pid = (workdir / "jobs" / uid / "pid").read_text()
    del first  # killed: its objects are gone, the job's runner lives on in its own session

    second = make_agent()  # a new agent, a new backend object, the same folder
    results = cycle_until(second, lambda: job_state(uid) == "completed")
    assert all(r.submitted == [] for r in results)
    assert second.backend.submitted == []
    assert job_folders(workdir) == [uid]
    assert runs.read_text().splitlines() == ["run"]
    job = Job.objects.get(uid=uid)
    assert job.scheduler_id == runner_pid
    assert "finished" in job.log_tail
    assert UsageCharge.objects.filter(job=job).count() == 1


def test_a_crash_between_submit_and_report_is_reconciled(make_agent, allocation, person, workdir, tmp_path):
    """The scheduler has the job, the portal still says pending: the agent reports it and does not submit it."""
    runs = tmp_path / "runs"
    uid = submit(person, allocation, f"echo run >> {runs}\nsleep 0.5\n")
    crashed = make_agent()
    remote = crashed.portal.jobs()[0]
    crashed.backend.submit(BatchJob(uid=remote.uid, name=remote.name, account=remote.account, gpus=remote.gpus,
                                    time_limit_s=remote.time_limit_s, script=remote.script, env=remote.env))
    del crashed  # dies before its report reaches the portal
    assert job_state(uid) == "pending"

    agent = make_agent()
    results = cycle_until(agent, lambda: job_state(uid) == "completed")
    assert all(r.submitted == [] for r in results)
    assert uid in results[0].reported
    assert runs.read_text().splitlines() == ["run"]
    assert job_folders(workdir) == [uid]
    assert UsageCharge.objects.count() == 1


def test_a_job_accepted_by_the_api_survives_a_portal_restart(site, allocation, person, workdir, tmp_path):
    uid = submit(person, allocation, "echo survived\n")
    person.close()
    # The portal restarts: every client and connection object is new; the job is a row in the database.
    transport = DjangoTransport()
    agent = Agent(PortalClient(URL, site.token, transport=transport), CountingBackend(workdir))
    agent.backend.ensure_account(allocation.account, 6000)
    assert [j.uid for j in agent.portal.jobs()] == [uid]
    cycle_until(agent, lambda: job_state(uid) == "completed")
    assert agent.backend.submitted == [uid]
    assert "survived" in Job.objects.get(uid=uid).log_tail


def test_a_job_the_scheduler_lost_is_reported_failed(make_agent, allocation):
    job = JobFactory(allocation=allocation, state="running", scheduler_id="31337")
    agent = make_agent()
    result = agent.cycle()
    assert result.submitted == [] and result.reported == [job.uid]
    job.refresh_from_db()
    assert job.state == "failed" and "no record" in job.message


def test_a_cancel_for_a_job_the_scheduler_lost_closes_it(make_agent, allocation):
    job = JobFactory(allocation=allocation, state="submitted", cancel_requested=True)
    agent = make_agent()
    agent.cycle()
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert agent.backend.submitted == [] and agent.backend.cancelled == []


# --- cancel ---------------------------------------------------------------------------------------------------------


def test_cancel_of_a_running_job(make_agent, allocation, person, tmp_path):
    marker = tmp_path / "not-reached"
    uid = submit(person, allocation, f"sleep 30\ntouch {marker}\n")
    agent = make_agent()
    cycle_until(agent, lambda: job_state(uid) == "running")
    answer = person.cancel(uid)
    assert answer["state"] == "running" and answer["cancel_requested"] is True
    cycle_until(agent, lambda: job_state(uid) == "cancelled")
    assert agent.backend.cancelled[:1] == [uid]
    job = Job.objects.get(uid=uid)
    assert job.exit_code == 143
    assert UsageCharge.objects.filter(job=job).count() == 1
    assert agent.backend.find(uid).state.value == "cancelled"
    time.sleep(0.2)
    assert not marker.exists()


def test_cancel_of_a_pending_job_never_reaches_the_site(make_agent, allocation, person, workdir):
    uid = submit(person, allocation, "echo never\n")
    assert person.cancel(uid)["state"] == "cancelled"
    agent = make_agent()
    assert agent.cycle().submitted == []
    assert not (workdir / "jobs").exists() or job_folders(workdir) == []


# --- errors -----------------------------------------------------------------------------------------------------------


def test_a_job_the_scheduler_refuses_stays_pending_and_is_retried(make_agent, allocation, person):
    uid = submit(person, allocation, "echo hi\n")
    agent = make_agent(accounts=False)  # the scheduler lost the account the site had made
    result = agent.cycle()
    assert result.submitted == [] and "does not exist" in result.errors[0]
    assert job_state(uid) == "pending"
    agent.backend.ensure_account(allocation.account, 6000)
    assert agent.cycle().submitted == [uid]


def test_a_wrong_token_is_a_portal_error(transport, site, workdir):
    agent = Agent(PortalClient(URL, "aifs_wrong", transport=transport), CountingBackend(workdir))
    with pytest.raises(PortalCallError) as caught:
        agent.cycle()
    assert caught.value.status == 401


def test_an_unreachable_portal_is_a_portal_error(workdir):
    agent = Agent(PortalClient("http://127.0.0.1:9", "aifs_x", timeout_s=2), CountingBackend(workdir))
    with pytest.raises(PortalCallError) as caught:
        agent.cycle()
    assert caught.value.status == 0
    agent.portal.close()


def test_run_forever_outlives_a_bad_pass(transport, site, workdir):
    agent = Agent(PortalClient(URL, "aifs_wrong", transport=transport), CountingBackend(workdir))
    passes = iter(range(3))
    agent.run_forever(interval_s=0, stop=lambda: next(passes, None) is None)
    assert transport.requests.count(("POST", "/api/v1/agent/heartbeat")) == 3


class SlowScheduler(CountingBackend):
    """Each submission takes the scheduler six seconds of a fake clock."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.now = 0.0

    def submit(self, job: BatchJob) -> str:
        self.now += 6.0
        return super().submit(job)


def test_a_long_pass_reports_the_site_alive_again(site, transport, workdir, allocation, person):
    """A pass over many jobs may outlast the portal's AGENT_STALE_AFTER_S: the agent reports again every
    heartbeat_every_s within it, so a busy site is never taken for a lost one and its jobs moved away."""
    uids = [submit(person, allocation, "echo hi\n") for _ in range(4)]
    backend = SlowScheduler(workdir)
    backend.ensure_account(allocation.account, 6000)
    beats: list[float] = []
    agent = Agent(PortalClient(URL, site.token, transport=transport), backend, heartbeat_every_s=10,
                  clock=lambda: backend.now)
    real = agent.portal.heartbeat

    def heartbeat(**kwargs: Any) -> None:
        beats.append(backend.now)
        real(**kwargs)

    agent.portal.heartbeat = heartbeat  # type: ignore[method-assign]
    assert sorted(agent.cycle().submitted) == sorted(uids)
    assert beats == [0.0, 12.0]  # at the start, then before the third job, 12 s into the pass
    assert transport.requests.count(("POST", "/api/v1/agent/heartbeat")) == 2
    beats.clear()
    agent.cycle()  # a quick pass: one report
    assert beats == [24.0]


# --- woken, not only polled: the long-poll, one find, the gate opened between passes ---------------------------------


class FindCounting(CountingBackend):
    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.finds: list[str] = []

    def find(self, uid: str):  # type: ignore[no-untyped-def]
        self.finds.append(uid)
        return super().find(uid)


def test_wait_answers_at_once_when_there_is_work(site_api, allocation, make_agent):
    make_agent().cycle()  # nothing waits: the orders are done, no job
    assert site_api.get("/agent/wait", timeout_s=0.2).json() == {"work": False}
    submit_for = allocation.application.submitted_by
    job_submit_spec(user=submit_for, spec=spec_from_dict({"name": "w", "resources": {"time_limit": 600},
                                                          "commands": ["true"]}), allocation=allocation)
    started = time.monotonic()
    assert site_api.get("/agent/wait", timeout_s=20).json() == {"work": True}
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("value", ["26", "-1", "soon"])
def test_wait_refuses_what_it_cannot_hold(site_api, value):
    body = assert_refused(site_api.get("/agent/wait", timeout_s=value), 422)
    assert "timeout_s" in str(body)


def test_wait_is_for_agents_only(api, anon):
    assert anon.get("/agent/wait").status_code == 401
    assert api.get("/agent/wait").status_code == 401


def test_one_find_for_a_new_job_and_its_gate_opens_between_passes(make_agent, person, allocation, workdir):
    agent: Agent = make_agent(FindCounting)
    uid = submit(person, allocation, "echo hi")
    result = agent.cycle()
    assert result.submitted == [uid]
    assert agent.backend.finds.count(uid) == 1  # type: ignore[attr-defined]
    assert job_state(uid) == "submitted"
    deadline = time.monotonic() + 20
    released: list[str] = []
    while not released:  # what run_forever(wake=True) does between passes
        assert time.monotonic() < deadline, "the job never reached its gate"
        released = agent.release_started().released
        time.sleep(0.05)
    assert released == [uid]
    assert job_state(uid) == "running"
    assert agent.backend.released(uid)


def test_a_job_that_left_is_cancelled_at_its_gate_not_released(make_agent, person, allocation):
    agent: Agent = make_agent()
    uid = submit(person, allocation, "echo hi")
    agent.cycle()
    Job.objects.filter(uid=uid).update(state="cancelled")  # as if it had moved or been cancelled meanwhile
    job = Job.objects.get(uid=uid)
    JobRevocation.objects.create(job=job, site=job.site, allocation=job.allocation, reason="moved")
    deadline = time.monotonic() + 20
    result = agent.release_started()
    while not result.revoked:
        assert time.monotonic() < deadline, "the job never reached its gate"
        time.sleep(0.05)
        result = agent.release_started()
    assert result.revoked == [uid] and not agent.backend.released(uid)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_waiting_agent_is_woken_by_the_commit_not_by_its_timeout(site, allocation, site_api):
    answers: list[object] = []

    def wait() -> None:
        try:
            answers.append(site_api.get("/agent/wait", timeout_s=20).json())
        finally:
            connections.close_all()

    ProvisioningOrder.objects.filter(site=site.site).update(state="done")
    waiter = threading.Thread(target=wait)
    started = time.monotonic()
    waiter.start()
    time.sleep(1.0)
    assert answers == []  # still waiting: nothing to do
    job_submit_spec(user=allocation.application.submitted_by, allocation=allocation,
                    spec=spec_from_dict({"name": "w", "resources": {"time_limit": 600}, "commands": ["true"]}))
    waiter.join(timeout=30)
    assert answers == [{"work": True}]
    assert time.monotonic() - started < 15
