"""Runs one local job: `python -m aifactory.agent.local_run FOLDER`. Started in its own session by LocalBackend.

Writes `started`, runs `bash user.sh` in the folder with the job's environment and its time limit, then writes
`exit_code` and `ended`. SIGTERM (a cancel) stops the job's whole process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from aifactory.agent.local import write_atomic

TIMEOUT_EXIT = 124


def main(folder: Path) -> int:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    job_env = json.loads((folder / "env.json").read_text(encoding="utf-8"))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "USER")}
    env.update({str(k): str(v) for k, v in job_env.items()})
    env["AIFACTORY_JOB_UID"] = folder.name
    env["AIFACTORY_GPUS"] = str(meta["gpus"])
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
        if stopping:
            code = 128 + int(signal.SIGTERM)
        else:
            child = subprocess.Popen(
                ["bash", "user.sh"], cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            if stopping:
                stop(signal.SIGTERM, None)
            try:
                code = child.wait(timeout=float(meta["time_limit_s"]))
            except subprocess.TimeoutExpired:
                write_atomic(folder / "reason", f"time limit of {meta['time_limit_s']} s reached")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                code = TIMEOUT_EXIT
    if code < 0:
        code = 128 - code
    write_atomic(folder / "ended", repr(time.time()))
    write_atomic(folder / "exit_code", str(code))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
