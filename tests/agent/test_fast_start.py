"""A job's way from the portal to its first command: the agent acts on a wake-up without waiting for its interval,
asks the scheduler one question before a new job's sbatch, and opens a started job's gate without waiting for a pass.
The portal is a recording stand-in here (the agent against the real portal is in test_runner.py); the backends are
the local one for real and the Slurm one over recorded commands."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from aifactory.agent.base import BatchJob, JobReport
from aifactory.agent.client import Order, RemoteJob, Revocation
from aifactory.agent.local import LocalBackend
from aifactory.agent.runner import Agent
from aifactory.agent.slurm import SlurmBackend
from aifactory.core.jobs import JobState
from tests.agent.test_slurm_parsing import UID, FakeSlurm, by_tool

ACCOUNT = "aif-p1"


class Portal:
    """What the agent asks of the portal, answered from memory and recorded. `waiter()` is the same object: its
    `wait` answers True once `work` is set (and clears it), False after a short wait otherwise."""

    def __init__(self, jobs: list[RemoteJob] | None = None) -> None:
        self.open_jobs = list(jobs or [])
        self.calls: list[str] = []
        self.reports: list[JobReport] = []
        self.work = threading.Event()
        self.lock = threading.Lock()

    def _note(self, call: str) -> None:
        with self.lock:
            self.calls.append(call)

    def count(self, call: str) -> int:
        with self.lock:
            return self.calls.count(call)

    def waiter(self) -> Portal:
        return self

    def wait(self, timeout_s: float = 20.0) -> bool:
        if self.work.wait(0.05):
            self.work.clear()
            return True
        return False

    def close(self) -> None:
        pass

    def heartbeat(self, *, queue_wait_s: float, backend: str) -> None:
        self._note("heartbeat")

    def orders(self) -> list[Order]:
        self._note("orders")
        return []

    def revocations(self) -> list[Revocation]:
        self._note("revocations")
        return []

    def ssh_files(self) -> tuple[bytes, bytes]:
        self._note("ssh_files")
        return b"", b""

    def jobs(self) -> list[RemoteJob]:
        self._note("jobs")
        with self.lock:
            return list(self.open_jobs)

    def report(self, report: JobReport, *, log_tail: str = "", output_files: object = None) -> None:
        self._note(f"report {report.state.value}")
        with self.lock:
            self.reports.append(report)
            self.open_jobs = [
                RemoteJob(**{**j.__dict__, "state": report.state.value}) if j.uid == report.uid else j
                for j in self.open_jobs
            ]


def remote(uid: str, script: str = "true\n", state: str = "pending") -> RemoteJob:
    return RemoteJob(uid=uid, name="t", account=ACCOUNT, gpus=1, time_limit_s=600, script=script, env={},
                     state=state, cancel_requested=False, scheduler_id="")


def until(what: str, done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """A guard against hanging, not a measure: fails only when `done` never comes."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def slurm(tmp_path: Path, fake: FakeSlurm) -> SlurmBackend:
    return SlurmBackend(cluster="aif-a", slurm_conf=None, workdir=tmp_path / "jobs", user="alice", runner=fake)


# --- one question to the scheduler --------------------------------------------------------------------------------


def test_a_woken_pass_costs_a_new_job_one_squeue_and_its_sbatch(tmp_path):
    fake = FakeSlurm(by_tool(sbatch="41"))
    portal = Portal()
    agent = Agent(portal, slurm(tmp_path, fake), ssh_dir=tmp_path, heartbeat_every_s=3600)  # type: ignore[arg-type]
    agent.cycle()  # a regular pass, with nothing to do: the heartbeat (and the queue wait), the SSH files
    assert portal.count("heartbeat") == 1 and portal.count("ssh_files") == 1
    fake.calls.clear()
    with portal.lock:
        portal.open_jobs.append(remote(UID))
    result = agent.cycle(woken=True)
    assert result.submitted == [UID]
    assert [argv[0] for argv, _, _ in fake.calls] == ["squeue", "sbatch"]  # no sacct, no second find
    assert portal.count("heartbeat") == 1 and portal.count("ssh_files") == 1  # left to the regular passes
    assert portal.count("report submitted") == 1


