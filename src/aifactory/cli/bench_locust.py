"""`aifactory bench submit --tool locust`: submissions per second and their latency measured with locust, the CPU
one submission costs against the framework's one-row insert, and where that CPU goes.

Needs PostgreSQL (--database-url; the database is dropped and created again unless --keep-database) and locust
(`pip install 'aifactory[bench]'`). For each of --runs runs: a portal on gunicorn (--workers processes, --threads
threads each: 1 is the synchronous worker, more the threaded one), one site that reports and has provisioned the
account, a person whose organisation holds a Playground allocation, and one API token for each of the --users
locust users. The workers are warmed first (--warmup submissions and control inserts from --users threads, so that
every worker has its database connection, its size limits and its code paths loaded). Then locust runs headless,
--users users with no wait, for --duration seconds against `POST /api/v1/jobs` (job specs: 1 GPU, 60 s), and again
against the control (`POST /bench/v1/insert`: the same stack, token and body parser, one row inserted; see
aifactory.cli.bench_control).

Figures for each: requests per second, p50 and p99 (locust's own), errors, and the CPU time the gunicorn workers
and the PostgreSQL backends serving them used per request (from /proc/<pid>/stat, before and after the timed
run; the load tool's own CPU is printed apart). Afterwards the benchmark checks that every job locust saw accepted
is stored, that the allocation holds no other job, and that its reserved-hours counter equals the sum over its
jobs. With several runs, the medians. --profile N serves one synchronous worker under cProfile for N submissions
and prints where its time goes.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/aif_loadtest"
LOCUSTFILE = Path(__file__).with_name("locust_submit.py")
SETTINGS = "aifactory.cli.bench_settings"
JOB = {"spec": {"name": "warm", "resources": {"time_limit": 60}, "commands": ["true"]}}
CLK_TCK = os.sysconf("SC_CLK_TCK")

PROFILE_HOOKS = '''
import cProfile
import os
import time

_profile = cProfile.Profile(time.process_time)  # the worker's CPU time, not the wall clock


def pre_request(worker, req):
    if any(name == "X-AIF-PROFILE" for name, _ in req.headers):
        _profile.enable()


def post_request(worker, req, environ, resp):
    _profile.disable()


def worker_exit(server, worker):
    _profile.dump_stats(os.environ["AIF_PROFILE_OUT"])
'''


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("--tool locust")
    g.add_argument("--users", type=int, default=8, help="locust users (each one request at a time, no wait)")
    g.add_argument("--duration", type=float, default=20.0, help="seconds locust runs, per target and run")
    g.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (1: sync; more: gthread)")
    g.add_argument("--warmup", type=int, default=200, help="submissions (and as many control inserts) before timing")
    g.add_argument("--runs", type=int, default=1, help="runs; the figures are their medians")
    g.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also profile one synchronous worker for N submissions (cProfile)")
    g.add_argument("--profile-out", type=Path, default=None, metavar="FILE",
                   help="keep the profile's raw statistics in FILE (read with python -m pstats)")
    g.add_argument("--skip-control", action="store_true", help="only the submissions, not the control")
    g.add_argument("--keep-database", action="store_true", help="do not drop and create the database first")


# --- CPU of processes -------------------------------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5), after pid and comm


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


def _backends(database_url: str) -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database, but for the one asking."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
    return [int(r[0]) for r in rows]


@dataclass
class CpuSnapshot:
    workers: dict[int, float]
    backends: dict[int, float]

    @classmethod
    def take(cls, server_pid: int, database_url: str) -> CpuSnapshot:
        return cls(workers={p: _cpu_s(p) for p in [server_pid, *_children(server_pid)]},
                   backends={p: _cpu_s(p) for p in _backends(database_url)})

    def since(self, before: CpuSnapshot) -> tuple[float, float]:
        """CPU seconds of the workers and of the backends between `before` and this one (a backend that connected in
        between counts from zero)."""
        workers = sum(t - before.workers.get(p, 0.0) for p, t in self.workers.items())
        backends = sum(t - before.backends.get(p, 0.0) for p, t in self.backends.items())
        return workers, backends


# --- one timed locust run ---------------------------------------------------------------------------------------------


@dataclass
class Figures:
    target: str
    requests: int
    failures: int
    rate: float
    p50_ms: float
    p99_ms: float
    workers_cpu_ms: float
    postgres_cpu_ms: float
    locust_cpu_ms: float
    failure_samples: list[str]

    @property
    def server_cpu_ms(self) -> float:
        return self.workers_cpu_ms + self.postgres_cpu_ms


def _locust(*, url: str, target: str, users: int, duration: float, tokens: list[str], folder: Path,
            server_pid: int, database_url: str) -> tuple[Figures, list[str]]:
    uids_file = folder / f"{target}-uids.txt"
    prefix = folder / target
    env = {**os.environ, "AIF_LOCUST_TOKENS": ",".join(tokens), "AIF_LOCUST_TARGET": target,
           "AIF_LOCUST_UIDS": str(uids_file)}
    command = [str(Path(sys.executable).with_name("locust")), "-f", str(LOCUSTFILE), "--headless", "--host", url,
               "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{duration:g}s", "--stop-timeout",
               "60", "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR", "--exit-code-on-error", "0"]
    if not Path(command[0]).exists():
        command[0] = shutil.which("locust") or "locust"
    # --stop-timeout: at the end of the run time each user finishes the request it has started, which is counted
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = CpuSnapshot.take(server_pid, database_url)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 180, check=False)
    after = CpuSnapshot.take(server_pid, database_url)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"locust exited {done.returncode}: {done.stderr[-2000:]}")
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    samples: list[str] = []
    failures_csv = Path(f"{prefix}_failures.csv")
    if failures_csv.exists():
        with failures_csv.open(newline="", encoding="utf-8") as f:
            samples = [f"{r['Occurrences']}x {r['Error']}" for r in csv.DictReader(f)][:5]
    requests = int(row["Request Count"])
    workers_s, postgres_s = after.since(before)
    locust_s = (after_children.ru_utime + after_children.ru_stime
                - before_children.ru_utime - before_children.ru_stime)
    per = 1000.0 / max(requests, 1)
    uids = [u for u in uids_file.read_text(encoding="utf-8").split("\n") if u] if uids_file.exists() else []
    return Figures(target=target, requests=requests, failures=int(row["Failure Count"]),
                   rate=_number(row["Requests/s"]), p50_ms=_number(row["50%"]), p99_ms=_number(row["99%"]),
                   workers_cpu_ms=workers_s * per, postgres_cpu_ms=postgres_s * per, locust_cpu_ms=locust_s * per,
                   failure_samples=samples), uids


def _number(text: str) -> float:
    """A figure of locust's CSV; not a number ('N/A') when no request finished."""
    try:
        return float(text)
    except ValueError:
        return math.nan


