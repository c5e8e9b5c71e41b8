"""`aifactory login | submit | status | logs | cancel | queue | notices`: a person's jobs, through the portal's API.

The portal and the token come from --url / $AIFACTORY_URL and $AIFACTORY_TOKEN, else from the file `aifactory login`
writes ($AIFACTORY_CONFIG, default ~/.config/aifactory/config.json, readable by you only). A job is named by its
uid, or by the first 6 or more characters of it when they are unique among your jobs.

Exit codes:

    0  done (for `status --watch` and `submit --wait`: the job completed)
    1  the job ended failed or cancelled (`status --watch`, `submit --wait`)
    2  bad input: the command line, or a job spec that is not valid (checked before anything is sent)
    3  no token, or the portal refused it
    4  not found: no such job, organisation or allocation among yours
    5  refused: the portal cannot take it as things stand (no machine can take the job, nothing provisioned yet,
       the job has ended already), with the reasons
    6  the portal could not be reached, or failed
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobspec import parse_spec
from aifactory.sdk import Client, PortalCallError, write_config

OK, JOB_FAILED, BAD_INPUT, AUTH, NOT_FOUND, REFUSED, UNREACHABLE = 0, 1, 2, 3, 4, 5, 6
TERMINAL = ("completed", "failed", "cancelled")
UID_RE = re.compile(r"^[0-9a-f]{32}$")
PREFIX_RE = re.compile(r"^[0-9a-f]{6,31}$")


class Stop(Exception):
    """Ends a command with a message on stderr and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def register(sub: Any) -> None:
    def add(name: str, help_text: str, func: Callable[[argparse.Namespace, Client], int],
            needs_token: bool = True) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text,
                                                    epilog="exit codes: 0 done, 1 job failed or cancelled, 2 bad "
                                                           "input, 3 token, 4 not found, 5 refused, 6 portal "
                                                           "unreachable")
        p.add_argument("--url", help="the portal (default: $AIFACTORY_URL, the saved login, or "
                                     "http://127.0.0.1:8000)")
        p.add_argument("--json", action="store_true", help="print the API's answer as JSON")
        p.set_defaults(func=lambda args: _run(args, func, needs_token))
        return p

    p = add("login", "get a personal token and save it for the other commands", login, needs_token=False)
    p.add_argument("--username", help="(default: ask)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    p = add("submit", "submit a job spec (YAML or JSON); prints where the broker placed it", submit)
    p.add_argument("spec", help="the job spec file, or - for standard input")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--organisation", type=int, help="the organisation it runs for (default: your only one)")
    target.add_argument("--allocation", type=int, help="keep the job on this allocation")
    p.add_argument("--wait", action="store_true", help="follow the job until it ends (exit code 1 if it fails)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between looks with --wait")

    p = add("status", "a job's state (--watch to follow it, --why for the broker's reasons), or your recent jobs",
            status)
    p.add_argument("job", nargs="?", help="a job uid (or its first characters)")
    p.add_argument("--watch", action="store_true", help="follow the job until it ends")
    p.add_argument("--why", action="store_true", help="where the job was placed, and why, site by site")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between looks with --watch")
    p.add_argument("--limit", type=int, default=20, help="jobs listed without JOB")

    p = add("logs", "the tail of a job's output", logs)
    p.add_argument("job")

    p = add("cancel", "cancel a job", cancel)
    p.add_argument("job")

    p = add("queue", "your organisations' jobs that have not ended", queue)
    p.add_argument("--organisation", type=int)

    add("notices", "usage notices of your allocations (80 and 100 percent used)", notices)

    p = add("run-submit", "start a managed run: the job spec run as segments until its steps are done", run_submit)
    p.add_argument("spec", help="each segment's job spec file, or - for standard input")
    p.add_argument("--steps", type=int, required=True, help="the run's steps in all")
    p.add_argument("--checkpoint-every", type=int, required=True, help="steps between checkpoints")
    p.add_argument("--checkpoint-dir", required=True, help="an absolute path every site the run may go to can read")
    p.add_argument("--tokens", type=int, help="the run's tokens in all (shown with its progress)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--organisation", type=int, help="the organisation it runs for (default: your only one)")
    target.add_argument("--allocation", type=int, help="keep the run on this allocation")

    p = add("run-status", "a managed run's segments, checkpoints, GPU-hours and expected finish, or your runs",
            run_status)
    p.add_argument("run", nargs="?", type=int, help="a run's id")

    p = add("run-cancel", "cancel a managed run and its current segment", run_cancel)
    p.add_argument("run", type=int)


def _run(args: argparse.Namespace, func: Callable[[argparse.Namespace, Client], int], needs_token: bool) -> int:
    try:
        client = Client.from_environment(url=args.url)
    except ValueError as exc:  # an unreadable config file
        print(f"aifactory: {exc}", file=sys.stderr)
        return BAD_INPUT
    try:
        if needs_token and not client.has_token:
            raise Stop(AUTH, "no token: run `aifactory login`, or set AIFACTORY_TOKEN")
        return func(args, client)
    except Stop as exc:
        print(f"aifactory {args.command}: {exc.message}", file=sys.stderr)
        return exc.code
    except PortalCallError as exc:
        print(f"aifactory {args.command}: {_explain(exc)}", file=sys.stderr)
        return _code(exc)
    finally:
        client.close()


def _code(exc: PortalCallError) -> int:
    if exc.status == 0 or exc.status >= 500:
        return UNREACHABLE
    if exc.status in (401, 403):
        return AUTH
    if exc.status == 404:
        return NOT_FOUND
    if exc.status in (409, 410) or (isinstance(exc.detail, dict) and "reasons" in exc.detail):
        return REFUSED
    return BAD_INPUT


def _explain(exc: PortalCallError) -> str:
    if exc.status == 0:
        return exc.message
    text = exc.message or f"the portal answered {exc.status}"
    if exc.status == 401:
        text += " (run `aifactory login`, or check AIFACTORY_TOKEN)"
    if isinstance(exc.detail, dict) and exc.detail.get("reasons"):
        text = "no machine can take this job:\n" + "\n".join(
            f"  {r.get('site', '?')} ({r.get('machine', '?')}, {r.get('account', '?')}): {r.get('reason', '')}"
            for r in exc.detail["reasons"])
    elif exc.status >= 500:
        text = f"the portal failed ({exc.status}): {text}"
    return text


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _uid(client: Client, given: str) -> str:
    given = given.strip().lower()
    if UID_RE.match(given):
        return given
    if not PREFIX_RE.match(given):
        raise Stop(BAD_INPUT, f"{given!r} is not a job uid (32 hex digits, or the first 6 or more of them)")
    matches = [j["uid"] for j in client.jobs(limit=500) if j["uid"].startswith(given)]
    if not matches:
        raise Stop(NOT_FOUND, f"no job of yours starts with {given}")
    if len(matches) > 1:
        raise Stop(BAD_INPUT, f"{given} starts {len(matches)} of your jobs; give more of the uid")
    return str(matches[0])


def _when(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else "-"


def _line(job: dict[str, Any]) -> str:
    return (f"{job['uid'][:12]}  {job['name'][:24]:24}  {job['state']:9}  {job['site'][:16]:16}  "
            f"{job['machine'][:12]:12}  {job['gpus']:>4}  {_when(job.get('expected_end_at'))}")


HEADER = f"{'JOB':12}  {'NAME':24}  {'STATE':9}  {'SITE':16}  {'MACHINE':12}  {'GPUS':>4}  EXPECTED END (UTC)"


def _describe(job: dict[str, Any]) -> str:
    lines = [f"job {job['uid']}  {job['name']}",
             f"  state       {job['state']}" + (" (cancellation requested)" if job["cancel_requested"]
                                                 and job["state"] not in TERMINAL else ""),
             f"  placed on   {job['site']} ({job['machine']}), account {job['account']}",
             f"  resources   {job['gpus']} GPU(s) on {job['nodes']} node(s), time limit {job['time_limit_s']} s"
             + (f", image {job['image']}" if job.get("image") else ""),
             f"  expected    start {_when(job.get('expected_start_at'))}, end {_when(job.get('expected_end_at'))} UTC",
             f"  ran         {_when(job.get('started_at'))} to {_when(job.get('ended_at'))} UTC, "
             f"{job['gpu_seconds'] / 3600:.4f} GPU-hours" + (f", exit code {job['exit_code']}"
                                                              if job.get("exit_code") is not None else "")]
    if job.get("output_files"):
        lines.append("  outputs     " + ", ".join(f"{f['path']} ({f['bytes']} bytes)" for f in job["output_files"]))
    if job.get("message"):
        lines.append(f"  message     {job['message']}")
    return "\n".join(lines)


def _why(job: dict[str, Any]) -> str:
    out = []
    for i, p in enumerate(job.get("placements", [])):
        held = " (held: no site that can take it was reporting)" if p.get("held") else ""
        out.append(f"{'placed' if i == 0 else 'moved'} {_when(p['at'])} UTC: {p['cause']} -> {p['site']} "
                   f"({p['machine']}, {p['account']}){held}")
        for r in p.get("reasons", []):
            mark = "*" if r.get("chosen") else " "
            out.append(f"  {mark} {r.get('site', '?'):16} {r.get('machine', ''):12} {r.get('account', ''):20} "
                       f"{r.get('reason', '')}")
    return "\n".join(out) if out else "no placement recorded"


def _follow(args: argparse.Namespace, client: Client, uid: str) -> int:
    last = ""
    while True:
        job = client.job(uid)
        if job["state"] != last:
            where = f" on {job['site']}" if job["state"] != "pending" or not last else ""
            print(f"{_when(time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime()))}  {job['state']}{where}"
                  + (f"  ({job['message']})" if job.get("message") and job["state"] in TERMINAL else ""),
                  flush=True)
            last = job["state"]
        if job["state"] in TERMINAL:
            return OK if job["state"] == "completed" else JOB_FAILED
        time.sleep(max(args.interval, 0.2))


# --- commands ---------------------------------------------------------------------------------------------------------


def login(args: argparse.Namespace, client: Client) -> int:
    username = args.username or input("username: ").strip()
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    if not username or not password:
        raise Stop(BAD_INPUT, "a username and a password are needed")
    token = client.login(username, password)
    path = write_config(client.url, token)
    if args.json:
        _print_json({"url": client.url, "username": username, "config": str(path)})
    else:
        print(f"logged in to {client.url} as {username}; token saved in {path}")
    return OK


def submit(args: argparse.Namespace, client: Client) -> int:
    try:
        text = sys.stdin.read() if args.spec == "-" else Path(args.spec).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Stop(BAD_INPUT, f"cannot read {args.spec}: {exc}") from exc
    try:
        spec = parse_spec(text)
    except InvalidInput as exc:
        raise Stop(BAD_INPUT, f"{args.spec}: {exc.message}") from exc
    job = client.submit_spec(text, organisation=args.organisation, allocation=args.allocation)
    if args.json:
        _print_json(job)
    else:
        held = bool(job["placements"] and job["placements"][-1].get("held"))
        print(f"{job['uid']}  {spec.name}: placed on {job['site']} ({job['machine']}, account {job['account']})"
              + ("; held until a site that can take it reports" if held else "")
              + f"; expected to start {_when(job.get('expected_start_at'))}, "
                f"end {_when(job.get('expected_end_at'))} UTC")
    if args.wait:
        return _follow(args, client, job["uid"])
    return OK


def status(args: argparse.Namespace, client: Client) -> int:
    if args.job is None:
        if args.watch or args.why:
            raise Stop(BAD_INPUT, "--watch and --why need a job")
        jobs = client.jobs(limit=max(1, min(args.limit, 500)))
        if args.json:
            _print_json(jobs)
        else:
            print(HEADER)
            for j in jobs:
                print(_line(j))
        return OK
    uid = _uid(client, args.job)
    job = client.job(uid)
    if args.json:
        _print_json(job)
    else:
        print(_describe(job))
        if args.why:
            print(_why(job))
    if args.watch:
        return _follow(args, client, uid)
    return OK


def logs(args: argparse.Namespace, client: Client) -> int:
    uid = _uid(client, args.job)
    text = client.logs(uid)
    if args.json:
        _print_json({"uid": uid, "log": text})
    else:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return OK


def cancel(args: argparse.Namespace, client: Client) -> int:
    job = client.cancel(_uid(client, args.job))
    if args.json:
        _print_json(job)
    elif job["state"] == "cancelled":
        print(f"{job['uid']}  cancelled")
    else:
        print(f"{job['uid']}  cancellation asked of {job['site']}; it is {job['state']} until the site confirms")
    return OK


def queue(args: argparse.Namespace, client: Client) -> int:
    jobs = client.jobs(state="open", organisation=args.organisation, limit=500)
    if args.json:
        _print_json(jobs)
        return OK
    print(HEADER)
    for j in jobs:
        print(_line(j))
    return OK


def notices(args: argparse.Namespace, client: Client) -> int:
    found = client.notices()
    if args.json:
        _print_json(found)
        return OK
    for n in found:
        print(f"{_when(n['created_at'])}  {n['message']}")
    if not found:
        print("no notices")
    return OK


def _run_line(run: dict[str, Any]) -> str:
    return (f"{run['id']:>6}  {run['name'][:24]:<24} {run['state']:<10} step {run['steps_done']}/{run['steps']}  "
            f"{len(run['segments'])} segment(s)  {run['gpu_hours']:.2f} GPU-h")


def _run_describe(run: dict[str, Any]) -> str:
    finish = _when(run["expected_finish_at"]) if run["expected_finish_at"] else "unknown yet"
    speed = f"{run['steps_per_s']:.3f} steps/s" if run["steps_per_s"] else "not measured yet"
    lines = [_run_line(run), f"  {run['message']}" if run["message"] else "",
             f"  progress {run['progress'] * 100:.1f} %, {speed}, "
             f"{'ended' if run['ended_at'] else 'expected finish'} {finish}",
             "  segments:"]
    lines += [f"    {s['index']:>3}  {s['site']:<14} {s['job'][:12]}  {s['state']:<10} "
              f"{_when(s['started_at'])} .. {_when(s['ended_at'])}  {s['gpu_hours']:.2f} GPU-h  from step "
              f"{s['start_step']}: {s['cause']}" for s in run["segments"]]
    lines.append("  checkpoints: " + (", ".join(str(c["step"]) for c in run["checkpoints"][-10:]) or "none yet"))
    return "\n".join(line for line in lines if line)


def run_submit(args: argparse.Namespace, client: Client) -> int:
    try:
        text = sys.stdin.read() if args.spec == "-" else Path(args.spec).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Stop(BAD_INPUT, f"cannot read {args.spec}: {exc}") from exc
    try:
        parse_spec(text)  # checked here first, as `submit` does
    except InvalidInput as exc:
        raise Stop(BAD_INPUT, exc.message) from exc
    run = client.run_create(text, steps=args.steps, checkpoint_every=args.checkpoint_every,
                            checkpoint_dir=args.checkpoint_dir, tokens=args.tokens, organisation=args.organisation,
                            allocation=args.allocation)
    if args.json:
        _print_json(run)
    else:
        print(_run_describe(run))
    return OK


def run_status(args: argparse.Namespace, client: Client) -> int:
    if args.run is None:
        found = client.runs()
        if args.json:
            _print_json(found)
        for r in [] if args.json else found:
            print(_run_line(r))
        return OK
    run = client.run(args.run)
    if args.json:
        _print_json(run)
    else:
        print(_run_describe(run))
    return OK if run["state"] not in ("failed", "cancelled") else JOB_FAILED


def run_cancel(args: argparse.Namespace, client: Client) -> int:
    run = client.run_cancel(args.run)
    if args.json:
        _print_json(run)
    else:
        print(f"run {run['id']}  {run['state']}")
    return OK
