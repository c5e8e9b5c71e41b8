"""The local backend: jobs run as processes on this machine, one folder per job.

Each job's folder holds the user's script (`user.sh`, run by bash as a file), its environment as JSON, and
the records the runner (`aifactory.agent.local_run`) writes: `pid`, `started`, `exit_code`, `ended`, and
`output.log` (the runner's own errors, if any, go to `runner.log`). A gated job's runner starts, then waits for
the `released` file before it runs `user.sh` (see the start gate in aifactory.agent.base). There is no container
here: a job's image is named in its output and not used; the commands run on this machine as they are.
The runner lives in its own session, so a job outlives an agent that is killed; the folder is the scheduler's
record that `find` reads back.

With a job account (`job_account`, see aifactory.agent.isolation), the runner stays root's but the commands run as
that unprivileged account in the folder's `work/`, the only place the job can write; the job folder is then
traversable (0711), user.sh readable, the rest of the record the runner's alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aifactory.agent.base import ACCOUNT_RE, UID_RE, Backend, BackendError, BatchJob, JobReport, read_markers
from aifactory.agent.isolation import JobAccount, can_switch_user
from aifactory.core.jobs import JobState

# Runners started by this process, kept until they end so that each is reaped (no zombie, no ResourceWarning from a
# Popen dropped while its process runs). A runner does not depend on this: it outlives the agent that started it.
_RUNNERS: dict[int, subprocess.Popen[bytes]] = {}


def _reap() -> None:
    for pid, proc in list(_RUNNERS.items()):
        if proc.poll() is not None:
            del _RUNNERS[pid]


def write_atomic(path: Path, text: str) -> None:
    """Replace the file at once; it is readable by its owner only (the jobs' account may not read the records)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        return None


class LocalBackend(Backend):
    name = "local"

    def __init__(self, workdir: Path, job_account: JobAccount | None = None, job_root: Path | None = None) -> None:
        self.root = Path(workdir)
        self.job_account = job_account
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        # Where the jobs' working folders go when they run as the job account: a folder it can reach.
        self.job_root = Path(job_root) if job_root is not None else self.root / "jobs"
        if job_account is not None:
            if not can_switch_user():
                raise BackendError(f"only root can run jobs as {job_account.name}")
            # Every folder made here is traversable by the job account (whatever the umask), none listable.
            missing = [p for p in (self.job_root, *self.job_root.parents) if not p.exists()]
            for folder in reversed(missing):
                folder.mkdir(mode=0o711)
            for folder in {self.root, self.root / "jobs", self.job_root, *missing}:
                folder.chmod(0o711)

    def _dir(self, uid: str) -> Path:
        if not UID_RE.match(uid):
            raise BackendError(f"not a job uid: {uid!r}")
        return self.root / "jobs" / uid

    def ensure_account(self, account: str, gpu_minutes: int) -> None:
        if not ACCOUNT_RE.match(account) or gpu_minutes < 0:
            raise BackendError(f"invalid account {account!r} or limit {gpu_minutes}")
        path = self.root / "accounts.json"
        accounts = json.loads(_read(path) or "{}")
        accounts[account] = {"gpu_minutes": gpu_minutes}
        write_atomic(path, json.dumps(accounts, indent=1, sort_keys=True))

    def account_limit(self, account: str) -> int | None:
        entry = json.loads(_read(self.root / "accounts.json") or "{}").get(account)
        return None if entry is None else int(entry["gpu_minutes"])

    def submit(self, job: BatchJob) -> str:
        if self.account_limit(job.account) is None:
            raise BackendError(f"account {job.account} does not exist at this site")
        folder = self._dir(job.uid)
        try:
            folder.mkdir()
        except FileExistsError as exc:
            raise BackendError(f"job {job.uid} was submitted already") from exc
        (folder / "user.sh").write_text(job.script, encoding="utf-8")
        meta = {"name": job.name, "account": job.account, "gpus": job.gpus, "time_limit_s": job.time_limit_s,
                "gated": job.gated, "start_wait_s": job.start_wait_s, "image": job.image,
                "inputs": list(job.inputs), "outputs": list(job.outputs), "lease_s": job.lease_s}
        if self.job_account is not None:
            meta["run_as"] = self.job_account.to_dict()
            meta["work_dir"] = str(self.job_root / job.uid / "work" if self.job_root == self.root / "jobs"
                                   else self.job_root / job.uid)
        if job.gated:
            (folder / "gated").touch()
        if job.lease_s:
            self.renew_lease(job.uid, time.time() + job.lease_s)
        write_atomic(folder / "meta.json", json.dumps(meta))
        write_atomic(folder / "env.json", json.dumps(dict(job.env)))
        with (folder / "runner.log").open("wb") as runner_log:  # the runner's own errors, if it has any
            proc = subprocess.Popen(
                [sys.executable, "-m", "aifactory.agent.local_run", str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=runner_log,
                start_new_session=True,
                close_fds=True,
            )
        _RUNNERS[proc.pid] = proc
        write_atomic(folder / "pid", str(proc.pid))
        return str(proc.pid)

    def _alive(self, folder: Path, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return False
        if str(folder).encode() not in cmdline and (folder / "started").exists():
            return False  # the pid was reused by another process (before exec, the runner shows its parent's)
        status = _read(Path(f"/proc/{pid}/stat")) or ""
        return ") Z " not in status  # a zombie has finished

    def find(self, uid: str) -> JobReport | None:
        _reap()
        folder = self._dir(uid)
        if not folder.is_dir():
            return None
        meta = json.loads(_read(folder / "meta.json") or "{}")
        gpus = int(meta.get("gpus", 0))
        pid_text = _read(folder / "pid") or ""
        started, ended = _stamp(_read(folder / "started")), _stamp(_read(folder / "ended"))
        exit_text = _read(folder / "exit_code")
        message = ""
        if exit_text is not None:
            exit_code: int | None = int(exit_text)
            if (folder / "cancelled").exists():
                state = JobState.CANCELLED
            elif exit_code == 0:
                state = JobState.COMPLETED
            else:
                state = JobState.FAILED
                message = _read(folder / "reason") or f"exit code {exit_code}"
        else:
            exit_code = None
            runner_gone = pid_text.isdigit() and not self._alive(folder, int(pid_text))
            if not runner_gone:
                state = JobState.SUBMITTED if started is None else JobState.RUNNING
            elif (folder / "cancelled").exists():
                state, message = JobState.CANCELLED, "cancelled"  # stopped before it could record an exit code
                ended = ended or datetime.now(tz=UTC)
            elif started is None:
                state, message = JobState.FAILED, "the runner ended before the job started"
            else:
                state, message = JobState.FAILED, "the runner ended without recording an exit code"
                ended = ended or datetime.now(tz=UTC)
        gpu_seconds = 0.0
        if started is not None and not (folder / "not-run").exists():
            gpu_seconds = gpus * max(0.0, ((ended or datetime.now(tz=UTC)) - started).total_seconds())
        return JobReport(uid=uid, scheduler_id=pid_text, state=state, exit_code=exit_code, gpu_seconds=gpu_seconds,
                         started_at=started, ended_at=ended, message=message)

    def cancel(self, uid: str) -> None:
        folder = self._dir(uid)
        if not folder.is_dir():
            return
        (folder / "cancelled").touch()
        pid_text = _read(folder / "pid") or ""
        if pid_text.isdigit() and self._alive(folder, int(pid_text)):
            try:
                os.kill(int(pid_text), signal.SIGTERM)
            except ProcessLookupError:
                pass

    def logs(self, uid: str, max_bytes: int = 65536) -> str:
        path = self._dir(uid) / "output.log"
        try:
            with path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - max_bytes))
                return fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def release(self, uid: str) -> None:
        folder = self._dir(uid)
        if not folder.is_dir():
            raise BackendError(f"job {uid} is not known here")
        (folder / "released").touch()

    def released(self, uid: str) -> bool:
        folder = self._dir(uid)
        return not (folder / "gated").exists() or (folder / "released").exists()

    def at_gate(self, uid: str) -> bool:
        folder = self._dir(uid)
        return (folder / "started").exists() and not self.released(uid)

    def renew_lease(self, uid: str, until: float) -> None:
        folder = self._dir(uid)
        if not folder.is_dir():
            return
        write_atomic(folder / "lease", f"{int(until)}\n")
        (folder / "lease").chmod(0o644)  # the job's own account reads it too (AIF_LEASE_FILE)

    def checkpoints(self, uid: str) -> list[dict[str, object]]:
        folder = self._dir(uid)
        meta = json.loads(_read(folder / "meta.json") or "{}")
        work = Path(str(meta["work_dir"])) if meta.get("run_as") and meta.get("work_dir") else folder
        return read_markers(work / "checkpoints")

    def output_files(self, uid: str) -> list[dict[str, object]]:
        try:
            data = json.loads(_read(self._dir(uid) / "outputs.json") or "[]")
        except ValueError:
            return []
        return [{"path": str(f["path"]), "bytes": int(f["bytes"])} for f in data if isinstance(f, dict)][:64]
