"""Site accounts end to end on a real Slurm: the portal (in process) says who belongs to the project, the agent (with
the privileged helper) creates each member's POSIX user and association, the members' jobs run under their own names
(sacct), usage is kept per person, and a member removed from the project is closed at the site and refused."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aifactory.agent.base import BackendError, BatchJob
from aifactory.agent.client import PortalClient
from aifactory.agent.runner import Agent
from aifactory.agent.slurm import SlurmBackend
from aifactory.portal.access.services import application_submit
from aifactory.portal.common.errors import Refusal
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.selectors import usage_by_person
from aifactory.portal.jobs.services import job_submit
from aifactory.portal.siteaccess.models import SiteAccount
from aifactory.portal.siteaccess.services import site_username
from tests.conftest import OrganisationFactory, UserFactory
from tests.slurm.conftest import SlurmCluster
from tests.slurm.test_slurm_backend import drop_account

pytestmark = [pytest.mark.slurm, pytest.mark.django_db]


@pytest.fixture
def site_root(slurm_cluster: SlurmCluster) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("site accounts are POSIX users: the helper must run as root")
    root = Path(tempfile.mkdtemp(prefix="aif-site-", dir="/var/tmp"))
    root.chmod(0o711)
    (root / "jobs").mkdir(mode=0o711)
    (root / "home").mkdir(mode=0o755)
    (root / "helper.json").write_text(json.dumps({
        "workdir": str(root / "jobs"), "group": "aifusers", "agent_group": "root", "home_root": str(root / "home"),
        "shell": "/bin/sh", "slurm_confs": [slurm_cluster.conf]}), encoding="utf-8")
    yield root
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[5].startswith(str(root / "home") + "/"):
            subprocess.run(["userdel", fields[0]], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def cycle_until(agent: Agent, jobs: list[Job], states: set[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = agent.cycle()
        assert not result.errors, result.errors
        for job in jobs:
            job.refresh_from_db()
        if all(job.state in states for job in jobs):
            return
        assert time.monotonic() < deadline, [(j.name, j.state, j.message) for j in jobs]
        time.sleep(1)


def test_members_jobs_run_under_their_own_names(site: Any, transport: Any, slurm_cluster: SlurmCluster,
                                               site_root: Path, settings: Any) -> None:
    settings.ACCOUNT_PREFIX = f"aifsa{secrets.token_hex(3)}"
    tag = secrets.token_hex(3)
    ada, bob = UserFactory(username=f"ada{tag}"), UserFactory(username=f"bob{tag}")
    org = OrganisationFactory(name=f"Lab {tag}", members=[ada, bob])
    site.site.personal_accounts = True
    site.site.save()
    app = application_submit(organisation=org, user=ada, title="Per person", machine_key="leonardo", params=1e8,
                             tokens=1e9, gpus=2, requested_gpu_hours=20, months=1, civil_use=True)
    allocation = app.allocation
    helper = [sys.executable, "-m", "aifactory.agent.site_helper", "--config", str(site_root / "helper.json")]
    backend = SlurmBackend(cluster=slurm_cluster.name, slurm_conf=slurm_cluster.conf, workdir=site_root / "jobs",
                           helper=helper)
    agent = Agent(PortalClient("http://portal", site.token, transport=transport), backend, personal_accounts=True)
    try:
        result = agent.cycle()
        assert not result.errors, result.errors
        assert result.provisioned == [allocation.account]
        assert sorted(result.accounts) == sorted(f"open {site_username(p)}/{allocation.account}" for p in (ada, bob))
        assert set(SiteAccount.objects.values_list("state", flat=True)) == {"active"}

        jobs = [job_submit(user=person, allocation=allocation, name=f"whoami-{person.username}", gpus=1,
                           time_limit_s=120, script="id -un\nsleep 2\n") for person in (ada, bob)]
        cycle_until(agent, jobs, {"completed", "failed", "cancelled"})
        for person, job in zip((ada, bob), jobs, strict=True):
            assert job.state == "completed", job.message
            assert job.log_tail.splitlines()[0] == site_username(person)
            out = slurm_cluster.run("sacct", "-X", "-n", "-P", "-a", "--name", f"aif-{job.uid}", "-S", "2020-01-01",
                                    "--format=User,Account")
            assert out.split() == [f"{site_username(person)}|{allocation.account}"]
        usage = {row["person"]: row for row in usage_by_person(allocation)}
        assert set(usage) == {ada.username, bob.username}
        assert usage[bob.username]["site_users"] == [site_username(bob)] and usage[bob.username]["jobs"] == 1

        org.members.remove(bob)
        result = agent.cycle()
        assert result.accounts == [f"close {site_username(bob)}/{allocation.account}"], result
        assert SiteAccount.objects.get(user=bob).state == "closed"
        with pytest.raises(Refusal):  # the portal no longer places bob's jobs there
            job_submit(user=bob, allocation=allocation, name="after", gpus=1, time_limit_s=120, script="id")
        with pytest.raises(BackendError, match="sbatch failed"):  # and the site refuses them too
            backend.submit(BatchJob(uid=secrets.token_hex(16), name="after", account=allocation.account, gpus=1,
                                    time_limit_s=60, script="id", user=site_username(bob)))
        late = job_submit(user=ada, allocation=allocation, name="still", gpus=1, time_limit_s=120, script="id -un")
        cycle_until(agent, [late], {"completed", "failed", "cancelled"})
        assert late.state == "completed" and late.log_tail.strip() == site_username(ada)
    finally:
        drop_account(slurm_cluster, allocation.account)
