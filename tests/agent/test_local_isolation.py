"""A first run is safe: local jobs run as an unprivileged account that cannot reach the portal's files."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from aifactory.agent.base import BackendError, BatchJob
from aifactory.agent.isolation import JOB_USER, IsolationError, job_account, job_root_for, secure_data_dir
from aifactory.agent.local import LocalBackend
from aifactory.core.jobs import JobState

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="switching a job's account needs root")


@pytest.fixture
def data_dir():
    """A portal data folder as `aifactory run` leaves it: database, site token, secret, and the site's job folder.
    Made under /tmp (pytest's own folders are root's alone, which would hide the job folder from any job)."""
    folder = Path(tempfile.mkdtemp(prefix="aif-isolation-"))
    folder.chmod(0o755)
    (folder / "aifactory.sqlite3").write_text("SECRET-DATABASE", encoding="utf-8")
    (folder / "aifactory.sqlite3-journal").write_text("SECRET-JOURNAL", encoding="utf-8")
    (folder / "agent-leonardo-local.token").write_text("SECRET-TOKEN", encoding="utf-8")
    (folder / "static").mkdir()
    (folder / "static" / "notes.txt").write_text("SECRET-NOTES", encoding="utf-8")
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # as a careless umask would leave them
    (folder / "site-leonardo-local").mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def wait_done(backend: LocalBackend, uid: str):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        report = backend.find(uid)
        if report is not None and report.state.terminal:
            return report
        time.sleep(0.1)
    raise AssertionError(f"job {uid} did not end: {backend.find(uid)}")


def test_secure_data_dir_leaves_only_the_job_folders_reachable(data_dir):
    secure_data_dir(data_dir, shared=[data_dir / "site-leonardo-local"])
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o711
    assert stat.S_IMODE((data_dir / "site-leonardo-local").stat().st_mode) == 0o711
    for name in ("aifactory.sqlite3", "aifactory.sqlite3-journal", "agent-leonardo-local.token", "static/notes.txt"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) & 0o077 == 0, name
    assert stat.S_IMODE((data_dir / "static").stat().st_mode) == 0o700


@root_only
def test_a_job_cannot_read_or_write_the_portals_files_nor_its_own_record(data_dir):
    secure_data_dir(data_dir, shared=[data_dir / "site-leonardo-local"])
    account = job_account(JOB_USER, create=True)
    job_root = job_root_for(data_dir, "leonardo-local")
    assert job_root == data_dir / "site-leonardo-local" / "jobs"  # /tmp is open to all: the job folders serve
    backend = LocalBackend(data_dir / "site-leonardo-local", account, job_root)
    backend.ensure_account("aif-p1", 600)
    d = str(data_dir)
    script = "\n".join([
        "id -u > whoami.txt",
        f"cat {d}/aifactory.sqlite3 && echo BREACH-read-database",
        f"cat {d}/aifactory.sqlite3-journal && echo BREACH-read-journal",
        f"cat {d}/agent-leonardo-local.token && echo BREACH-read-token",
        f"cat {d}/static/notes.txt && echo BREACH-read-notes",
        f"ls {d} && echo BREACH-list-data",
        f"ls {d}/site-leonardo-local/jobs && echo BREACH-list-jobs",
        f"touch {d}/planted && echo BREACH-write-data",
        f"echo 0 > {d}/aifactory.sqlite3 && echo BREACH-write-database",
        f"cat {d}/site-leonardo-local/accounts.json && echo BREACH-read-accounts",
        'echo 0 > "$AIF_JOB_DIR/../exit_code" && echo BREACH-write-record',
        'touch "$AIF_JOB_DIR/../cancelled" && echo BREACH-cancel-record',
        "echo result > model.txt",
        "exit 3",
    ])
    uid = uuid.uuid4().hex
    backend.submit(BatchJob(uid=uid, name="probe", account="aif-p1", gpus=1, time_limit_s=60, script=script, env={},
                            outputs=("model.txt",)))
    report = wait_done(backend, uid)
    log = backend.logs(uid)
    assert "BREACH" not in log and "SECRET" not in log, log
    assert "Permission denied" in log
    assert report.state is JobState.FAILED and report.exit_code == 3  # its own exit, not one it wrote
    work = job_root / uid / "work"
    assert int((work / "whoami.txt").read_text()) == account.uid == pwd.getpwnam(JOB_USER).pw_uid != 0
    assert backend.output_files(uid) == [{"path": "model.txt", "bytes": 7}]
    assert not (data_dir / "planted").exists()
    assert (data_dir / "aifactory.sqlite3").read_text() == "SECRET-DATABASE"


@root_only
def test_root_is_never_the_job_account(monkeypatch):
    with pytest.raises(IsolationError):
        job_account("root")


def test_a_missing_account_is_named():
    with pytest.raises(IsolationError, match="no-such-account-x"):
        job_account("no-such-account-x")


@pytest.mark.skipif(os.geteuid() == 0, reason="as root the account can be switched")
def test_without_root_a_job_account_is_refused(tmp_path):
    with pytest.raises(BackendError, match="only root"):
        LocalBackend(tmp_path, job_account(pwd.getpwuid(os.geteuid()).pw_name))


@root_only
def test_a_data_folder_in_a_private_place_gets_its_jobs_a_folder_they_can_reach(tmp_path):
    data_dir = tmp_path / "var"  # pytest's folders are root's alone, as a home folder would be
    data_dir.mkdir()
    (data_dir / "aifactory.sqlite3").write_text("SECRET-DATABASE", encoding="utf-8")
    secure_data_dir(data_dir, shared=[])
    job_root = job_root_for(data_dir, "leonardo-local")
    assert not job_root.is_relative_to(tmp_path)
    shutil.rmtree(job_root.parent, ignore_errors=True)
    previous = os.umask(0o077)  # as `aifactory run` sets it: nothing it makes is open to others by accident
    try:
        backend = LocalBackend(data_dir / "site-leonardo-local", job_account(JOB_USER, create=True), job_root)
    finally:
        os.umask(previous)
    backend.ensure_account("aif-p1", 600)
    uid = uuid.uuid4().hex
    script = f"echo hello > out.txt\ncat {data_dir}/aifactory.sqlite3 && echo BREACH\npwd\n"
    backend.submit(BatchJob(uid=uid, name="probe", account="aif-p1", gpus=1, time_limit_s=60, script=script, env={},
                            outputs=("out.txt",)))
    report = wait_done(backend, uid)
    assert report.state is JobState.COMPLETED, backend.logs(uid)
    log = backend.logs(uid)
    assert "BREACH" not in log and str(job_root / uid) in log
    assert backend.output_files(uid) == [{"path": "out.txt", "bytes": 6}]
    shutil.rmtree(job_root, ignore_errors=True)
