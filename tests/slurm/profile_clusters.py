"""Test clusters shaped like the sites: one single-node cluster per site profile (aifp-<profile>), whose
partitions (with their wall-time limits), GPUs per node and cores per node come from the profile, started with
scripts/slurm-cluster.sh and stopped again at the end of the session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifactory.core.sites import SiteProfile
from tests.slurm.conftest import SlurmCluster, default_conf, probe

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm-cluster.sh"


def cluster_name(profile: SiteProfile) -> str:
    return f"aifp-{profile.key}"


def cluster_shape(profile: SiteProfile) -> dict[str, str]:
    """The environment scripts/slurm-cluster.sh reads: the profile's partitions, GPUs and cores per node."""
    partitions: dict[str, int | None] = {}
    for queue in profile.queues:
        # A QoS carries its own limit; a partition's own limit is known only from its queues without a QoS.
        limits = [q.max_time_min for q in profile.queues if q.partition == queue.partition and q.qos is None]
        known = [limit for limit in limits if limit is not None]
        partitions[queue.partition] = max(known) if known and len(known) == len(limits) else None
    # A profile that names no partition: jobs go to the cluster's default one.
    entries = [f"{name}:{limit}" if limit else name for name, limit in partitions.items()] or ["main"]
    cpus = max(profile.cpus_per_node or 0, (profile.cpus_per_gpu or 0) * profile.gpus_per_node, 16)
    return {"AIFACTORY_SLURM_PARTITIONS": " ".join(entries), "AIFACTORY_SLURM_GPUS": str(profile.gpus_per_node),
            "AIFACTORY_SLURM_CPUS": str(cpus)}


def start_profile_cluster(profile: SiteProfile) -> SlurmCluster:
    name = cluster_name(profile)
    if os.getuid() != 0:
        message = f"starting the test cluster {name} needs root"
        if os.environ.get("AIFACTORY_REQUIRE_SLURM") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    env = {**os.environ, **cluster_shape(profile)}
    done = subprocess.run(["bash", str(SCRIPT), "up", name], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    if done.returncode != 0:
        pytest.fail(f"slurm-cluster.sh up {name} failed: {done.stderr[-3000:]}", pytrace=False)
    found = probe(default_conf(name))
    if not isinstance(found, SlurmCluster):
        pytest.fail(f"cluster {name} is not ready: {found}", pytrace=False)
    return found


def stop_profile_cluster(profile: SiteProfile) -> None:
    subprocess.run(["bash", str(SCRIPT), "down", cluster_name(profile)], capture_output=True, text=True,
                   timeout=120, check=False)


class ProfileClusters:
    """Starts each profile's cluster on first use; stops those it started at the end."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[SiteProfile, SlurmCluster]] = {}

    def get(self, profile: SiteProfile) -> SlurmCluster:
        if profile.key not in self.started:
            self.started[profile.key] = (profile, start_profile_cluster(profile))
        return self.started[profile.key][1]

    def stop_all(self) -> None:
        for profile, _ in self.started.values():
            stop_profile_cluster(profile)


@pytest.fixture(scope="session")
def profile_clusters() -> Iterator[ProfileClusters]:
    clusters = ProfileClusters()
    yield clusters
    if os.environ.get("AIFACTORY_KEEP_PROFILE_CLUSTERS") != "1":
        clusters.stop_all()


def add_qos(cluster: SlurmCluster, account: str, user: str, qos: str) -> None:
    """Create a QoS (if missing) and let the account's user use it, as the site does for its projects."""
    known = cluster.run("sacctmgr", "-n", "-P", "show", "qos", "format=Name").split()
    if qos not in known:
        subprocess.run(["sacctmgr", "-i", "add", "qos", qos], env=cluster.env(), capture_output=True, text=True,
                       timeout=30, check=False)
    cluster.run("sacctmgr", "-i", "modify", "user", "where", f"name={user}", f"account={account}",
                f"cluster={cluster.name}", "set", f"qos+={qos}")
