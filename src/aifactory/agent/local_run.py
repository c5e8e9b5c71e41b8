"""Runs one local job: `python -m aifactory.agent.local_run FOLDER`. Started in its own session by LocalBackend.

Writes `started`; for a gated job waits for the `released` file (at most `start_wait_s`, then ends with exit code
75 having run nothing); checks that the inputs exist (exit code 66 when one is missing); runs `bash user.sh` in the
folder with the job's environment and its time limit; lists the outputs found (`outputs.json`); then writes
`exit_code` and `ended`. SIGTERM (a cancel) stops the job's whole process group. When an input is missing the
commands never start: it writes `not-run`, and the job reports no GPU time.

When meta.json names `run_as` (an unprivileged account), the commands run as that account, umask 077, with no
supplementary groups, in `work/` (made for it, the only folder it may write; its HOME and AIF_JOB_DIR); the
outputs are looked for there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from aifactory.agent.base import LEASE_KILL_AFTER_S
from aifactory.agent.local import write_atomic

TIMEOUT_EXIT = 124
NOT_RELEASED_EXIT = 75
MISSING_INPUT_EXIT = 66


def _wait_for_release(folder: Path, wait_s: float, stopped: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + wait_s
    while not (folder / "released").exists():
        if stopped() or time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _list_outputs(folder: Path, workdir: Path, outputs: list[str]) -> None:
    """Record in the job's folder the outputs found under its working folder (links are not followed)."""
    found = []
    for rel in outputs:
        path = workdir / rel
        if path.is_symlink():
            continue
        if path.is_file():
            found.append({"path": rel, "bytes": path.stat().st_size})
        elif path.is_dir():
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
            found.append({"path": rel, "bytes": size})
    write_atomic(folder / "outputs.json", json.dumps(found))


def _lease_over(folder: Path) -> bool:
    try:
        return time.time() >= int((folder / "lease").read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return True


def _wait(child: subprocess.Popen[bytes], folder: Path, time_limit_s: float, leased: bool) -> int:
    """Wait for the commands, within their time limit; with a lease, stop them (TERM, then KILL
    LEASE_KILL_AFTER_S later) once the agent has not renewed it in time (see aifactory.agent.base.BatchJob)."""
    deadline = time.monotonic() + time_limit_s
    kill_at: float | None = None
    while True:
        try:
            return child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if now >= deadline:
            write_atomic(folder / "reason", f"time limit of {time_limit_s:g} s reached")
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return TIMEOUT_EXIT
        if leased and kill_at is None and _lease_over(folder):
            write_atomic(folder / "reason", "the lease was not renewed by the site; the commands were stopped")
            write_atomic(folder / "lease-expired", "")
            os.killpg(child.pid, signal.SIGTERM)
            kill_at = now + LEASE_KILL_AFTER_S
        elif kill_at is not None and now >= kill_at:
            os.killpg(child.pid, signal.SIGKILL)


def main(folder: Path) -> int:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    job_env = json.loads((folder / "env.json").read_text(encoding="utf-8"))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "USER")}
    env.update({str(k): str(v) for k, v in job_env.items()})
    env["AIFACTORY_JOB_UID"] = folder.name
    env["AIFACTORY_GPUS"] = str(meta["gpus"])
    # The same names as on a Slurm site (aifactory.agent.slurm.batch_script).
    env["AIF_JOB_UID"] = folder.name
    env["AIF_JOB_NAME"] = str(meta.get("name", ""))
    env["AIF_JOB_DIR"] = str(folder)
    if meta.get("lease_s"):
        env["AIF_LEASE_FILE"] = str(folder / "lease")
    run_as = meta.get("run_as")
    workdir = folder
    script = "user.sh"
    if isinstance(run_as, dict):
        # The job's own folder, the only one it may write; its script copied in (the record stays root's alone).
        folder.chmod(0o711)
        workdir = Path(str(meta.get("work_dir") or folder / "work"))
        workdir.mkdir(mode=0o700, exist_ok=True)
        script = str(workdir / ".aifactory-job.sh")
        shutil.copyfile(folder / "user.sh", script)
        for path in (workdir, Path(script)):
            os.chown(path, int(run_as["uid"]), int(run_as["gid"]))
        env.update({"HOME": str(workdir), "USER": str(run_as["name"]), "LOGNAME": str(run_as["name"]),
                    "AIF_JOB_DIR": str(workdir)})
        env.pop("TMPDIR", None)
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    # Installed before the job starts, so a cancel that comes early cannot leave the job running on its own.
    signal.signal(signal.SIGTERM, stop)
    write_atomic(folder / "started", repr(time.time()))
    with (folder / "output.log").open("ab") as out:
        released = not meta.get("gated") or _wait_for_release(folder, float(meta.get("start_wait_s", 600)),
                                                               lambda: stopping)
        missing = [p for p in meta.get("inputs", []) if not os.path.exists(p)]
        if missing and released and not stopping:
            # Refused before anything ran or waited: nothing to charge. (A copy held at the start gate did hold
            # its GPUs, and is charged for the wait.)
            write_atomic(folder / "not-run", "")
        if stopping:
            code = 128 + int(signal.SIGTERM)
        elif not released:
            write_atomic(folder / "reason", "not released by the site in time; nothing was run")
            write_atomic(folder / "not-released", "")
            code = NOT_RELEASED_EXIT
        elif missing:
            write_atomic(folder / "reason", f"input {missing[0]} is not there")
            out.write(f"aifactory: input {missing[0]} is not there\n".encode())
            code = MISSING_INPUT_EXIT
        else:
            if meta.get("image"):
                out.write(f"aifactory: the local backend has no container runtime; image {meta['image']} is not "
                          "used\n".encode())
                out.flush()
            if isinstance(run_as, dict):
                child = subprocess.Popen(
                    ["bash", script], cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True, user=int(run_as["uid"]),
                    group=int(run_as["gid"]), extra_groups=[], umask=0o077,
                )
            else:
                child = subprocess.Popen(
                    ["bash", "user.sh"], cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
            if stopping:
                stop(signal.SIGTERM, None)
            code = _wait(child, folder, float(meta["time_limit_s"]), bool(meta.get("lease_s")))
    if code < 0:
        code = 128 - code
    if meta.get("outputs"):
        _list_outputs(folder, workdir, list(meta["outputs"]))
    write_atomic(folder / "ended", repr(time.time()))
    write_atomic(folder / "exit_code", str(code))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
