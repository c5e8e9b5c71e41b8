"""The thin path on a real Slurm: the portal (in process) orders an account, the agent creates it with a
GPU-minutes limit, runs a job under it, reads its GPU usage back from sacct and the portal charges it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifactory.agent.client import PortalClient
from aifactory.agent.runner import Agent
from aifactory.agent.slurm import SlurmBackend
from aifactory.portal.access.services import application_submit
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.services import job_submit
from tests.slurm.conftest import SlurmCluster
from tests.slurm.test_slurm_backend import drop_account

pytestmark = [pytest.mark.slurm, pytest.mark.django_db]


@pytest.fixture
def prefix(settings: object) -> str:
    settings.ACCOUNT_PREFIX = f"aift{secrets.token_hex(3)}"  # a fresh account per run: budgets are not reset
    return settings.ACCOUNT_PREFIX


@pytest.fixture
def allocation(prefix: str, organisation: object, user: object, slurm_cluster: SlurmCluster) -> Iterator[Allocation]:
    app = application_submit(
        organisation=organisation, user=user, title="Slurm path", machine_key="leonardo", params=1e8, tokens=1e9,
        gpus=2, requested_gpu_hours=20, months=1, civil_use=True,
    )
    assert app.state == "approved", app.reasons
    yield app.allocation
    drop_account(slurm_cluster, app.allocation.account)


def agent_for(site: object, transport: object, cluster: SlurmCluster, workdir: Path) -> Agent:
    portal = PortalClient("http://portal", site.token, transport=transport)
    return Agent(portal, SlurmBackend(cluster=cluster.name, slurm_conf=cluster.conf, workdir=workdir))


def cycle_until(agent: Agent, job: Job, states: set[str], timeout_s: float = 90) -> Job:
    deadline = time.monotonic() + timeout_s
    while True:
        result = agent.cycle()
        assert not result.errors, result.errors
        job.refresh_from_db()
        if job.state in states:
            return job
        assert time.monotonic() < deadline, f"job stayed {job.state}"
        time.sleep(1)


def sacct_rows(cluster: SlurmCluster, uid: str) -> list[str]:
    out = cluster.run("sacct", "-X", "-n", "-P", "-S", "2020-01-01", "--name", f"aif-{uid}",
                      "--format=JobID,State,ElapsedRaw,AllocTRES")
    return [line for line in out.splitlines() if line.strip()]


def test_account_job_and_usage_on_real_slurm(allocation, site, transport, slurm_cluster, tmp_path, user):
    agent = agent_for(site, transport, slurm_cluster, tmp_path)
    result = agent.cycle()
    assert result.provisioned == [allocation.account]
    assoc = slurm_cluster.run("sacctmgr", "-n", "-P", "show", "assoc", f"account={allocation.account}",
                              "format=Account,GrpTRESMins")
    assert f"gres/gpu={20 * 60}" in assoc

    job = job_submit(user=user, allocation=allocation, name="train", gpus=2, time_limit_s=120,
                     script="echo start\nsleep 3\necho done\n")
    job = cycle_until(agent, job, {"completed", "failed", "cancelled"})
    assert job.state == "completed", job.message
    assert "done" in job.log_tail

    rows = sacct_rows(slurm_cluster, job.uid)
    assert len(rows) == 1, rows
    job_id, state, elapsed, tres = rows[0].split("|")
    assert state == "COMPLETED" and job.scheduler_id == job_id
    assert "gres/gpu=2" in tres
    assert job.gpu_seconds == pytest.approx(2 * int(elapsed))
    allocation.refresh_from_db()
    assert allocation.gpu_seconds_used == pytest.approx(2 * int(elapsed))
    assert allocation.gpu_seconds_used >= 2 * 3


def test_agent_restarted_while_job_runs_does_not_run_it_twice(allocation, site, transport, slurm_cluster, tmp_path,
                                                               user):
    first = agent_for(site, transport, slurm_cluster, tmp_path)
    first.cycle()
    job = job_submit(user=user, allocation=allocation, name="long", gpus=1, time_limit_s=120,
                     script="sleep 6\necho finished\n")
    first.cycle()  # submitted to Slurm; then this agent "dies"
    job.refresh_from_db()
    assert job.state in ("submitted", "running")
    second = agent_for(site, transport, slurm_cluster, tmp_path)  # a new process: nothing in memory
    job = cycle_until(second, job, {"completed", "failed", "cancelled"})
    assert job.state == "completed"
    assert len(sacct_rows(slurm_cluster, job.uid)) == 1
    allocation.refresh_from_db()
    assert allocation.charges.count() == 1
