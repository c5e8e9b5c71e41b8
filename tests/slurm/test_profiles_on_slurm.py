"""Each site profile's rendering on a test cluster shaped like that site: the job lands in the profile's
partition (and QoS), sees the profile's GPUs per node, and gets the site's variables; a job longer than the
partition's limit is refused."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifactory.agent.base import BackendError, BatchJob
from aifactory.agent.slurm import SlurmBackend
from aifactory.core.jobs import JobState
from aifactory.core.sites import SiteProfile, load_profiles
from tests.slurm.profile_clusters import ProfileClusters, add_qos, profile_clusters  # noqa: F401
from tests.slurm.test_slurm_backend import drop_account, terminal, wait_for

pytestmark = pytest.mark.slurm

PROFILES = load_profiles().profiles
REPORT = """echo "partition=$SLURM_JOB_PARTITION"
scontrol show job "$SLURM_JOB_ID" | tr ' ' '\\n' | grep -E '^(QOS|Partition|TRES|NumCPUs|OverSubscribe)='
env | grep -E '^(NCCL|CXI|FI_CXI|SLURM_CPU_BIND)' | sort
"""


def test_eight_machines_have_profiles() -> None:
    keys = {p.key for p in PROFILES}
    assert {"lumi", "leonardo", "marenostrum5", "jupiter", "meluxina", "karolina", "vega", "deucalion"} <= keys


@pytest.fixture(params=PROFILES, ids=lambda p: p.key)
def site(request: pytest.FixtureRequest, profile_clusters: ProfileClusters,  # noqa: F811
         tmp_path: Path) -> Iterator[tuple[SiteProfile, SlurmBackend]]:
    profile: SiteProfile = request.param
    cluster = profile_clusters.get(profile)
    backend = SlurmBackend(cluster=cluster.name, slurm_conf=cluster.conf, workdir=tmp_path, profile=profile)
    account = f"aifprof-{secrets.token_hex(4)}"
    backend.ensure_account(account, 100_000)
    for queue in profile.queues:
        if queue.qos is not None:
            add_qos(cluster, account, backend.user, queue.qos)
    backend.account = account  # type: ignore[attr-defined]
    yield profile, backend
    drop_account(cluster, account)


def test_rendered_job_runs_in_the_profiles_shape(site: tuple[SiteProfile, SlurmBackend]) -> None:
    profile, backend = site
    account = backend.account  # type: ignore[attr-defined]
    job = BatchJob(uid=uuid.uuid4().hex, name="profile check", account=account, gpus=profile.gpus_per_node,
                   time_limit_s=120, script=REPORT)
    backend.submit(job)
    report = wait_for(backend, job.uid, terminal, timeout_s=90)
    log = backend.logs(job.uid)
    assert report.state is JobState.COMPLETED, log
    queue = profile.queue_for(1, 2)
    partition = queue.partition if queue else (profile.default_partition or "main")
    assert f"partition={partition}" in log
    tres = next(line for line in log.splitlines() if line.startswith("TRES="))
    assert f"gres/gpu={profile.gpus_per_node}" in tres.split(",")
    if profile.cpus_per_gpu is not None:
        assert f"NumCPUs={profile.cpus_per_gpu * profile.gpus_per_node}" in log
    if profile.exclusive:
        assert "OverSubscribe=NO" in log
    assert f"QOS={queue.qos if queue and queue.qos else 'normal'}" in log
    for key, value in profile.env.items():
        assert f"{key}={value}" in log
    if profile.setup:
        assert f"skipped the {profile.key} setup" in log


def test_more_gpus_than_a_node_has_is_refused_before_sbatch(site: tuple[SiteProfile, SlurmBackend]) -> None:
    profile, backend = site
    job = BatchJob(uid=uuid.uuid4().hex, name="too wide", account=backend.account,  # type: ignore[attr-defined]
                   gpus=profile.gpus_per_node * 2, time_limit_s=120, script="true\n")
    with pytest.raises(BackendError, match="node has"):
        backend.submit(job)


@pytest.mark.parametrize("profile", [p for p in PROFILES if p.queues and p.queues[0].qos is None
                                     and p.queues[0].max_time_min], ids=lambda p: p.key)
def test_job_longer_than_the_partition_allows(profile: SiteProfile, tmp_path: Path,
                                              profile_clusters: ProfileClusters) -> None:  # noqa: F811
    """The profile refuses it before sbatch; forced into the partition, Slurm itself holds it back."""
    cluster = profile_clusters.get(profile)
    queue = profile.queues[0]
    assert queue.max_time_min is not None
    longest = max(q.max_time_min or 0 for q in profile.queues)
    account = f"aifprof-{secrets.token_hex(4)}"
    chosen = SlurmBackend(cluster=cluster.name, slurm_conf=cluster.conf, workdir=tmp_path, profile=profile)
    forced = SlurmBackend(cluster=cluster.name, slurm_conf=cluster.conf, workdir=tmp_path, profile=profile,
                          partition=queue.partition)
    chosen.ensure_account(account, 10_000_000)
    try:
        too_long = BatchJob(uid=uuid.uuid4().hex, name="too long", account=account, gpus=1,
                            time_limit_s=(longest + 60) * 60, script="true\n")
        with pytest.raises(BackendError, match="no queue"):
            chosen.submit(too_long)
        job = BatchJob(uid=uuid.uuid4().hex, name="too long", account=account, gpus=1,
                       time_limit_s=(queue.max_time_min + 60) * 60, script="true\n")
        forced.submit(job)
        report = wait_for(forced, job.uid, lambda r: "PartitionTimeLimit" in r.message, timeout_s=30)
        assert report.state is JobState.SUBMITTED
        forced.cancel(job.uid)
    finally:
        drop_account(cluster, account)
