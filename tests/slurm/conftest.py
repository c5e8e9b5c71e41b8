"""The real Slurm test cluster, started by `bash scripts/slurm-cluster.sh up`.

Every test here needs it: when it is not reachable the tests are skipped, or fail when
AIFACTORY_REQUIRE_SLURM=1 (CI sets it, so a cluster that did not come up cannot pass as a skip).
The cluster is found through AIFACTORY_SLURM_CONF, else the script's default path for aif-a
($AIFACTORY_SLURM_ROOT/aif-a/slurm.conf, root /var/lib/aifactory-slurm).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

READY_STATES = {"idle", "mixed", "allocated", "completing"}


@dataclass(frozen=True)
class SlurmCluster:
    name: str
    conf: str

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "SLURM_CONF": self.conf}

    def run(self, *argv: str) -> str:
        done = subprocess.run(list(argv), env=self.env(), capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout


def default_conf(name: str = "aif-a") -> str:
    root = os.environ.get("AIFACTORY_SLURM_ROOT", "/var/lib/aifactory-slurm")
    return f"{root}/{name}/slurm.conf"


def probe(conf: str) -> SlurmCluster | str:
    """The cluster behind conf if its node is ready, else why not."""
    path = Path(conf)
    if not path.is_file():
        return f"{conf} does not exist"
    match = re.search(r"^\s*ClusterName\s*=\s*(\S+)", path.read_text(encoding="utf-8"), re.MULTILINE | re.IGNORECASE)
    if match is None:
        return f"{conf} has no ClusterName"
    cluster = SlurmCluster(name=match.group(1).lower(), conf=conf)
    try:
        done = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=cluster.env(), capture_output=True, text=True,
                              timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo: {exc}"
    if done.returncode != 0:
        return f"sinfo: {done.stderr.strip() or done.returncode}"
    states = done.stdout.split()
    if not READY_STATES.intersection(states):
        return f"no node is ready (sinfo says {states or 'nothing'})"
    return cluster


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    conf = os.environ.get("AIFACTORY_SLURM_CONF") or default_conf()
    found = probe(conf)
    if isinstance(found, SlurmCluster):
        return found
    message = (
        f"the Slurm test cluster is not reachable with SLURM_CONF={conf}: {found}. "
        "Start it with `bash scripts/slurm-cluster.sh up` (or point AIFACTORY_SLURM_CONF at one)."
    )
    if os.environ.get("AIFACTORY_REQUIRE_SLURM") == "1":
        pytest.fail(f"AIFACTORY_REQUIRE_SLURM=1 and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _needs_cluster(slurm_cluster: SlurmCluster) -> None:
    """Every test in this folder needs the cluster, whether or not it asks for it."""
