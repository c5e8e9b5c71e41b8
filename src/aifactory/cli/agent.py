"""`aifactory agent`: a site's agent, pulling work from the portal with its own token."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from aifactory.agent.base import Backend, BackendError
from aifactory.agent.client import PortalClient
from aifactory.agent.isolation import IsolationError, job_account
from aifactory.agent.local import LocalBackend
from aifactory.agent.runner import HEARTBEAT_EVERY_S, Agent
from aifactory.core.exceptions import InvalidInput
from aifactory.core.sites import site_profile


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("agent", help="run a site's agent")
    p.add_argument("--site", required=True, help="the site's name in the portal")
    p.add_argument("--backend", choices=("local", "slurm"), default="local")
    p.add_argument("--url", default=os.environ.get("AIFACTORY_URL", "http://127.0.0.1:8000"))
    p.add_argument("--token-file", type=Path, help="file holding the site's token (or set AIFACTORY_AGENT_TOKEN)")
    p.add_argument("--workdir", type=Path, default=None, help="where job folders and scripts are kept")
    p.add_argument("--interval", type=float, default=float(os.environ.get("AIFACTORY_AGENT_INTERVAL_S", "2")),
                   help="seconds between passes")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--job-user", default=os.environ.get("AIFACTORY_JOB_USER") or None,
                   help="local backend, as root: run each job's commands as this unprivileged account")
    p.add_argument("--job-root", type=Path, default=None,
                   help="with --job-user: where the jobs' working folders go (default: the job folders)")
    p.add_argument("--poll-only", action="store_true",
                   help="pass every --interval seconds only; by default a pass also starts as soon as the portal "
                        "has work (long-poll) and jobs started at their gate are released at once")
    p.add_argument("--start-wait", type=int, default=int(os.environ.get("AIFACTORY_AGENT_START_WAIT_S", "300")),
                   help="seconds a started job waits for this agent's release before it ends having run nothing")
    p.add_argument("--heartbeat-every", type=float,
                   default=float(os.environ.get("AIFACTORY_AGENT_HEARTBEAT_S", str(HEARTBEAT_EVERY_S))),
                   help="within a long pass, report the site alive again this often (seconds); keep it well below "
                        "the portal's AIFACTORY_AGENT_STALE_AFTER_S")
    p.add_argument("--container-runtime", default=os.environ.get("AIFACTORY_CONTAINER_RUNTIME"),
                   help="the Apptainer (or Singularity) command for jobs with an image (slurm backend; default: the "
                   "profile's runtime, else apptainer)")
    p.add_argument("--profile", default=os.environ.get("AIFACTORY_SITE_PROFILE"),
                   help="the site profile batch scripts are rendered from (slurm backend): partition, GPU request, "
                   "cores, exclusive nodes, modules, container runtime; see `aifactory catalog --profiles`")
    p.add_argument("--slurm-conf", help="SLURM_CONF of the cluster (slurm backend)")
    p.add_argument("--cluster", help="Slurm cluster name (slurm backend)")
    p.add_argument("--partition", help="Slurm partition (slurm backend)")
    p.add_argument("--helper", default=os.environ.get("AIFACTORY_SITE_HELPER", ""),
                   help="the privileged helper's command, e.g. 'sudo -n /usr/local/bin/aifactory-site-helper': "
                        "with it the agent opens each person's site account and runs their jobs as them")
    p.add_argument("--ssh-dir", type=Path, default=None,
                   help="keep the federation's user CA and key revocation list here for sshd "
                        "(TrustedUserCAKeys <dir>/aifactory_user_ca.pub, RevokedKeys <dir>/aifactory_revoked.krl)")
    p.set_defaults(func=run)


def make_backend(args: argparse.Namespace) -> Backend:
    workdir = args.workdir or Path("var") / f"site-{args.site}"
    if args.backend == "local":
        return LocalBackend(workdir, job_account(args.job_user) if args.job_user else None, args.job_root)
    from aifactory.agent.slurm import SlurmBackend

    profile = None
    if args.profile:
        try:
            profile = site_profile(args.profile)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
    runtime = args.container_runtime or (profile.container_runtime if profile else None) or "apptainer"
    return SlurmBackend(cluster=args.cluster or args.site, slurm_conf=args.slurm_conf, workdir=workdir,
                        partition=args.partition, container_runtime=runtime, profile=profile,
                        helper=shlex.split(args.helper) or None)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s agent %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    token = os.environ.get("AIFACTORY_AGENT_TOKEN", "")
    if args.token_file:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            print(f"aifactory agent: cannot read token file: {exc}", file=sys.stderr)
            return 2
    if not token:
        print("aifactory agent: no token (use --token-file or AIFACTORY_AGENT_TOKEN)", file=sys.stderr)
        return 2
    if not 0.1 <= args.heartbeat_every <= 3600:
        print("aifactory agent: --heartbeat-every must be between 0.1 and 3600 seconds", file=sys.stderr)
        return 2
    if not 1 <= args.start_wait <= 86400:
        print("aifactory agent: --start-wait must be between 1 and 86400 seconds", file=sys.stderr)
        return 2
    try:
        backend = make_backend(args)
    except (ValueError, IsolationError, BackendError) as exc:
        print(f"aifactory agent: {exc}", file=sys.stderr)
        return 2
    agent = Agent(PortalClient(args.url, token), backend, start_wait_s=args.start_wait,
                  personal_accounts=bool(args.helper) and args.backend == "slurm", ssh_dir=args.ssh_dir,
                  heartbeat_every_s=args.heartbeat_every)
    if args.once:
        result = agent.cycle()
        return 1 if result.errors else 0
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    agent.run_forever(interval_s=args.interval, stop=lambda: bool(stopping), wake=not args.poll_only)
    return 0