# --- the portal, its person, the warm-up and the check ----------------------------------------------------------------


def _recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    if not name.startswith("aif"):
        raise RuntimeError(f"--database-url: refusing to drop {name!r}; name a database of its own (aif_...)")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _tokens_for(person_token: str, n: int) -> list[str]:
    from aifactory.portal.organisations.selectors import user_by_token
    from aifactory.portal.organisations.services import api_token_create

    user = user_by_token(person_token)
    if user is None:
        raise RuntimeError("the benchmark's person has no token")
    return [api_token_create(user=user, name=f"locust-{i}") for i in range(n)]


def _warm(url: str, tokens: list[str], n: int, *, control: bool) -> list[str]:
    """n submissions (and n control inserts) from len(tokens) threads; the uids of the accepted jobs."""
    import httpx

    uids: list[str] = []
    problems: list[str] = []
    lock = threading.Lock()

    def client(token: str, count: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            for _ in range(count):
                r = c.post("/api/v1/jobs", json=JOB)
                with lock:
                    (uids.append(r.json()["uid"]) if r.status_code == 201 else problems.append(r.text[:200]))
                if control:
                    r = c.post("/bench/v1/insert", json={"note": "warm"})
                    if r.status_code != 201:
                        with lock:
                            problems.append(r.text[:200])

    threads = [threading.Thread(target=client, args=(t, n // len(tokens) + (i < n % len(tokens))))
               for i, t in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if problems:
        raise RuntimeError(f"the warm-up was refused: {problems[:3]}")
    return uids


def _check(allocation_id: int, accepted: list[str]) -> dict[str, Any]:
    """Every accepted job stored, no other job on the allocation, and its counter equal to the sum of its jobs."""
    from aifactory.portal.allocations.models import Allocation
    from aifactory.portal.allocations.selectors import gpu_seconds_reserved_by_jobs
    from aifactory.portal.jobs.models import Job

    stored = set(Job.objects.filter(allocation_id=allocation_id).values_list("uid", flat=True))
    allocation = Allocation.objects.get(pk=allocation_id)
    by_jobs = gpu_seconds_reserved_by_jobs(allocation)
    return {"accepted": len(accepted), "distinct": len(set(accepted)), "stored": len(stored),
            "missing": len(set(accepted) - stored), "unexpected": len(stored - set(accepted)),
            "counter_s": allocation.gpu_seconds_reserved, "sum_of_jobs_s": by_jobs,
            "ok": set(accepted) == stored and len(set(accepted)) == len(accepted)
            and allocation.gpu_seconds_reserved == by_jobs}


def _setup(p: Any) -> tuple[str, int]:
    """The person with a provisioned Playground allocation and a reporting site: (the person's token, allocation)."""
    from aifactory.agent.client import PortalClient
    from aifactory.agent.local import LocalBackend
    from aifactory.agent.runner import Agent
    from aifactory.cli.bench_submit import _person, _wait

    site = PortalClient(p.url, p.site_token)
    person, allocation_id = _person(p.url)
    Agent(site, LocalBackend(p.data_dir / "site")).cycle()  # provisions the account; the site reports
    _wait("the account", lambda: person.allocation(allocation_id)["provisioned"])
    site.heartbeat(queue_wait_s=0, backend="local")
    token = str(person._http.headers["Authorization"]).split(" ", 1)[1]
    person.close()
    return token, allocation_id


def one_run(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    from aifactory.cli.bench_submit import portal

    folder = Path(tempfile.mkdtemp(prefix="aifactory-locust-"))
    try:
        with portal(database_url=database_url, workers=args.workers, threads=args.threads, backend="local",
                    settings_module=SETTINGS) as p:
            assert p.server is not None
            token, allocation_id = _setup(p)
            tokens = _tokens_for(token, args.users)
            accepted = _warm(p.url, tokens, args.warmup, control=not args.skip_control)
            from django.db import connections

            connections.close_all()  # the benchmark's own connection is not counted as a backend
            figures, uids = _locust(url=p.url, target="jobs", users=args.users, duration=args.duration,
                                    tokens=tokens, folder=folder, server_pid=p.server.pid, database_url=database_url)
            accepted += uids
            out: dict[str, Any] = {"jobs": asdict(figures)}
            if not args.skip_control:
                control, _ = _locust(url=p.url, target="control", users=args.users, duration=args.duration,
                                     tokens=tokens, folder=folder, server_pid=p.server.pid,
                                     database_url=database_url)
                out["control"] = asdict(control)
            out["check"] = _check(allocation_id, accepted)
            out["locust_accepted"] = len(uids)
            return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- profile ----------------------------------------------------------------------------------------------------------

PARTS = [
    ("the whole request in Django (middleware included)", "django/core/handlers/wsgi.py", "__call__"),
    ("  token authentication (lookup, last use)", "ninja/operation.py", "_run_authentication"),
    ("  body parsed, JobIn validated", "ninja/operation.py", "_get_values"),
    ("  the endpoint (jobs.api.submit)", "jobs/api.py", "submit"),
    ("    job spec read and checked", "core/jobspec.py", "spec_from_dict"),
    ("    organisation and membership read", "jobs/api.py", "_organisation"),
    ("    member's check (check_acts_for)", "organisations/selectors.py", "check_acts_for"),
    ("    allocations, sites, orders (candidates)", "jobs/broker.py", "candidates"),
    ("    placement (size limits, core placement)", "jobs/broker.py", "decide"),
    ("    hours reserved (conditional UPDATE)", "allocations/services.py", "allocation_reserve"),
    ("    job and placement inserted, agents woken", "jobs/services.py", "_create"),
    ("    commit", "django/db/transaction.py", "__exit__"),
    ("    answer built (_out)", "jobs/api.py", "_out"),
    ("  answer validated and rendered to JSON", "ninja/operation.py", "_result_to_response"),
    ("  SQL executed (all queries, driver included)", "django/db/backends/utils.py", "_execute"),
]


def profile(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    """One synchronous worker under cProfile (enabled only for the requests that ask for it, timing the worker's
    CPU) for args.profile submissions, after 20 that warm it; the cumulative CPU of each part, per request."""
    import httpx

    from aifactory.cli.bench_submit import portal

    folder = Path(tempfile.mkdtemp(prefix="aifactory-profile-"))
    hooks = folder / "hooks.py"
    hooks.write_text(PROFILE_HOOKS, encoding="utf-8")
    out = folder / "worker.prof"
    os.environ["AIF_PROFILE_OUT"] = str(out)
    try:
        with portal(database_url=database_url, workers=1, threads=1, backend="local", settings_module=SETTINGS,
                    extra=["-c", str(hooks)]) as p:
            token, _ = _setup(p)
            _warm(p.url, [token], 20, control=False)
            with httpx.Client(base_url=p.url, timeout=60,
                              headers={"Authorization": f"Bearer {token}", "X-AIF-Profile": "1"}) as c:
                for _ in range(args.profile):
                    r = c.post("/api/v1/jobs", json=JOB)
                    if r.status_code != 201:
                        raise RuntimeError(f"a profiled submission was refused: {r.text[:200]}")
        for _ in range(50):  # the worker writes its profile as it exits
            if out.exists() and out.stat().st_size:
                break
            time.sleep(0.1)
        stats = pstats.Stats(str(out))
        if args.profile_out is not None:
            shutil.copyfile(out, args.profile_out)
    finally:
        os.environ.pop("AIF_PROFILE_OUT", None)
    n = args.profile
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in table.values())
    parts = []
    for label, file_end, func in PARTS:
        cum = sum(v[3] for (file, _, name), v in table.items() if file.endswith(file_end) and name == func)
        parts.append({"part": label, "ms": cum * 1000 / n, "share": cum / total if total else 0.0})
    calls = sum(v[1] for (file, _, name), v in table.items()
                if file.endswith("django/db/backends/utils.py") and name == "_execute")
    top = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    shutil.rmtree(folder, ignore_errors=True)
    return {"requests": n, "total_ms": total * 1000 / n, "queries_per_request": calls / n, "parts": parts,
            "top_own_time": [{"function": f"{Path(k[0]).name}:{k[1]}:{k[2]}", "ms": v[2] * 1000 / n}
                             for k, v in top]}


# --- the command ------------------------------------------------------------------------------------------------------


def _median_of(runs: list[dict[str, Any]], target: str) -> dict[str, float]:
    keys = ("rate", "p50_ms", "p99_ms", "failures", "requests", "workers_cpu_ms", "postgres_cpu_ms", "locust_cpu_ms")
    return {k: statistics.median(float(r[target][k]) for r in runs) for k in keys}


def run(args: argparse.Namespace) -> int:
    if args.users < 1 or args.duration <= 0 or args.threads < 1 or args.workers < 1 or args.runs < 1 \
            or args.warmup < 0 or args.profile < 0:
        print("aifactory bench submit --tool locust: --users, --threads, --workers, --runs >= 1, --duration > 0, "
              "--warmup and --profile >= 0", file=sys.stderr)
        return 2
    if importlib.util.find_spec("locust") is None:  # not imported here: locust patches the process for gevent
        print("aifactory bench submit --tool locust: locust is not installed (pip install 'aifactory[bench]')",
              file=sys.stderr)
        return 2
    database_url = args.database_url or DEFAULT_DB
    if not database_url.startswith(("postgres://", "postgresql://")):
        print("aifactory bench submit --tool locust: --database-url must be PostgreSQL", file=sys.stderr)
        return 2
    try:
        if not args.keep_database:
            _recreate_database(database_url)
        load = os.getloadavg()
        runs = []
        for i in range(args.runs):
            runs.append(one_run(args, database_url))
            print(f"  run {i + 1}: {runs[-1]['jobs']['rate']:.0f} submissions/s, "
                  f"p99 {runs[-1]['jobs']['p99_ms']:.0f} ms", file=sys.stderr, flush=True)
        prof = profile(args, database_url) if args.profile else None
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"aifactory bench submit: {exc}", file=sys.stderr)
        return 1
    load_after = os.getloadavg()
    targets = ["jobs"] if args.skip_control else ["jobs", "control"]
    result: dict[str, Any] = {
        "tool": "locust", "workers": args.workers, "threads": args.threads,
        "worker_class": "sync" if args.threads == 1 else "gthread", "users": args.users, "duration_s": args.duration,
        "runs": runs, "median": {t: _median_of(runs, t) for t in targets}, "load_average_before": load,
        "load_average_after": load_after, "checks_ok": all(r["check"]["ok"] for r in runs), "profile": prof,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0 if result["checks_ok"] else 1


def _print(r: dict[str, Any]) -> None:
    print(f"locust, {r['users']} users without wait, {r['duration_s']:g} s a run, gunicorn {r['workers']} "
          f"{r['worker_class']} workers x {r['threads']} threads, PostgreSQL; median of {len(r['runs'])} run(s); "
          f"load average {r['load_average_before'][0]:.1f} before, {r['load_average_after'][0]:.1f} after")
    print(f"  {'endpoint':24} {'req/s':>7} {'p50':>7} {'p99':>7} {'errors':>7} {'CPU/req: workers':>17} "
          f"{'postgres':>9} {'both':>7} {'locust':>7}")
    names = {"jobs": "POST /api/v1/jobs", "control": "POST /bench/v1/insert"}
    for target, m in r["median"].items():
        both = m["workers_cpu_ms"] + m["postgres_cpu_ms"]
        print(f"  {names[target]:24} {m['rate']:7.0f} {m['p50_ms']:5.0f}ms {m['p99_ms']:5.0f}ms {m['failures']:7.0f} "
              f"{m['workers_cpu_ms']:14.2f} ms {m['postgres_cpu_ms']:6.2f} ms {both:4.2f} ms "
              f"{m['locust_cpu_ms']:4.2f} ms")
    jobs = r["median"]["jobs"]
    both = jobs["workers_cpu_ms"] + jobs["postgres_cpu_ms"]
    cores = os.cpu_count() or 1
    print(f"  at {both:.2f} ms of server CPU a submission, {cores} cores give at most {cores * 1000 / both:.0f} "
          f"submissions/s (with nothing else running, the load tool included)")
    if "control" in r["median"]:
        c = r["median"]["control"]
        cb = c["workers_cpu_ms"] + c["postgres_cpu_ms"]
        print(f"  a submission costs {both / cb:.1f}x the one-row insert ({both:.2f} ms against {cb:.2f} ms)")
    for i, run_ in enumerate(r["runs"], 1):
        ck = run_["check"]
        print(f"  run {i} check: {ck['accepted']} accepted, {ck['stored']} stored, {ck['missing']} missing, "
              f"{ck['unexpected']} unexpected; counter {ck['counter_s']} s = sum of jobs {ck['sum_of_jobs_s']} s: "
              f"{'ok' if ck['ok'] else 'FAILED'}")
        for t in ("jobs", "control"):
            if t in run_ and run_[t]["failure_samples"]:
                print(f"    {t} failures: {run_[t]['failure_samples']}")
    if r["profile"]:
        pr = r["profile"]
        print(f"profile of one sync worker, {pr['requests']} submissions, {pr['total_ms']:.1f} ms a request under "
              f"cProfile (the worker's CPU time, cumulative), {pr['queries_per_request']:.1f} SQL statements a "
              f"request:")
        for part in pr["parts"]:
            print(f"  {part['part']:45} {part['ms']:6.2f} ms  {part['share']:5.1%}")
        print("  most own time:")
        for t in pr["top_own_time"]:
            print(f"    {t['ms']:6.3f} ms  {t['function']}")
