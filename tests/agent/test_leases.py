"""Leases of a managed run's segments, on both backends: the commands stop (TERM, then KILL) when the agent has not
renewed the lease in time, and run as usual while it has; the agent renews leases at each pass and reports the
checkpoint markers a segment writes, before it reports the segment's end."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from aifactory.agent import slurm as slurm_module
from aifactory.agent.base import MAX_MARKER_BYTES, MAX_MARKERS, read_markers
from aifactory.agent.client import PortalClient
from aifactory.agent.local import LocalBackend
from aifactory.agent.runner import Agent
from aifactory.core.jobs import JobState
from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.jobs.models import Job
from aifactory.portal.runs.models import Run
from aifactory.portal.runs.services import run_create, runs_advance
from tests.agent.test_start_gate import batch, run_batch, slurm, wait_state
from tests.conftest import DjangoTransport
from tests.federation import Federation, make_federation


def ready(folder: Path) -> None:
    """Until the commands have set their signal handling up (they touch `ready`)."""
    deadline = time.monotonic() + 60
    while not (folder / "ready").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def run_submitted_and_expire(backend, job) -> tuple[int, str]:
    """bash runs the batch script of a job already submitted, as slurmd would; once the commands are ready, the
    lease is set in the past, as when the agent stopped renewing it."""
    proc = subprocess.Popen(["/bin/bash", str(backend.job_dir(job.uid) / "batch.sh")], cwd=backend.workdir,
                            env={"PATH": os.environ["PATH"]}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready(backend.job_dir(job.uid))
    backend.renew_lease(job.uid, time.time() - 1)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err

TRAINS = """trap 'echo stopping > "$AIF_JOB_DIR/term"; exit 3' TERM
echo "$AIF_LEASE_FILE" > "$AIF_JOB_DIR/lease-file"
touch "$AIF_JOB_DIR/ready"
for i in $(seq 600); do sleep 0.1; done
"""


def test_slurm_commands_stop_when_the_lease_runs_out(tmp_path):
    b = slurm(tmp_path)
    job = batch(TRAINS, lease_s=600)
    b.submit(job)
    folder = b.job_dir(job.uid)
    assert abs(int((folder / "lease").read_text()) - (time.time() + 600)) < 60
    code, err = run_submitted_and_expire(b, job)
    assert code == 3, err
    assert "the lease was not renewed by the site" in err
    assert (folder / "lease-expired").exists() and (folder / "term").read_text() == "stopping\n"
    assert (folder / "lease-file").read_text().strip() == str(folder / "lease")


def test_slurm_commands_that_ignore_term_are_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(slurm_module, "LEASE_KILL_AFTER_S", 1)
    b = slurm(tmp_path)
    job = batch("trap '' TERM\ntouch \"$AIF_JOB_DIR/ready\"\nfor i in $(seq 600); do sleep 0.1; done\n", lease_s=600)
    b.submit(job)
    code, err = run_submitted_and_expire(b, job)
    assert code == 128 + 9, err


def test_slurm_commands_run_as_usual_while_the_lease_holds(tmp_path):
    b = slurm(tmp_path)
    job = batch("mkdir -p out && echo hi > out/x\nexit 0\n", lease_s=600, outputs=("out",))
    done = run_batch(b, job)
    folder = b.job_dir(job.uid)
    assert done.returncode == 0, done.stderr
    assert not (folder / "lease-expired").exists()
    assert (folder / "outputs.tsv").read_text() == "3\tout\n"


def test_a_job_without_a_lease_has_no_watchdog(tmp_path):
    b = slurm(tmp_path)
    job = batch("exit 0\n")
    b.submit(job)
    text = (b.job_dir(job.uid) / "batch.sh").read_text()
    assert "AIF_LEASE_FILE" not in text and "setsid" not in text
    assert not (b.job_dir(job.uid) / "lease").exists()


def test_local_commands_stop_when_the_lease_runs_out(tmp_path):
    backend = LocalBackend(tmp_path / "site")
    backend.ensure_account("aif-p1", 600)
    job = batch(TRAINS, lease_s=600)
    backend.submit(job)
    ready(backend._dir(job.uid))
    backend.renew_lease(job.uid, time.time() - 1)
    report = wait_state(backend, job.uid, lambda r: r.state.terminal, timeout_s=60)
    assert (report.state, report.exit_code) == (JobState.FAILED, 3)
    assert "lease was not renewed" in report.message


def test_markers_are_read_within_bounds(tmp_path):
    folder = tmp_path / "checkpoints"
    assert read_markers(folder) == []
    folder.mkdir()
    for step in range(MAX_MARKERS + 5):
        (folder / f"step-{step:08d}.json").write_text(json.dumps(
            {"step": step, "tokens": step * 10, "path": f"/c/{step}", "time": "t", "extra": "dropped"}))
    (folder / "step-99999997.json").write_text("not json")
    (folder / "step-99999998.json").write_text("[1, 2]")
    (folder / "step-99999999.json").write_text(json.dumps({"step": 1, "pad": "x" * MAX_MARKER_BYTES}))
    (folder / ".step-00000099.json.tmp").write_text("{}")
    found = read_markers(folder)
    assert [m["step"] for m in found] == list(range(8, MAX_MARKERS + 5))
    assert set(found[0]) == {"step", "tokens", "path", "time"}


@pytest.mark.django_db
def test_the_agent_renews_leases_and_reports_checkpoints_before_the_end(make_site, site, organisation, user,
                                                                         tmp_path, settings):
    fed: Federation = make_federation(make_site, site, organisation, user)
    settings.RUN_LEASE_S = 120
    marker = ('mkdir -p "$AIF_JOB_DIR/checkpoints"; for s in 5 10; do printf \'{"step": %d, "tokens": %d, "path": '
              '"/shared/llm/step-%d.pt", "time": "%s"}\' $s $((s * 100)) $s "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" '
              '> "$AIF_JOB_DIR/checkpoints/step-$s.json"; done')
    spec = spec_from_dict({"name": "llm", "resources": {"time_limit": 600}, "commands": [marker]})
    run = run_create(user=user, spec=spec, steps=10, checkpoint_every=5, checkpoint_dir="/shared/llm",
                     organisation=fed.organisation)
    job = run.segments.get().job
    token = fed.jupiter.token if job.site.name == "jupiter-a" else fed.leonardo.token
    backend = LocalBackend(tmp_path / "site")
    for allocation in (fed.on_leonardo, fed.on_jupiter):
        backend.ensure_account(allocation.account, 6000)
    agent = Agent(PortalClient("http://testserver", token, transport=DjangoTransport()), backend)
    deadline = time.monotonic() + 60
    while Job.objects.get(pk=job.pk).state != "completed":
        assert time.monotonic() < deadline
        before = time.time()
        result = agent.cycle()
        assert not result.errors, result.errors
        lease = backend._dir(job.uid) / "lease"
        assert before - 5 <= int(lease.read_text()) - 120 <= time.time()
        time.sleep(0.1)
    run.refresh_from_db()
    assert [(c.step, c.tokens, c.path) for c in run.checkpoints.all()] == [
        (5, 500, "/shared/llm/step-5.pt"), (10, 1000, "/shared/llm/step-10.pt")]
    assert run.steps_done == 10
    assert runs_advance() == [f"run {run.pk} (llm): completed at step 10"]
    assert Run.objects.get(pk=run.pk).state == "completed"
