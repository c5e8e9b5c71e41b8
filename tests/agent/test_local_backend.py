"""The local backend: jobs as detached processes, one folder per job, read back by `find`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from aifactory.agent.base import BackendError, BatchJob, JobReport
from aifactory.agent.local import LocalBackend
from aifactory.core.jobs import JobState

ACCOUNT = "aif-p1"


def new_uid() -> str:
    return uuid.uuid4().hex


def batch(script: str, *, uid: str | None = None, env: dict[str, str] | None = None, gpus: int = 2,
          account: str = ACCOUNT) -> BatchJob:
    return BatchJob(uid=uid or new_uid(), name="t", account=account, gpus=gpus, time_limit_s=60, script=script,
                    env=env or {})


def runner_log(backend: LocalBackend, uid: str) -> str:
    path = backend.root / "jobs" / uid / "runner.log"
    return path.read_text(errors="replace") if path.exists() else ""


def wait_for(backend: LocalBackend, uid: str, done: Callable[[JobReport], bool], timeout_s: float = 15.0,
             runner_may_die: bool = False) -> JobReport:
    deadline = time.monotonic() + timeout_s
    while True:
        report = backend.find(uid)
        assert report is not None
        if done(report):
            assert runner_may_die or "runner ended" not in report.message, (report, runner_log(backend, uid))
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last report {report}; runner said {runner_log(backend, uid)!r}")
        time.sleep(0.05)


def finished(report: JobReport) -> bool:
    return report.state.terminal


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return ") Z " not in stat


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    b = LocalBackend(tmp_path / "site")
    b.ensure_account(ACCOUNT, 6000)
    return b


def test_accounts_are_idempotent_and_checked(backend: LocalBackend):
    backend.ensure_account(ACCOUNT, 120)
    backend.ensure_account(ACCOUNT, 120)
    backend.ensure_account("aif-p2", 0)
    assert backend.account_limit(ACCOUNT) == 120
    assert backend.account_limit("aif-p2") == 0
    assert backend.account_limit("nobody") is None
    for account, minutes in (("Bad Name", 1), ("x", 1), ("aif-p3;rm", 1), (ACCOUNT, -1)):
        with pytest.raises(BackendError):
            backend.ensure_account(account, minutes)


def test_a_job_runs_to_completion_with_its_output(backend: LocalBackend):
    job = batch('echo "hello from $AIFACTORY_JOB_UID with $AIFACTORY_GPUS GPUs"\necho "to stderr" >&2\nsleep 0.3\n')
    scheduler_id = backend.submit(job)
    assert scheduler_id.isdigit()
    first = backend.find(job.uid)
    assert first is not None and first.state in (JobState.SUBMITTED, JobState.RUNNING, JobState.COMPLETED)
    report = wait_for(backend, job.uid, finished)
    assert report.state == JobState.COMPLETED
    assert report.exit_code == 0
    assert report.scheduler_id == scheduler_id
    assert report.started_at is not None and report.ended_at is not None and report.ended_at >= report.started_at
    assert report.gpu_seconds == pytest.approx(2 * (report.ended_at - report.started_at).total_seconds())
    assert report.gpu_seconds >= 2 * 0.3
    log = backend.logs(job.uid)
    assert f"hello from {job.uid} with 2 GPUs" in log
    assert "to stderr" in log
    assert backend.logs(job.uid, max_bytes=10) == log[-10:]


def test_non_zero_exit_is_failed_with_its_code(backend: LocalBackend):
    job = batch("echo about to fail\nexit 3\n")
    backend.submit(job)
    report = wait_for(backend, job.uid, finished)
    assert (report.state, report.exit_code) == (JobState.FAILED, 3)
    assert "exit code 3" in report.message
    assert "about to fail" in backend.logs(job.uid)


def test_the_time_limit_kills_the_job(tmp_path: Path):
    """The runner on a folder with a one-second limit (the backend itself accepts one minute at least)."""
    backend = LocalBackend(tmp_path / "site")
    uid = new_uid()
    folder = backend.root / "jobs" / uid
    folder.mkdir()
    marker = tmp_path / "after-sleep"
    (folder / "user.sh").write_text(f"echo started\nsleep 20\ntouch {marker}\n", encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps({"name": "t", "account": ACCOUNT, "gpus": 1, "time_limit_s": 1}))
    (folder / "env.json").write_text("{}")
    begun = time.monotonic()
    subprocess.run([sys.executable, "-m", "aifactory.agent.local_run", str(folder)], check=True, timeout=30)
    assert time.monotonic() - begun < 15
    report = backend.find(uid)
    assert report is not None
    assert (report.state, report.exit_code) == (JobState.FAILED, 124)
    assert "time limit" in report.message
    assert "started" in backend.logs(uid)
    time.sleep(0.2)
    assert not marker.exists()


@pytest.mark.parametrize(
    "value",
    ["$(touch {marker})", "`touch {marker}`", "x; touch {marker}", "x && touch {marker}", "x\ntouch {marker}",
     "'; touch {marker}; '", '"; touch {marker}; "', "$(touch${{IFS}}{marker})", "| touch {marker}"],
)
def test_environment_values_are_never_executed(backend: LocalBackend, tmp_path: Path, value: str):
    marker = tmp_path / "pwned"
    given = value.format(marker=marker)
    job = batch('printf "%s" "$PAYLOAD" > payload.txt\necho ok\n', env={"PAYLOAD": given})
    backend.submit(job)
    report = wait_for(backend, job.uid, finished)
    assert report.state == JobState.COMPLETED
    assert not marker.exists()
    assert (backend.root / "jobs" / job.uid / "payload.txt").read_text() == given


@pytest.mark.parametrize("name", ["A;B", "A B", "1A", "$(x)", "A=B", ""])
def test_environment_names_are_checked(name: str):
    with pytest.raises(ValueError):
        batch("true", env={name: "x"})


@pytest.mark.parametrize(
    "change",
    [{"uid": "../../etc"}, {"uid": "0" * 31}, {"account": "Root Account"}, {"gpus": -1}, {"time_limit_s": 1},
     {"time_limit_s": 31 * 86400}, {"nodes": 0}],
)
def test_batch_jobs_are_checked(change: dict[str, object]):
    fields: dict[str, object] = {"uid": new_uid(), "name": "t", "account": ACCOUNT, "gpus": 1, "time_limit_s": 60,
                                 "script": "true", **change}
    with pytest.raises(ValueError):
        BatchJob(**fields)  # type: ignore[arg-type]


def test_cancel_stops_the_job_and_its_children(backend: LocalBackend, tmp_path: Path):
    marker = tmp_path / "not-reached"
    job = batch(f"echo $$ > shell.pid\nsleep 30\ntouch {marker}\n")
    backend.submit(job)
    wait_for(backend, job.uid, lambda r: r.state == JobState.RUNNING)
    shell_pid_file = backend.root / "jobs" / job.uid / "shell.pid"
    deadline = time.monotonic() + 10
    while not shell_pid_file.exists() or not shell_pid_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    shell_pid = int(shell_pid_file.read_text())
    backend.cancel(job.uid)
    report = wait_for(backend, job.uid, finished)
    assert report.state == JobState.CANCELLED
    assert report.exit_code == 128 + signal.SIGTERM
    deadline = time.monotonic() + 5
    while pid_alive(shell_pid):
        assert time.monotonic() < deadline, "the job's shell outlived the cancel"
        time.sleep(0.05)
    assert not marker.exists()
    backend.cancel(job.uid)  # again: harmless
    backend.cancel(new_uid())  # never seen: harmless


def test_cancel_before_the_job_starts(backend: LocalBackend):
    job = batch("echo should-not-run-long; sleep 30\n")
    backend.submit(job)
    backend.cancel(job.uid)  # at once: the runner may not have started the job yet
    report = wait_for(backend, job.uid, finished)
    assert report.state == JobState.CANCELLED


def test_a_runner_killed_hard_is_reported_failed(backend: LocalBackend):
    job = batch("sleep 30\n")
    pid = int(backend.submit(job))
    wait_for(backend, job.uid, lambda r: r.state == JobState.RUNNING)
    os.kill(pid, signal.SIGKILL)
    report = wait_for(backend, job.uid, finished, runner_may_die=True)
    assert report.state == JobState.FAILED
    assert "without recording an exit code" in report.message
    _kill_leftover_job(backend, job.uid)


def _kill_leftover_job(backend: LocalBackend, uid: str) -> None:
    """The job's own process group outlives a runner killed with SIGKILL: end it (it is ours)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd == str(backend.root / "jobs" / uid):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_submit_twice_is_refused_and_runs_once(backend: LocalBackend, tmp_path: Path):
    count = tmp_path / "runs"
    job = batch(f"echo run >> {count}\n")
    backend.submit(job)
    with pytest.raises(BackendError):
        backend.submit(job)
    wait_for(backend, job.uid, finished)
    assert count.read_text().splitlines() == ["run"]


def test_submit_needs_the_account(backend: LocalBackend):
    with pytest.raises(BackendError):
        backend.submit(batch("true", account="aif-p999"))


def test_find_and_logs_of_unknown_jobs(backend: LocalBackend):
    uid = new_uid()
    assert backend.find(uid) is None
    assert backend.logs(uid) == ""
    with pytest.raises(BackendError):
        backend.find("../escape")


def test_a_new_backend_object_reads_the_same_folder(backend: LocalBackend):
    job = batch("sleep 0.5\necho late\n")
    backend.submit(job)
    again = LocalBackend(backend.root)
    report = wait_for(again, job.uid, finished)
    assert report.state == JobState.COMPLETED
    assert "late" in again.logs(job.uid)
