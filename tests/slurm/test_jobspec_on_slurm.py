"""A job spec end to end on the real cluster: submitted to the portal, run by the agent through sbatch, with an
image (a stand-in runtime that records its arguments), inputs, outputs and environment values made to look like
shell. Nothing but the user's commands runs: no marker file appears, every value arrives byte for byte."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from aifactory.agent.client import PortalClient
from aifactory.agent.runner import Agent
from aifactory.agent.slurm import SlurmBackend
from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.access.services import application_submit
from aifactory.portal.federation.models import Site
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.services import job_submit_spec
from tests.agent.test_slurm_parsing import evil_strings
from tests.agent.test_start_gate import FAKE_RUNTIME
from tests.slurm.conftest import SlurmCluster
from tests.slurm.test_slurm_backend import drop_account

pytestmark = [pytest.mark.slurm, pytest.mark.django_db]


def test_a_spec_with_hostile_values_runs_only_its_commands(settings, organisation, user, site, transport,
                                                           slurm_cluster: SlurmCluster, tmp_path: Path):
    settings.ACCOUNT_PREFIX = f"aifs{secrets.token_hex(3)}"
    app = application_submit(organisation=organisation, user=user, title="Spec on Slurm", machine_key="leonardo",
                             params=1e8, tokens=1e9, gpus=2, requested_gpu_hours=10, months=1, civil_use=True)
    allocation = app.allocations.get()
    runtime = tmp_path / "bin" / "apptainer"
    runtime.parent.mkdir()
    runtime.write_text(FAKE_RUNTIME)
    runtime.chmod(0o755)
    data = tmp_path / "data+set@v1"
    data.mkdir()
    marker = tmp_path / "pwned"
    evil = evil_strings(marker)
    backend = SlurmBackend(cluster=slurm_cluster.name, slurm_conf=slurm_cluster.conf, workdir=tmp_path / "site",
                           container_runtime=str(runtime))
    agent = Agent(PortalClient("http://portal", site.token, transport=transport), backend)
    try:
        agent.cycle()  # provisions the account; the site reports
        Site.objects.filter(pk=site.site.pk).update(queue_wait_s=0)
        image = "docker://registry.example.org:5000/team/trainer+cuda@sha256:00ff"
        spec = spec_from_dict({
            "name": "hostile.values_1",
            "resources": {"gpu": "A100", "gpus_per_node": 2, "time_limit": "5m"},
            "image": image,
            "commands": ["env -0 > env.bin", "mkdir -p ckpt", "printf 123456 > ckpt/w", "printf ok > report.json"],
            "env": {f"V{i}": value for i, value in enumerate(evil)},
            "inputs": [str(data)],
            "outputs": ["ckpt/", "report.json", "never-written"],
        })
        job = job_submit_spec(user=user, spec=spec, organisation=organisation)
        deadline = time.monotonic() + 90
        while job.state not in ("completed", "failed", "cancelled"):
            result = agent.cycle()
            assert not result.errors, result.errors
            assert time.monotonic() < deadline, job.state
            time.sleep(0.5)
            job = Job.objects.get(pk=job.pk)
        assert job.state == "completed", (job.message, job.log_tail)
        folder = backend.job_dir(job.uid)
        argv = (folder / "runtime-argv").read_bytes().split(b"\0")[:-1]
        assert [a.decode() for a in argv] == ["exec", "--bind", str(folder), "--bind", f"{data}:{data}:ro", "--pwd",
                                              str(folder), image, "/bin/bash", str(folder / "user.sh")]
        got = dict(item.split("=", 1) for item in (folder / "env.bin").read_text().split("\0") if "=" in item)
        for i, value in enumerate(evil):
            assert got[f"V{i}"] == value
        assert got["AIF_JOB_NAME"] == "hostile.values_1" and got["AIF_JOB_UID"] == job.uid
        assert not list(tmp_path.rglob("pwned*"))
        assert job.output_files == [{"path": "ckpt", "bytes": 6}, {"path": "report.json", "bytes": 2}]
    finally:
        drop_account(slurm_cluster, allocation.account)
