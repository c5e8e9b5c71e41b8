"""A site account per person on the real cluster: two members of one project, each a POSIX user with an association
under the project's account, jobs submitted through the privileged helper running as each of them, sacct showing
their own names, and a removed member refused."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aifactory.agent.base import BackendError
from aifactory.agent.slurm import SlurmBackend
from tests.slurm.conftest import SlurmCluster
from tests.slurm.test_slurm_backend import drop_account, new_job, terminal, wait_for

pytestmark = pytest.mark.slurm

MANAGED_GROUP = "aifusers"


@dataclass(frozen=True)
class Site:
    backend: SlurmBackend
    account: str
    root: Path
    helper: list[str]


def helper_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "aifactory.agent.site_helper", "--config", str(config)]


@pytest.fixture(scope="module")
def site(slurm_cluster: SlurmCluster) -> Iterator[Site]:
    if os.geteuid() != 0:
        pytest.skip("site accounts are POSIX users: the helper must run as root")
    # Not under pytest's temporary folder (mode 700): the members' jobs must reach their folders.
    root = Path(tempfile.mkdtemp(prefix="aif-site-", dir="/var/tmp"))
    root.chmod(0o711)
    (root / "jobs").mkdir(mode=0o711)
    (root / "home").mkdir(mode=0o755)
    config = root / "site-helper.json"
    config.write_text(json.dumps({"workdir": str(root / "jobs"), "group": MANAGED_GROUP, "agent_group": "root",
                                  "home_root": str(root / "home"), "shell": "/bin/sh",
                                  "slurm_confs": [slurm_cluster.conf]}), encoding="utf-8")
    helper = helper_command(config)
    backend = SlurmBackend(cluster=slurm_cluster.name, slurm_conf=slurm_cluster.conf, workdir=root / "jobs",
                           helper=helper)
    account = f"aifsa-{secrets.token_hex(4)}"
    backend.ensure_account(account, 6000)
    made: list[str] = []
    yield Site(backend=backend, account=account, root=root, helper=helper)
    drop_account(slurm_cluster, account)
    for line in Path("/etc/passwd").read_text().splitlines():
        name, home = line.split(":")[0], line.split(":")[5]
        if home.startswith(str(root / "home") + "/"):
            made.append(name)
            subprocess.run(["userdel", name], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def member_name() -> str:
    return f"m{secrets.token_hex(5)}"


def sacct_users(cluster: SlurmCluster, uid: str) -> list[str]:
    out = cluster.run("sacct", "-X", "-n", "-P", "-a", "--name", f"aif-{uid}", "-S", "2020-01-01",
                      "--format=User,Account")
    return [line for line in out.splitlines() if line.strip()]


def test_two_members_run_jobs_under_their_own_names_and_a_removed_one_is_refused(
    site: Site, slurm_cluster: SlurmCluster
) -> None:
    ada, bob = member_name(), member_name()
    for name in (ada, bob):
        site.backend.ensure_member(site.account, name)
        site.backend.ensure_member(site.account, name)  # idempotent
    assocs = slurm_cluster.run("sacctmgr", "-n", "-P", "show", "assoc", "where", f"account={site.account}",
                               f"cluster={slurm_cluster.name}", "format=User")
    assert {ada, bob} <= set(assocs.split())

    jobs = {}
    for name in (ada, bob):
        job = new_job(site.account, "id -un; echo gpus=$CUDA_VISIBLE_DEVICES,$SLURM_JOB_GPUS", user=name)
        site.backend.submit(job)
        jobs[name] = job
    for name, job in jobs.items():
        report = wait_for(site.backend, job.uid, terminal, timeout_s=90)
        assert report.state.value == "completed", (report, site.backend.logs(job.uid))
        assert report.gpu_seconds >= 0
        assert site.backend.logs(job.uid).splitlines()[0] == name
        assert sacct_users(slurm_cluster, job.uid) == [f"{name}|{site.account}"]

    # Usage per person and per project, from the accounting.
    out = slurm_cluster.run("sacct", "-X", "-n", "-P", "-a", "-A", site.account, "-S", "2020-01-01",
                            "--format=User,JobName")
    by_user = {line.split("|")[0] for line in out.splitlines() if line.strip()}
    assert by_user == {ada, bob}

    site.backend.close_member(site.account, bob, lock=True)
    site.backend.close_member(site.account, bob, lock=True)  # idempotent
    refused = new_job(site.account, "echo should-not-run", user=bob)
    with pytest.raises(BackendError) as info:
        site.backend.submit(refused)
    assert "sbatch failed" in str(info.value)
    assert "policy" in str(info.value) or "limit" in str(info.value).lower()
    assert sacct_users(slurm_cluster, refused.uid) == []
    shadow = subprocess.run(["getent", "shadow", bob], capture_output=True, text=True, check=True).stdout
    assert shadow.split(":")[1].startswith("!")  # locked: no login either

    still = new_job(site.account, "id -un", user=ada)
    site.backend.submit(still)
    assert wait_for(site.backend, still.uid, terminal, timeout_s=90).state.value == "completed"

    site.backend.ensure_member(site.account, bob)  # added back: open again
    again = new_job(site.account, "id -un", user=bob)
    site.backend.submit(again)
    assert wait_for(site.backend, again.uid, terminal, timeout_s=90).state.value == "completed"
    assert sacct_users(slurm_cluster, again.uid) == [f"{bob}|{site.account}"]


def test_the_helper_refuses_what_is_not_on_its_list(site: Site, slurm_cluster: SlurmCluster) -> None:
    def helper(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*site.helper, *args], capture_output=True, text=True, timeout=60, check=False)

    for name in ("root", "daemon", "nobody"):
        done = helper("user-lock", name)
        assert done.returncode == 65 and "not one of the site accounts" in done.stderr
        done = helper("sbatch", "--slurm-conf", slurm_cluster.conf, name, "--", "--parsable",
                      str(site.root / "jobs" / ("0" * 32) / "batch.sh"))
        assert done.returncode == 65
    assert "must be 3 to 32" in helper("user-add", "Root;rm").stderr
    name = member_name()
    site.backend.ensure_member(site.account, name)
    job_dir = site.root / "jobs" / ("a" * 32)
    job_dir.mkdir()
    (job_dir / "batch.sh").write_text("#!/bin/sh\nid\n")
    base = [f"--job-name=aif-{'a' * 32}", f"--account={site.account}", f"--output={job_dir}/output.log",
            f"--chdir={job_dir}"]
    refusals = {
        "--wrap=id": "not allowed",
        "--uid=0": "not allowed",
        f"--output={site.root}/elsewhere.log": "--output must be",
        "--export=ALL,LD_PRELOAD=/x": "not allowed",
    }
    for extra, words in refusals.items():
        argv = [a for a in base if a.split("=")[0] != extra.split("=")[0]] + [extra, str(job_dir / "batch.sh")]
        done = helper("sbatch", "--slurm-conf", slurm_cluster.conf, name, "--", *argv)
        assert done.returncode == 65 and words in done.stderr, (extra, done.stderr)
    done = helper("sbatch", "--slurm-conf", "/etc/other.conf", name, "--", *base, str(job_dir / "batch.sh"))
    assert "not one of the configured" in done.stderr
    (job_dir / "link").symlink_to("/etc/shadow")
    done = helper("sbatch", "--slurm-conf", slurm_cluster.conf, name, "--", *base, str(job_dir / "batch.sh"))
    assert done.returncode == 65 and "not a plain file" in done.stderr
    assert Path("/etc/shadow").stat().st_uid == 0
