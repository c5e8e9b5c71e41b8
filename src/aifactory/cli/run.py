"""`aifactory run`: the portal (gunicorn, SQLite by default), one local agent and the task runner's workers (mail,
failover, reminders: `django-admin tasks_worker`), ready to click through."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aifactory.agent.isolation import (
    JOB_USER,
    IsolationError,
    can_switch_user,
    job_account,
    job_root_for,
    secure_data_dir,
)
from aifactory.launch.tiny import tiny_training
from aifactory.portal.serve import start_portal, stop, wait_until_up

# The repository's example jobs (an installed package without them seeds the demo login without jobs).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "jobs"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("run", help="start the portal and a local agent")
    p.add_argument("--host", default=os.environ.get("AIFACTORY_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("AIFACTORY_PORT", "8000")))
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("AIFACTORY_DATA_DIR", "var")))
    p.add_argument("--machine", default="leonardo", help="machine the local agent stands in for")
    p.add_argument("--workers", type=int, default=2, help="the portal's web workers (gunicorn)")
    p.add_argument("--task-workers", type=int, default=2,
                   help="the task runner's workers (mail, failover, reminders); one that dies is started again")
    p.add_argument("--job-user", default=os.environ.get("AIFACTORY_JOB_USER", JOB_USER),
                   help="as root: the unprivileged account local jobs run as (made if missing)")
    p.set_defaults(func=run)


def mail_destination() -> str:
    """Where the portal's e-mail goes, in words (the settings are read from the environment)."""
    from django.conf import settings

    if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
        return f"written as files into {settings.EMAIL_FILE_PATH} (set AIFACTORY_EMAIL_HOST to send through SMTP)"
    if settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
        return "printed on this console by the background worker"
    return f"sent through {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"


def run(args: argparse.Namespace) -> int:
    from aifactory.portal.bootstrap import (
        DEMO_PASSWORD,
        DEMO_USER,
        bootstrap,
        seed_demo,
        seed_demo_jobs,
        setup_django,
    )

    data_dir = args.data_dir.resolve()
    # What the portal and the agent create from here on is theirs alone (database journals, tokens, job records).
    os.umask(0o077)
    isolation: list[str] = []
    if can_switch_user():
        try:
            account = job_account(args.job_user, create=True)
        except IsolationError as exc:
            print(f"aifactory run: {exc}", file=sys.stderr)
            return 2
        isolation = ["--job-user", account.name]
    setup_django(data_dir)
    boot = bootstrap(data_dir=data_dir, site=f"{args.machine}-local", machine=args.machine, backend="local")
    demo_allocation = seed_demo(machine=args.machine)
    site_dir = data_dir / f"site-{boot.site}"
    site_dir.mkdir(exist_ok=True)
    if isolation:
        secure_data_dir(data_dir, shared=[site_dir])
        isolation += ["--job-root", str(job_root_for(data_dir, boot.site))]
    url = f"http://{args.host}:{args.port}"
    env = {**os.environ, "AIFACTORY_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "aifactory.portal.settings"}
    env.setdefault("AIFACTORY_PUBLIC_URL", url)
    portal = start_portal(host=args.host, port=args.port, workers=args.workers, env=env)
    agent = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        if not wait_until_up(url, portal):
            print("aifactory run: the portal did not start", file=sys.stderr)
            return 1
        agent = subprocess.Popen(
            [sys.executable, "-m", "aifactory.cli.main", "agent", "--site", boot.site, "--backend", "local",
             "--url", url, "--token-file", str(boot.token_file), "--workdir", str(site_dir), *isolation],
            env=env,
        )
        if demo_allocation is not None:  # the demo login's finished jobs, once the agent has made its account
            threading.Thread(target=seed_demo_jobs, daemon=True,
                             kwargs={"allocation_id": demo_allocation, "examples": EXAMPLES}).start()
        # Background work on the task runner (django-tasks, queue in the portal's database): e-mail delivery and the
        # periodic tasks (failover, reminders, certificate expiry), each worker's scheduler enqueueing what is due.
        worker_command = [sys.executable, "-m", "django", "tasks_worker", "--interval", "1", "--no-reload"]
        workers = [subprocess.Popen(worker_command, env=env) for _ in range(max(1, args.task_workers))]
        print(f"\naifactory is running at {url}/  (API: {url}/api/v1/docs)", flush=True)
        print(f"demo login: {DEMO_USER} / {DEMO_PASSWORD}   (an organisation, an allocation and finished jobs; or "
              f"sign up at {url}/signup/ to walk the path yourself)", flush=True)
        print(f"local agent: site {boot.site} for machine {boot.machine}; data in {data_dir}", flush=True)
        if isolation:
            print(f"local jobs run as the unprivileged account {isolation[1]}, who cannot read {data_dir}'s files",
                  flush=True)
        else:
            print("local jobs run as this account and can read what it can (start as root to run them as an "
                  "unprivileged account)", flush=True)
        print(f"e-mail: {mail_destination()}", flush=True)
        print("Ctrl-C stops them all.", flush=True)
        print(tiny_training()["message"], flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        restarts = 0
        while portal.poll() is None and agent.poll() is None and restarts <= 10 * len(workers):
            for i, proc in enumerate(workers):
                if proc.poll() is not None:
                    restarts += 1
                    print(f"aifactory run: a task worker ended ({proc.returncode}); starting another", flush=True)
                    workers[i] = subprocess.Popen(worker_command, env=env)
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        running = [p for p in (*workers, agent, portal) if p is not None and p.poll() is None]
        for proc in running:  # all at once: the slowest sets the time to stop, not their sum
            proc.terminate()
        for proc in running:
            stop(proc)
