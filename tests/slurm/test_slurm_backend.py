"""SlurmBackend against the real test cluster: accounts with GPU-minute budgets, jobs, usage, refusals."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aifactory.agent.base import BatchJob, JobReport
from aifactory.agent.slurm import SlurmBackend
from aifactory.core.jobs import JobState
from tests.slurm.conftest import SlurmCluster, default_conf, probe

pytestmark = pytest.mark.slurm


def drop_account(cluster: SlurmCluster, name: str) -> None:
    """Cancel the account's jobs and delete it (best effort: Slurm refuses while a job still runs)."""
    cluster.run("scancel", "--account", name)
    for _ in range(10):
        try:
            cluster.run("sacctmgr", "-i", "delete", "account", name)
            return
        except AssertionError:
            time.sleep(0.5)


@pytest.fixture(scope="module")
def account(slurm_cluster: SlurmCluster) -> Iterator[str]:
    """A fresh account per run, so budgets used by earlier runs do not count."""
    name = f"aiftest-{secrets.token_hex(4)}"
    yield name
    drop_account(slurm_cluster, name)


@pytest.fixture(scope="module")
def backend(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory, account: str) -> SlurmBackend:
    b = SlurmBackend(cluster=slurm_cluster.name, slurm_conf=slurm_cluster.conf, workdir=tmp_path_factory.mktemp("jobs"))
    b.ensure_account(account, 600)
    return b


def new_job(account: str, script: str, *, gpus: int = 1, time_limit_s: int = 60, **kw: object) -> BatchJob:
    return BatchJob(uid=uuid.uuid4().hex, name="test", account=account, gpus=gpus, time_limit_s=time_limit_s,
                    script=script, **kw)  # type: ignore[arg-type]


def wait_for(backend: SlurmBackend, uid: str, until: Callable[[JobReport], bool], timeout_s: float = 60) -> JobReport:
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while True:
        report = backend.find(uid)
        if report is not None:
            if not seen or seen[-1] != report.state.value:
                seen.append(report.state.value)
            if until(report):
                return report
        if time.monotonic() > deadline:
            raise AssertionError(f"job {uid} still {report} after {timeout_s}s (states seen: {seen})")
        time.sleep(0.3)


def terminal(report: JobReport) -> bool:
    return report.state.terminal


def assoc_limits(cluster: SlurmCluster, account: str) -> dict[str, str]:
    out = cluster.run("sacctmgr", "-n", "-P", "show", "assoc", "where", f"cluster={cluster.name}",
                      f"account={account}", "format=User,GrpTRESMins")
    return dict(line.split("|", 1) for line in out.splitlines() if line.strip())


def test_account_with_gpu_minutes_limit(backend: SlurmBackend, slurm_cluster: SlurmCluster, account: str) -> None:
    limits = assoc_limits(slurm_cluster, account)
    assert limits[""] == "gres/gpu=600"
    assert backend.user in limits
    backend.ensure_account(account, 900)  # existing: updated, not an error
    assert assoc_limits(slurm_cluster, account)[""] == "gres/gpu=900"
    backend.ensure_account(account, 600)
    assert assoc_limits(slurm_cluster, account)[""] == "gres/gpu=600"


