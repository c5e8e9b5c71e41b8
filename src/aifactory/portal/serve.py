"""The portal under gunicorn as a child process: started, waited for, stopped. Used by `run` and the benchmarks."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

import httpx


def portal_argv(*, host: str, port: int, workers: int, threads: int = 4, log_level: str = "warning") -> list[str]:
    """The command line of the portal under gunicorn: `workers` processes of `threads` threads each."""
    return [sys.executable, "-m", "gunicorn", "aifactory.portal.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--threads", str(threads), "--log-level", log_level]


def start_portal(*, host: str, port: int, workers: int, env: Mapping[str, str], threads: int = 4,
                 log_level: str = "warning", extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """gunicorn with `workers` processes; more than one thread a worker makes them threaded (gthread), one thread
    the plain synchronous worker. `extra`: more gunicorn arguments (e.g. a config file of hooks)."""
    argv = portal_argv(host=host, port=port, workers=workers, threads=threads, log_level=log_level)
    return subprocess.Popen([*argv, *extra], env=dict(env))


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> bool:
    """True once the portal answers its catalog; False if it exits or the time runs out first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/api/v1/catalog", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
