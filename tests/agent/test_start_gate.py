"""The start gate, inputs, outputs and images, on both backends: the local runner for real, and the Slurm batch
script run by bash as slurmd would run it (a recorded sbatch, a stand-in container runtime). User values that reach
a batch script are refused when they do not fit their pattern, and stay single quoted words when they do."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from aifactory.agent.base import BatchJob
from aifactory.agent.local import LocalBackend
from aifactory.agent.slurm import SlurmBackend
from aifactory.core.jobs import JobState
from tests.agent.test_slurm_parsing import FakeSlurm, by_tool, evil_strings

ACCOUNT = "aif-p1"


def batch(script: str, **changes: object) -> BatchJob:
    fields: dict[str, object] = {"uid": uuid.uuid4().hex, "name": "t", "account": ACCOUNT, "gpus": 1,
                                 "time_limit_s": 60, "script": script}
    fields.update(changes)
    return BatchJob(**fields)  # type: ignore[arg-type]


@pytest.fixture
def local(tmp_path: Path) -> LocalBackend:
    backend = LocalBackend(tmp_path / "site")
    backend.ensure_account(ACCOUNT, 600)
    return backend


def wait_state(backend: LocalBackend, uid: str, done, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while True:
        report = backend.find(uid)
        if report is not None and done(report):
            return report
        assert time.monotonic() < deadline, report
        time.sleep(0.05)


# --- local ------------------------------------------------------------------------------------------------------------


def test_local_gated_job_waits_for_its_release(local, tmp_path):
    marker = tmp_path / "ran"
    job = batch(f"touch {marker}\n", gated=True)
    local.submit(job)
    running = wait_state(local, job.uid, lambda r: r.state == JobState.RUNNING)
    assert running.started_at is not None
    time.sleep(0.4)
    assert not marker.exists() and not local.released(job.uid)
    local.release(job.uid)
    assert local.released(job.uid)
    done = wait_state(local, job.uid, lambda r: r.state.terminal)
    assert (done.state, done.exit_code) == (JobState.COMPLETED, 0) and marker.exists()


def test_local_job_not_released_in_time_runs_nothing(local, tmp_path):
    marker = tmp_path / "ran"
    job = batch(f"touch {marker}\n", gated=True, start_wait_s=1)
    local.submit(job)
    done = wait_state(local, job.uid, lambda r: r.state.terminal)
    assert (done.state, done.exit_code) == (JobState.FAILED, 75)
    assert "nothing was run" in done.message and not marker.exists()


def test_local_cancel_at_the_gate(local, tmp_path):
    marker = tmp_path / "ran"
    job = batch(f"touch {marker}\n", gated=True)
    local.submit(job)
    wait_state(local, job.uid, lambda r: r.state == JobState.RUNNING)
    local.cancel(job.uid)
    done = wait_state(local, job.uid, lambda r: r.state.terminal)
    assert done.state == JobState.CANCELLED and not marker.exists()


def test_ungated_jobs_are_released_from_the_start(local):
    job = batch("true\n")
    local.submit(job)
    assert local.released(job.uid)


def test_local_inputs_outputs_and_image(local, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    job = batch("mkdir -p ck\nprintf 12345 > ck/a\nprintf abc > m.json\n", inputs=(str(data),),
                outputs=("ck", "m.json", "missing"), image="docker://nvcr.io/nvidia/pytorch:24.05-py3")
    local.submit(job)
    done = wait_state(local, job.uid, lambda r: r.state.terminal)
    assert done.state == JobState.COMPLETED
    assert local.output_files(job.uid) == [{"path": "ck", "bytes": 5}, {"path": "m.json", "bytes": 3}]
    assert "image docker://nvcr.io/nvidia/pytorch:24.05-py3 is not used" in local.logs(job.uid)


def test_local_missing_input_fails_before_the_commands(local, tmp_path):
    marker = tmp_path / "ran"
    job = batch(f"touch {marker}\n", inputs=(str(tmp_path / "nowhere"),))
    local.submit(job)
    done = wait_state(local, job.uid, lambda r: r.state.terminal)
    assert (done.state, done.exit_code) == (JobState.FAILED, 66)
    assert "is not there" in done.message and not marker.exists()


# --- the Slurm batch script, run by bash ------------------------------------------------------------------------------


FAKE_RUNTIME = """#!/bin/bash
# Stands in for apptainer: records its arguments (NUL-separated), then runs what follows the image.
printf '%s\\0' "$@" > "$AIF_JOB_DIR/runtime-argv"
shift  # exec
while [ "$1" = --bind ] || [ "$1" = --pwd ]; do shift 2; done
shift  # the image
exec "$@"
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "fake-apptainer"
    path.parent.mkdir()
    path.write_text(FAKE_RUNTIME)
    path.chmod(0o755)
    return path