def test_job_runs_to_completion_and_its_gpu_time_is_accounted(
    backend: SlurmBackend, slurm_cluster: SlurmCluster, account: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    value = f"$(touch {marker}) `touch {marker}` ; touch {marker}\nsecond line 'q'"
    script = 'echo "start on $CUDA_VISIBLE_DEVICES"\nprintf %s "$AIF_VALUE" > value.txt\nsleep 4\necho finished\n'
    job = new_job(account, script, gpus=2, env={"AIF_VALUE": value})
    job_id = backend.submit(job)
    assert job_id.isdigit()
    assert backend.submit(job) == job_id, "a uid the scheduler knows is not submitted twice"

    running = wait_for(backend, job.uid, lambda r: r.state is not JobState.SUBMITTED)
    assert running.scheduler_id == job_id
    done = wait_for(backend, job.uid, terminal)
    assert (done.state, done.exit_code) == (JobState.COMPLETED, 0), done

    sacct = slurm_cluster.run("sacct", "-X", "-n", "-P", "-j", job_id, "--format=ElapsedRaw,AllocTRES")
    elapsed_s, tres = sacct.strip().split("|")
    assert "gres/gpu=2" in tres
    assert int(elapsed_s) >= 4
    assert done.gpu_seconds == 2 * int(elapsed_s)
    assert done.started_at is not None and done.ended_at is not None
    assert abs((done.ended_at - done.started_at).total_seconds() * 2 - done.gpu_seconds) <= 2

    log = backend.logs(job.uid)
    assert "start on " in log and "finished" in log
    assert (backend.workdir / job.uid / "value.txt").read_text() == value
    assert not marker.exists()


def test_failing_job_reports_its_exit_code(backend: SlurmBackend, account: str) -> None:
    job = new_job(account, "echo about to fail\nexit 3\n")
    backend.submit(job)
    done = wait_for(backend, job.uid, terminal)
    assert (done.state, done.exit_code) == (JobState.FAILED, 3), done
    assert "about to fail" in backend.logs(job.uid)


def test_cancel_a_running_job(backend: SlurmBackend, account: str) -> None:
    job = new_job(account, "echo waiting\nsleep 120\n", time_limit_s=300)
    backend.submit(job)
    wait_for(backend, job.uid, lambda r: r.state is JobState.RUNNING)
    backend.cancel(job.uid)
    done = wait_for(backend, job.uid, terminal, timeout_s=30)
    assert done.state is JobState.CANCELLED, done


def test_unknown_uid_is_none(backend: SlurmBackend) -> None:
    assert backend.find(uuid.uuid4().hex) is None
    backend.cancel(uuid.uuid4().hex)  # nothing to cancel is not an error
    assert backend.queue_wait_s() >= 0


def test_job_over_the_account_budget_does_not_run(
    backend: SlurmBackend, slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    small = f"aiftest-{secrets.token_hex(4)}"
    try:
        backend.ensure_account(small, 1)  # one GPU-minute
        ran = tmp_path / "ran"
        job = new_job(small, f"touch {ran}\n", gpus=2, time_limit_s=600)  # asks for 20 GPU-minutes
        backend.submit(job)
        held = wait_for(backend, job.uid, lambda r: "AssocGrpGRESMinutes" in r.message or r.state.terminal, 30)
        assert held.state is JobState.SUBMITTED, held
        assert "GPU-minutes" in held.message
        time.sleep(3)
        again = backend.find(job.uid)
        assert again is not None and again.state is JobState.SUBMITTED and again.started_at is None
        assert not ran.exists()
        backend.cancel(job.uid)
        assert wait_for(backend, job.uid, terminal, 30).state is JobState.CANCELLED
        assert not ran.exists()
    finally:
        drop_account(slurm_cluster, small)


def test_two_clusters_from_one_process(backend: SlurmBackend, account: str, tmp_path: Path) -> None:
    other = probe(default_conf("aif-b"))
    if not isinstance(other, SlurmCluster) or other.name == backend.cluster:
        pytest.skip(f"a second cluster (aif-b) is not up: {other}; `bash scripts/slurm-cluster.sh up aif-a aif-b`")
    b = SlurmBackend(cluster=other.name, slurm_conf=other.conf, workdir=tmp_path)
    b.ensure_account(account, 60)
    job = new_job(account, "echo on the other cluster\n")
    b.submit(job)
    done = wait_for(b, job.uid, terminal)
    assert done.state is JobState.COMPLETED and "on the other cluster" in b.logs(job.uid)
    assert backend.find(job.uid) is None, "the first cluster has never seen the second's job"