def test_a_regular_pass_keeps_the_heartbeat(tmp_path):
    fake = FakeSlurm(by_tool(sbatch="41"))
    portal = Portal([remote(UID)])
    Agent(portal, slurm(tmp_path, fake)).cycle()  # type: ignore[arg-type]
    assert portal.count("heartbeat") == 1
    assert [argv[0] for argv, _, _ in fake.calls] == ["squeue", "squeue", "sbatch"]  # queue wait, then the find


def test_a_live_copy_is_not_submitted_again(tmp_path):
    queued = f"41|aif-{UID}|PENDING|Priority|N/A\n"
    fake = FakeSlurm(by_tool(squeue=queued))
    portal = Portal([remote(UID)])
    result = Agent(portal, slurm(tmp_path, fake)).cycle(woken=True)  # type: ignore[arg-type]
    assert result.submitted == [] and fake.commands("sbatch") == []
    assert [r.state for r in portal.reports] == [JobState.SUBMITTED] and portal.reports[0].scheduler_id == "41"


def test_a_pass_takes_new_jobs_first(tmp_path):
    running, new = uuid.uuid4().hex, uuid.uuid4().hex
    fake = FakeSlurm(by_tool(sbatch="42"))
    portal = Portal([remote(running, state="running"), remote(new)])
    Agent(portal, slurm(tmp_path, fake)).cycle(woken=True)  # type: ignore[arg-type]
    asked = [argv for argv, _, _ in fake.calls if argv[0] in ("squeue", "sbatch")]
    assert asked[0][0] == "squeue" and f"aif-{new}" in asked[0] and asked[1][0] == "sbatch"


def test_a_resubmitted_copy_starts_with_its_gate_closed(tmp_path):
    b = slurm(tmp_path, FakeSlurm(by_tool(sbatch="43")))
    folder = b.job_dir(UID)
    folder.mkdir(parents=True)
    for name in ("started", "not-released", "released"):  # an earlier copy that ended at its gate
        (folder / name).touch()
    job = BatchJob(uid=UID, name="t", account=ACCOUNT, gpus=1, time_limit_s=600, script="true\n", gated=True)
    assert b.submit_unseen(job) == "43"
    assert not b.at_gate(UID) and not b.released(UID)
    assert not (folder / "started").exists() and not (folder / "not-released").exists()


# --- woken, and released between passes ---------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalBackend:
    backend = LocalBackend(tmp_path / "site")
    backend.ensure_account(ACCOUNT, 600)
    return backend


def test_a_wake_up_starts_the_job_and_its_gate_opens_without_another_pass(local, tmp_path):
    marker = tmp_path / "ran"
    portal = Portal()
    agent = Agent(portal, local)  # type: ignore[arg-type]
    stop = threading.Event()
    runner = threading.Thread(target=agent.run_forever, kwargs={"interval_s": 3600, "stop": stop.is_set,
                                                                  "wake": True})
    runner.start()
    try:
        until("the first pass", lambda: portal.count("jobs") == 1)
        uid = uuid.uuid4().hex
        with portal.lock:
            portal.open_jobs.append(remote(uid, script=f"touch {marker}\n"))
        portal.work.set()  # the portal answers the long-poll: there is work
        until("the job's commands", marker.exists)
        assert portal.count("report running") >= 1 and local.released(uid)
        # One regular pass (the first) in an hour's interval: the job was submitted by a woken pass, and released by
        # the gate watcher, neither of which waits for the interval.
        assert portal.count("heartbeat") == 1
        assert portal.count("jobs") >= 2
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()


def test_woken_passes_keep_the_heartbeat_once_it_is_due(local):
    portal = Portal()
    portal.wait = lambda timeout_s=20.0: True  # type: ignore[method-assign]  # work, again and again
    agent = Agent(portal, local)  # type: ignore[arg-type]
    # Woken over and over, the agent never reaches the end of its 0.3 s interval; its woken passes are WAKE_GAP_S
    # (0.2 s) apart at the closest, so six passes span more than the interval and the heartbeat falls due again.
    agent.run_forever(interval_s=0.3, stop=lambda: portal.count("jobs") >= 6, wake=True)
    assert portal.count("heartbeat") >= 2
