"""Two real Slurm clusters (aif-a and aif-b, started by `scripts/slurm-cluster.sh up aif-a aif-b`; this test starts
nothing), one site and one agent each, and the portal in this process.

    leonardo-a  on cluster aif-a   (Leonardo, A100)   allocation <prefix>-p<N>
    jupiter-b   on cluster aif-b   (JUPITER, GH200)   allocation <prefix>-p<N>-jupiter

Jobs are placed on both clusters. Then aif-a's agent stops (its cycle is no longer called and its site's last
report is moved back past AGENT_STALE_AFTER_S) while three jobs wait in aif-a's queue behind two jobs that fill its
node: failover moves them to aif-b, where they run. When aif-a's agent comes back it cancels its copies before they
start. Checked against both clusters' accounting: every job ran exactly once (sacct by job name), none was lost,
and each allocation's usage in the portal is what sacct recorded for its account.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from aifactory.agent.client import PortalClient
from aifactory.agent.runner import Agent
from aifactory.agent.slurm import SlurmBackend
from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.allocations.services import allocation_create
from aifactory.portal.federation.models import Site
from aifactory.portal.federation.services import site_create
from aifactory.portal.jobs import tasks
from aifactory.portal.jobs.models import Job, JobRevocation
from aifactory.portal.jobs.services import job_submit_spec
from aifactory.portal.periodic.services import periodic_enqueue_due
from tests.conftest import ApplicationFactory, DjangoTransport, OrganisationFactory, UserFactory, machine, run_worker
from tests.slurm.conftest import SlurmCluster, default_conf, probe
from tests.slurm.test_slurm_backend import drop_account

pytestmark = [pytest.mark.slurm, pytest.mark.django_db(transaction=False)]

URL = "http://portal"
FINISHED = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def cluster_b() -> SlurmCluster:
    import os

    conf = os.environ.get("AIFACTORY_SLURM_CONF_B") or default_conf("aif-b")
    found = probe(conf)
    if isinstance(found, SlurmCluster):
        return found
    message = f"the second Slurm test cluster is not reachable with SLURM_CONF={conf}: {found}"
    if os.environ.get("AIFACTORY_REQUIRE_SLURM") == "1":
        pytest.fail(f"AIFACTORY_REQUIRE_SLURM=1 and {message}", pytrace=False)
    pytest.skip(message)


class Site_:
    def __init__(self, site: Site, token: str, cluster: SlurmCluster, workdir: Path, transport: DjangoTransport):
        self.site = site
        self.cluster = cluster
        self.agent = Agent(PortalClient(URL, token, transport=transport),
                           SlurmBackend(cluster=cluster.name, slurm_conf=cluster.conf, workdir=workdir),
                           start_wait_s=120)

    def cycle(self) -> None:
        result = self.agent.cycle()
        assert not result.errors, (self.site.name, result.errors)


@pytest.fixture
def world(db, settings, slurm_cluster, cluster_b, tmp_path, transport) -> Iterator[dict]:
    assert slurm_cluster.name != cluster_b.name
    settings.ACCOUNT_PREFIX = f"aiff{secrets.token_hex(3)}"  # fresh accounts: Slurm budgets are never reset
    machine("leonardo")
    a_site, a_token = site_create(name="leonardo-a", machine_key="leonardo", backend="slurm")
    b_site, b_token = site_create(name="jupiter-b", machine_key="jupiter", backend="slurm")
    user = UserFactory(username="alice")
    org = OrganisationFactory(members=[user])
    app = ApplicationFactory(organisation=org, submitted_by=user, requested_gpu_hours=50)
    on_a = allocation_create(application=app)
    on_b = allocation_create(application=app, machine=machine("jupiter"), gpu_hours=50)
    a = Site_(a_site, a_token, slurm_cluster, tmp_path / "aif-a", transport)
    b = Site_(b_site, b_token, cluster_b, tmp_path / "aif-b", transport)
    yield {"user": user, "org": org, "a": a, "b": b, "on_a": on_a, "on_b": on_b, "runs": tmp_path / "runs.log"}
    drop_account(slurm_cluster, on_a.account)
    drop_account(cluster_b, on_b.account)


def submit(world: dict, name: str, commands: list[str], **resources: object) -> Job:
    spec = spec_from_dict({"name": name, "resources": {"time_limit": "10m", **resources}, "commands": commands})
    return job_submit_spec(user=world["user"], spec=spec, organisation=world["org"])


def marked(world: dict, seconds: float) -> list[str]:
    """Commands that record, once they run, the job and the cluster they run on, then take `seconds`."""
    return [f'echo "$AIF_JOB_UID $SLURM_CLUSTER_NAME" >> {world["runs"]}', f"sleep {seconds}"]


def until(what: str, done: Callable[[], bool], step: Callable[[], None], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        step()
        time.sleep(0.5)


def states(jobs: list[Job]) -> list[str]:
    return [Job.objects.get(pk=j.pk).state for j in jobs]


def sacct_by_name(cluster: SlurmCluster, uid: str) -> list[dict[str, str]]:
    out = cluster.run("sacct", "-X", "-n", "-P", "-S", "2020-01-01", "--name", f"aif-{uid}",
                      "--format=JobID,State,ElapsedRaw,AllocTRES,Account")
    rows = []
    for line in out.splitlines():
        if line.strip():
            job_id, state, elapsed, tres, account = line.split("|")
            rows.append({"id": job_id, "state": state.split()[0], "elapsed": elapsed, "tres": tres,
                         "account": account})
    return rows


def sacct_gpu_seconds(cluster: SlurmCluster, account: str) -> float:
    out = cluster.run("sacct", "-X", "-n", "-P", "-S", "2020-01-01", "-A", account, "--format=ElapsedRaw,AllocTRES")
    total = 0.0
    for line in out.splitlines():
        if not line.strip():
            continue
        elapsed, tres = line.split("|")
        gpus = sum(int(v) for k, _, v in (item.partition("=") for item in tres.split(",")) if k == "gres/gpu")
        total += int(elapsed) * gpus
    return total


def test_jobs_on_two_clusters_and_failover_when_an_agent_stops(world):
    a, b = world["a"], world["b"]
    a.cycle()
    b.cycle()  # accounts created with their GPU-minutes budgets, both sites alive
    for site, allocation in ((a, world["on_a"]), (b, world["on_b"])):
        assoc = site.cluster.run("sacctmgr", "-n", "-P", "show", "assoc", f"account={allocation.account}",
                                 "format=Account,GrpTRESMins")
        assert f"gres/gpu={50 * 60}" in assoc

    # Placed on both: by GPU type, two jobs that fill aif-a's node, two for JUPITER's GH200s.
    blockers = [submit(world, f"fill-{i}", marked(world, 15), gpu="A100", gpus_per_node=4) for i in range(2)]
    on_b = [submit(world, f"gh-{i}", marked(world, 2), gpu="GH200", gpus_per_node=2) for i in range(2)]
    # JUPITER's queue is long just now: jobs that take any GPU go to Leonardo, and wait behind the blockers.
    Site.objects.filter(pk=b.site.pk).update(queue_wait_s=7200)
    waiting = [submit(world, f"any-{i}", marked(world, 2), gpus_per_node=2) for i in range(3)]
    assert {j.site.name for j in blockers + waiting} == {"leonardo-a"}
    assert {j.site.name for j in on_b} == {"jupiter-b"}
    assert all("waits 7200 s" in next(r["reason"] for r in j.placements.get().reasons if r["site"] == "jupiter-b")
               for j in waiting)

    until("the blockers to run and the others to queue on aif-a",
          lambda: states(blockers) == ["running", "running"] and states(waiting) == ["submitted"] * 3,
          a.cycle, timeout_s=60)
    for j in waiting:
        queued = a.cluster.run("squeue", "-h", "--name", f"aif-{j.uid}", "-o", "%T|%r").split()
        assert queued == ["PENDING|Resources"] or queued[0].startswith("PENDING|"), queued

    # aif-a's agent stops: nothing calls its cycle any more, and its last report is older than the stale limit.
    Site.objects.filter(pk=a.site.pk).update(
        last_seen_at=timezone.now() - timedelta(seconds=settings.AGENT_STALE_AFTER_S + 1))
    # The task runner's scheduler enqueues the failover task and a worker runs it.
    periodic_enqueue_due()
    run_worker()
    result = DBTaskResult.objects.get(task_path=tasks.failover.module_path, status="SUCCESSFUL").return_value
    assert sorted(m["uid"] for m in result["moved"]) == sorted(j.uid for j in waiting)
    assert {(m["from_site"], m["to_site"]) for m in result["moved"]} == {("leonardo-a", "jupiter-b")}
    assert sorted(result["stuck"]) == []  # the running blockers are not waiting: they stay

    # aif-a's agent comes back at once: the jobs are no longer its own; it cancels its copies, still queued behind
    # the blockers, before they can start.
    a.cycle()
    until("aif-a to confirm its revocations", lambda: not JobRevocation.objects.filter(done_at__isnull=True).exists(),
          a.cycle, timeout_s=30)
    revoked = [JobRevocation.objects.get(job=j) for j in waiting]
    assert [(r.found, r.state) for r in revoked] == [(True, "cancelled")] * 3, [r.__dict__ for r in revoked]

    def both() -> None:
        a.cycle()
        b.cycle()

    everyone = blockers + on_b + waiting
    until("every job to finish", lambda: set(states(everyone)) <= FINISHED, both)
    assert states(everyone) == ["completed"] * 7

    # Nothing ran twice, nothing was lost: by job name, in both clusters' accounting.
    runs = [line.split() for line in world["runs"].read_text().splitlines()]
    assert sorted(uid for uid, _ in runs) == sorted(j.uid for j in everyone)
    for j in everyone:
        j.refresh_from_db()
        rows_a, rows_b = sacct_by_name(a.cluster, j.uid), sacct_by_name(b.cluster, j.uid)
        done = [r for r in rows_a + rows_b if r["state"] == "COMPLETED"]
        assert len(done) == 1, (j.name, rows_a, rows_b)
        assert j.state == "completed" and j.scheduler_id == done[0]["id"]
        if j in waiting:
            [copy] = rows_a
            assert copy["state"] == "CANCELLED" and copy["tres"] == "" and copy["elapsed"] == "0", copy
            assert [cluster for uid, cluster in runs if uid == j.uid] == [b.cluster.name]
            revocation = JobRevocation.objects.get(job=j)
            assert revocation.found and revocation.state == "cancelled" and not revocation.released
            assert j.allocation == world["on_b"]
    # Usage adds up: each allocation is charged what its cluster recorded for its account.
    for site, allocation in ((a, world["on_a"]), (b, world["on_b"])):
        charged = Allocation.objects.get(pk=allocation.pk).gpu_seconds_used
        assert charged == pytest.approx(sacct_gpu_seconds(site.cluster, allocation.account))
        assert charged > 0