def slurm(tmp_path: Path, runtime: Path | None = None) -> SlurmBackend:
    kwargs: dict[str, object] = {} if runtime is None else {"container_runtime": str(runtime)}
    return SlurmBackend(cluster="aif-a", slurm_conf=None, workdir=tmp_path / "jobs", user="alice",
                        runner=FakeSlurm(by_tool(sbatch="5")), **kwargs)  # type: ignore[arg-type]


def run_batch(backend: SlurmBackend, job: BatchJob, *, background: bool = False):
    backend.submit(job)
    script = backend.job_dir(job.uid) / "batch.sh"
    argv = ["/bin/bash", str(script)]
    env = {"PATH": os.environ["PATH"]}
    if background:
        return subprocess.Popen(argv, cwd=backend.workdir, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    return subprocess.run(argv, cwd=backend.workdir, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_slurm_gate_holds_the_commands_until_released(tmp_path):
    b = slurm(tmp_path)
    job = batch("touch ran\n", gated=True)
    proc = run_batch(b, job, background=True)
    folder = b.job_dir(job.uid)
    time.sleep(0.5)
    assert proc.poll() is None and not (folder / "ran").exists() and not b.released(job.uid)
    b.release(job.uid)
    assert proc.wait(timeout=10) == 0
    assert (folder / "ran").exists() and b.released(job.uid)


def test_slurm_gate_gives_up_having_run_nothing(tmp_path):
    b = slurm(tmp_path)
    job = batch("touch ran\n", gated=True, start_wait_s=1)
    done = run_batch(b, job)
    folder = b.job_dir(job.uid)
    assert done.returncode == 75 and "nothing was run" in done.stderr
    assert (folder / "not-released").exists() and not (folder / "ran").exists()


def test_slurm_inputs_are_checked_and_outputs_listed(tmp_path):
    b = slurm(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    job = batch("mkdir -p out\nprintf 1234 > out/w\nprintf ab > m.json\nexit 3\n", inputs=(str(data),),
                outputs=("out", "m.json", "absent"))
    done = run_batch(b, job)
    assert done.returncode == 3, done.stderr  # the commands' status is the job's
    assert b.output_files(job.uid) == [{"path": "out", "bytes": 4}, {"path": "m.json", "bytes": 2}]
    missing = batch("touch ran\n", inputs=(str(tmp_path / "nowhere"),))
    done = run_batch(b, missing)
    assert done.returncode == 66 and "is not there" in done.stderr
    assert not (b.job_dir(missing.uid) / "ran").exists()


def test_slurm_image_reaches_the_runtime_as_single_words(tmp_path, runtime):
    b = slurm(tmp_path, runtime)
    data = tmp_path / "da+ta@1"
    data.mkdir()
    image = "docker://registry.example.org:5000/team/img+x@sha256:0a1b"
    job = batch('echo "inside $PWD"\n', image=image, inputs=(str(data),), env={"MSG": "$(touch pwned)"})
    done = run_batch(b, job)
    assert done.returncode == 0, done.stderr
    folder = b.job_dir(job.uid)
    argv = (folder / "runtime-argv").read_text().split("\0")[:-1]
    assert argv == ["exec", "--bind", str(folder), "--bind", f"{data}:{data}:ro", "--pwd", str(folder), image,
                    "/bin/bash", str(folder / "user.sh")]
    assert f"inside {folder}" in done.stdout
    assert not list(tmp_path.rglob("pwned"))


@pytest.mark.parametrize("field", ["image", "inputs", "outputs"])
def test_values_that_could_be_shell_are_refused_before_a_script_is_written(tmp_path, field):
    marker = tmp_path / "pwned"
    for value in evil_strings(marker):
        changes: dict[str, object] = {
            "image": {"image": f"docker://x{value}"},
            "inputs": {"inputs": (f"/data/{value}",)},
            "outputs": {"outputs": (f"out/{value}",)},
        }[field]
        with pytest.raises(ValueError):
            batch("true\n", **changes)
    assert not list(tmp_path.glob("pwned*"))


def test_a_runtime_that_is_not_a_name_or_path_is_refused(tmp_path):
    for bad in ("apptainer exec", "../apptainer", "app;id", ""):
        with pytest.raises(ValueError):
            SlurmBackend(cluster="aif-a", slurm_conf=None, workdir=tmp_path, user="alice", container_runtime=bad)
