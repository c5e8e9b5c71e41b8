"""`aifactory bench submit`: what submitting through aifactory costs, against a bare sbatch, and how many jobs per
second the API accepts.

Overhead (needs a Slurm cluster, e.g. `scripts/slurm-cluster.sh up`): a throw-away portal (gunicorn; SQLite in a
temporary folder, or --database-url) with one agent for the cluster, woken by the portal and passing every --interval
seconds, as a site runs it. A person signs up, registers, applies (Playground) and waits for the account, through the
API. Then, one at a time and alternating, N jobs through the API (`POST /jobs` with a spec) and N jobs with a bare
`sbatch` under the same account on the same cluster. The event timed is the same on both sides: the job's first
command, which writes the time it starts (for a job through aifactory, that is after its start gate opened); the
latency is that time less the time just before the submission (the API call, or sbatch). The figures are the ratio
of the medians and their difference in seconds.

Before each submission, on both sides alike, the bench waits until Slurm holds none of its jobs (the previous one
has ended), then --settle seconds and a random time in [0, --phase-span) (seeded by --seed). Slurm starts batch jobs
when its scheduler runs, and for batch jobs that is at most once every batch_sched_delay (3 s by default), looked at
about once a second: how long a job waits at Slurm depends on when it arrives in that cycle. Without the same
preparation on both sides, the loop's own rhythm (formerly: the next job through the API sent 0.3 s after the previous
bare job started, the next bare job only once the portal had seen the previous job end) gave each side its own phase
of the scheduler's cycle every time. With it, both meet the scheduler at the same random point of its cycle.

For jobs through aifactory it also prints where the time goes, from the job's folder at the site: the API's answer,
the agent writing the batch script (just before its sbatch), Slurm starting the script (the `started` file its gate
writes), the agent releasing the gate (`released`), and the first command.

Throughput (needs PostgreSQL, --database-url): a portal on gunicorn with --workers workers, one site that reports
and has provisioned the account, and --clients threads each posting job specs (1 GPU, 60 s) as fast as the API
answers, --submissions in all. The figure is accepted submissions per second of wall time.

History (needs PostgreSQL): the same portal; the allocation is given --history finished jobs in turn (0, 100,000,
1,000,000 by default; rows written straight into the database, sizes 1-8 GPUs x 10 min-4 h, submitted over the
last 90 days, so all of them fall in the broker's size-limit window), and at each level one client submits
--per-level job specs one after another, after a warm-up of 5 per worker. The figures are the per-submission
latency at each level and its ratio to the first level (the bar: within 1.5x), and how long one refresh of the
size limits takes at that level (each worker does it at most once per SIZE_LIMITS_TTL_S, 60 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aifactory.cli import bench_locust
from aifactory.portal.serve import start_portal, stop, wait_until_up

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/aifactory_bench"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("submit", help="submission overhead against sbatch; jobs per second "
                                                               "through the API", description=__doc__,
                                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slurm-conf", default=os.environ.get("AIFACTORY_SLURM_CONF",
                                                          "/var/lib/aifactory-slurm/aif-a/slurm.conf"))
    p.add_argument("--jobs", type=int, default=10, help="jobs each way for the overhead")
    p.add_argument("--interval", type=float, default=2.0, help="the agent's seconds between passes")
    p.add_argument("--poll-only", action="store_true",
                   help="the agent only polls every --interval (default: woken by the portal's long-poll, gates "
                        "released as soon as the scheduler starts the job)")
    p.add_argument("--database-url", default=None,
                   help=f"PostgreSQL for the portal (throughput: default {DEFAULT_PG}; overhead: SQLite if unset)")
    p.add_argument("--submissions", type=int, default=1000, help="submissions for the throughput")
    p.add_argument("--clients", type=int, default=8, help="client threads for the throughput")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    p.add_argument("--history", default="0,100000,1000000",
                   help="finished jobs on the allocation at each level of the history measure, comma-separated")
    p.add_argument("--per-level", type=int, default=200, help="submissions timed at each history level")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-history", action="store_true")
    p.add_argument("--phase-span", type=float, default=3.0,
                   help="before each submission, wait a random time below this many seconds (Slurm's default "
                        "batch_sched_delay: 3 s; 0: no wait)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random waits")
    p.add_argument("--settle", type=float, default=0.0,
                   help="seconds to wait, before the random wait, once Slurm holds none of the bench's jobs (more "
                        "than batch_sched_delay with --phase-span 0: Slurm starts every job the moment it has it, "
                        "which leaves aifactory's own time alone in the difference)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--tool", choices=("threads", "locust"), default="threads",
                   help="threads: the measures above, with this command's own client threads; locust: submissions "
                        "per second, latency and CPU per submission against a one-row insert, measured with locust "
                        "(aifactory.cli.bench_locust; needs the [bench] extra and PostgreSQL)")
    bench_locust.add_arguments(p)
    p.set_defaults(func=run)


@dataclass
class Latencies:
    samples_s: list[float]

    def summary(self) -> dict[str, float]:
        s = sorted(self.samples_s)
        return {"n": len(s), "median_s": statistics.median(s), "mean_s": statistics.fmean(s),
                "p90_s": s[min(len(s) - 1, int(0.9 * len(s)))], "min_s": s[0], "max_s": s[-1]}


# --- a throw-away portal ----------------------------------------------------------------------------------------------


def _ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in url when it is not there."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Portal:
    url: str
    site: str
    site_token: str
    data_dir: Path
    server: subprocess.Popen[bytes] | None = None


@contextmanager
def portal(*, database_url: str | None, workers: int, backend: str, threads: int = 1, extra: Sequence[str] = (),
           settings_module: str = "aifactory.portal.settings") -> Iterator[Portal]:
    """Migrate, load the catalog, register a site for Leonardo, and serve the portal with gunicorn (`threads` per
    worker: 1 is the synchronous worker; `extra`: more gunicorn arguments)."""
    tmp = Path(tempfile.mkdtemp(prefix="aifactory-bench-"))
    env = {**os.environ, "AIFACTORY_DATA_DIR": str(tmp), "DJANGO_SETTINGS_MODULE": settings_module,
           "AIFACTORY_ACCOUNT_PREFIX": f"aifb{secrets.token_hex(3)}", "AIFACTORY_LOG_LEVEL": "ERROR"}
    env.pop("DATABASE_URL", None)
    if database_url:
        _ensure_database(database_url)
        env["DATABASE_URL"] = database_url
    os.environ.update({k: env[k] for k in ("AIFACTORY_ACCOUNT_PREFIX", "AIFACTORY_LOG_LEVEL")})
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    from aifactory.portal.bootstrap import bootstrap, setup_django

    setup_django(tmp)
    site = f"bench-{secrets.token_hex(3)}"
    boot = bootstrap(data_dir=tmp, site=site, machine="leonardo", backend=backend)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_portal(host="127.0.0.1", port=port, workers=workers, threads=threads, env=env,
                          log_level="error", extra=extra)
    try:
        if not wait_until_up(url, server):
            raise RuntimeError("the portal did not start")
        yield Portal(url=url, site=site, site_token=boot.token_file.read_text(encoding="utf-8").strip(), data_dir=tmp,
                     server=server)
    finally:
        stop(server, timeout_s=15)
        shutil.rmtree(tmp, ignore_errors=True)


def _person(url: str) -> tuple[Any, int]:
    """Sign up, register, pledge, apply for Playground on Leonardo; returns the client and the allocation id."""
    from aifactory.sdk import Client

    client = Client(url)
    name = f"bench-{secrets.token_hex(4)}"
    client.signup(name, f"{name}@example.org", secrets.token_urlsafe(16))
    org = client.register_organisation(name="Bench Lab", country="DE", headcount=12, turnover_eur="1500000",
                                       balance_sheet_eur="900000", sector="health")
    client.pledge(org["id"], ["governance", "high_risk_map", "ai_literacy"])
    app = client.apply(organisation=org["id"], title="Benchmark", machine="leonardo", params=1e8, tokens=2e9,
                       gpus=1, requested_gpu_hours=5000, months=3, civil_use=True)
    if app["state"] != "approved":
        raise RuntimeError(f"application {app['state']}: {app['reasons']}")
    return client, int(app["allocation"])


def _wait(what: str, probe: Any, timeout_s: float = 120, poll_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(poll_s)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


STAGES = ("api_answered", "batch_script_written", "slurm_started", "gate_released", "first_command")
"""Where a job through aifactory is, in seconds after the API call: the API's answer, the agent's batch script
written (just before sbatch), Slurm starting it (the gate's `started` file), the gate released, the first command."""


def _started_at(path: Path) -> float | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return float(text) if text else None


# --- overhead -------------------------------------------------------------------------------------------------------


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    from aifactory.agent.client import PortalClient
    from aifactory.agent.runner import Agent
    from aifactory.agent.slurm import SlurmBackend

    conf = args.slurm_conf
    text = Path(conf).read_text(encoding="utf-8")
    cluster = next(line.split("=", 1)[1].strip().lower() for line in text.splitlines()
                   if line.strip().lower().startswith("clustername"))
    slurm_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SLURM_CONF": conf, "LC_ALL": "C.UTF-8"}
    with portal(database_url=args.database_url, workers=2, backend="slurm") as p:
        workdir = p.data_dir / "site"
        backend = SlurmBackend(cluster=cluster, slurm_conf=conf, workdir=workdir)
        agent = Agent(PortalClient(p.url, p.site_token), backend)
        stop = threading.Event()
        worker = threading.Thread(target=agent.run_forever, daemon=True,
                                  kwargs={"interval_s": args.interval, "stop": stop.is_set, "wake": not args.poll_only})
        worker.start()
        account = ""
        try:
            client, allocation_id = _person(p.url)
            _wait("the account", lambda: client.allocation(allocation_id)["provisioned"])
            account = client.allocation(allocation_id)["account"]
            bare_dir = p.data_dir / "bare"
            bare_dir.mkdir()
            aif, bare = [], []
            stages: dict[str, list[float]] = {name: [] for name in STAGES}
            pauses = random.Random(args.seed)
            uids: list[str] = []

            def idle() -> bool:
                return not subprocess.run(["squeue", "-h", f"--account={account}", "-o", "%i"], env=slurm_env,
                                          check=True, capture_output=True, text=True, timeout=30).stdout.strip()

            for i in range(args.jobs):
                # through aifactory: the API call, the agent's passes, sbatch, the start gate
                spec = {"name": f"bench-{i}", "resources": {"gpu": "A100", "time_limit": 300},
                        "commands": ['date +%s.%N > "$AIF_JOB_DIR/started-at"']}
                _wait("the cluster to have none of the bench's jobs", idle, poll_s=0.1)
                time.sleep(args.settle + pauses.uniform(0, args.phase_span))
                t0 = time.time()
                job = client.submit_spec(spec)
                answered = time.time()
                folder_of = workdir / job["uid"]
                started = _wait("the job to start", lambda f=folder_of: _started_at(f / "started-at"))
                aif.append(started - t0)
                for name, at in zip(STAGES, (answered, _mtime(folder_of / "batch.sh"), _mtime(folder_of / "started"),
                                             _mtime(folder_of / "released"), started), strict=True):
                    if at is not None:
                        stages[name].append(at - t0)
                uids.append(job["uid"])
                # bare: sbatch under the same account, on the same cluster
                folder = bare_dir / str(i)
                folder.mkdir()
                script = folder / "job.sh"
                script.write_text(f"#!/bin/bash\ndate +%s.%N > {folder}/started-at\n")
                _wait("the cluster to have none of the bench's jobs", idle, poll_s=0.1)
                time.sleep(args.settle + pauses.uniform(0, args.phase_span))
                t0 = time.time()
                subprocess.run(["sbatch", "--parsable", f"--account={account}", "--gres=gpu:1", "--time=5",
                                f"--output={folder}/out", f"--chdir={folder}", f"--job-name=bench-bare-{i}",
                                str(script)], env=slurm_env, check=True, capture_output=True, timeout=30)
                started = _wait("the bare job to start", lambda f=folder: _started_at(f / "started-at"))
                bare.append(started - t0)
            for uid in uids:
                _wait("the jobs to end", lambda u=uid: client.job(u)["state"] in ("completed", "failed"))
        finally:
            stop.set()
            worker.join(timeout=10)
            if account:
                subprocess.run(["scancel", f"--account={account}"], env=slurm_env, check=False, capture_output=True)
    a, b = Latencies(aif).summary(), Latencies(bare).summary()
    return {"cluster": cluster, "agent_interval_s": args.interval, "agent_woken": not args.poll_only,
            "database": "postgresql" if args.database_url else "sqlite", "aifactory": a, "sbatch": b,
            "phase_span_s": args.phase_span, "settle_s": args.settle, "load_average": os.getloadavg(),
            "stages_median_s": {name: statistics.median(v) for name, v in stages.items() if v},
            "ratio_of_medians": a["median_s"] / b["median_s"],
            "overhead_median_s": a["median_s"] - b["median_s"]}


# --- throughput -----------------------------------------------------------------------------------------------------


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    from aifactory.agent.client import PortalClient
    from aifactory.agent.local import LocalBackend
    from aifactory.agent.runner import Agent
    from aifactory.sdk import Client, PortalCallError

    url_db = args.database_url or DEFAULT_PG
    with portal(database_url=url_db, workers=args.workers, backend="local") as p:
        site = PortalClient(p.url, p.site_token)
        person, allocation_id = _person(p.url)
        Agent(site, LocalBackend(p.data_dir / "site")).cycle()  # provisions the account; the site reports
        _wait("the account", lambda: person.allocation(allocation_id)["provisioned"])
        token = str(person._http.headers["Authorization"]).split(" ", 1)[1]
        spec = {"name": "tp", "resources": {"time_limit": 60}, "commands": ["true"]}
        per_client = [args.submissions // args.clients + (1 if i < args.submissions % args.clients else 0)
                      for i in range(args.clients)]
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        go = threading.Barrier(args.clients + 1)

        def client_thread(n: int) -> None:
            c = Client(p.url, token)
            mine, bad = [], []
            go.wait()
            for _ in range(n):
                t0 = time.perf_counter()
                try:
                    c.submit_spec(spec)
                except PortalCallError as exc:
                    bad.append(f"{exc.status} {exc.message}")
                mine.append(time.perf_counter() - t0)
            c.close()
            with lock:
                latencies.extend(mine)
                errors.extend(bad)

        site.heartbeat(queue_wait_s=0, backend="local")
        threads = [threading.Thread(target=client_thread, args=(n,)) for n in per_client]
        for t in threads:
            t.start()
        go.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        accepted = len(latencies) - len(errors)
    return {"database": "postgresql", "workers": args.workers, "clients": args.clients, "submissions": len(latencies),
            "accepted": accepted, "errors": errors[:5], "wall_s": wall, "jobs_per_s": accepted / wall,
            "latency": Latencies(latencies).summary()}


# --- cost against history -------------------------------------------------------------------------------------------

SEED_SQL = """
INSERT INTO jobs_job (uid, name, script, env, gpus, time_limit_s, state, cancel_requested, scheduler_id, gpu_seconds,
                      log_tail, message, created_at, started_at, ended_at, allocation_id, site_id, submitted_by_id,
                      image, inputs, nodes, output_files, outputs, spec, pinned)
SELECT md5(%(salt)s::text || i::text), 'seed-' || i, 'true', '{}', 1 + i %% 8, 600 + (i %% 48) * 300, 'completed',
       false,
       '', 60.0, '', '', now() - (i %% 7776000) * interval '1 second', now() - (i %% 7776000) * interval '1 second',
       now() - (i %% 7776000) * interval '1 second' + interval '60 seconds', a.id, s.id, ap.submitted_by_id,
       '', '[]', 1, '[]', '[]', '{}', false
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i, allocations_allocation a
JOIN access_application ap ON ap.id = a.application_id, federation_site s
WHERE a.id = %(allocation)s AND s.name = %(site)s
"""

SIZE_WINDOW_SQL = """
SELECT gpus, time_limit_s, count(*) FROM jobs_job WHERE created_at >= now() - interval '90 days'
GROUP BY gpus, time_limit_s
"""


def _seed(url: str, *, allocation: int, site: str, first: int, count: int) -> float:
    """Write `count` finished jobs for the allocation straight into the database; returns the seconds it took."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        step = 200_000
        for start in range(first, first + count, step):
            last = min(start + step, first + count) - 1
            conn.execute(SEED_SQL, {"salt": secrets.token_hex(4), "first": start, "last": last,  # type: ignore[arg-type]
                                    "allocation": allocation, "site": site})
        conn.execute("ANALYZE jobs_job")
    return time.perf_counter() - t0


def _size_window_s(url: str) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute(SIZE_WINDOW_SQL).fetchall()  # type: ignore[arg-type]
        return time.perf_counter() - t0


def history(args: argparse.Namespace) -> dict[str, Any]:
    from aifactory.agent.client import PortalClient
    from aifactory.agent.local import LocalBackend
    from aifactory.agent.runner import Agent
    from aifactory.sdk import Client

    levels = [int(x) for x in args.history.split(",")]
    if sorted(levels) != levels or levels[0] < 0:
        raise RuntimeError("--history: counts in increasing order, from 0 up")
    url_db = args.database_url or DEFAULT_PG
    rows: list[dict[str, Any]] = []
    with portal(database_url=url_db, workers=args.workers, backend="local") as p:
        site = PortalClient(p.url, p.site_token)
        person, allocation_id = _person(p.url)
        Agent(site, LocalBackend(p.data_dir / "site")).cycle()
        _wait("the account", lambda: person.allocation(allocation_id)["provisioned"])
        token = str(person._http.headers["Authorization"]).split(" ", 1)[1]
        spec = {"name": "hist", "resources": {"time_limit": 60}, "commands": ["true"]}
        client = Client(p.url, token)
        seeded = 0
        for level in levels:
            seed_s = _seed(url_db, allocation=allocation_id, site=p.site, first=seeded, count=level - seeded)
            seeded = level
            site.heartbeat(queue_wait_s=0, backend="local")
            for _ in range(5 * args.workers):  # warm: every worker has its connection and its size limits
                client.submit_spec(spec)
            samples, control = [], []
            for _ in range(args.per_level):
                t0 = time.perf_counter()
                client.submit_spec(spec)
                t1 = time.perf_counter()
                client.allocation(allocation_id)  # the control: a read whose cost does not depend on the history
                control.append(time.perf_counter() - t1)
                samples.append(t1 - t0)
            rows.append({"finished_jobs": level, "seed_s": seed_s, "refresh_s": _size_window_s(url_db),
                         "latency": Latencies(samples).summary(), "p99_s": sorted(samples)[int(0.99 * len(samples))],
                         "control": Latencies(control).summary()})
            print(f"  {level:>9,} finished jobs: median {rows[-1]['latency']['median_s'] * 1000:.1f} ms",
                  file=sys.stderr, flush=True)
        client.close()
    base = rows[0]["latency"]["median_s"]
    base_relative = base / rows[0]["control"]["median_s"]
    for row in rows:
        row["ratio"] = row["latency"]["median_s"] / base
        row["ratio_to_control"] = row["latency"]["median_s"] / row["control"]["median_s"] / base_relative
    return {"database": "postgresql", "workers": args.workers, "per_level": args.per_level, "levels": rows,
            "flat": all(row["ratio"] <= 1.5 for row in rows),
            "flat_against_control": all(row["ratio_to_control"] <= 1.5 for row in rows)}


def run(args: argparse.Namespace) -> int:
    if args.tool == "locust":
        return bench_locust.run(args)
    if (args.jobs < 1 or args.submissions < 1 or args.clients < 1 or args.workers < 1 or args.interval <= 0
            or args.per_level < 1 or not 0 <= args.phase_span <= 60 or not 0 <= args.settle <= 60):
        print("aifactory bench submit: --jobs, --submissions, --clients, --workers, --per-level must be >= 1, "
              "--interval > 0, --phase-span and --settle 0 to 60",
              file=sys.stderr)
        return 2
    figures: dict[str, Any] = {}
    try:
        if not args.skip_overhead:
            figures["overhead"] = overhead(args)
        if not args.skip_throughput:
            figures["throughput"] = throughput(args)
        if not args.skip_history:
            figures["history"] = history(args)
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError, StopIteration) as exc:
        print(f"aifactory bench submit: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    if "overhead" in figures:
        o = figures["overhead"]
        print(f"overhead on cluster {o['cluster']} (agent every {o['agent_interval_s']:g} s, portal on "
              f"{o['database']}), submission to the job's first command, {o['aifactory']['n']} jobs each:")
        for name in ("aifactory", "sbatch"):
            s = o[name]
            print(f"  {name:9}  median {s['median_s']:.2f} s  mean {s['mean_s']:.2f} s  p90 {s['p90_s']:.2f} s  "
                  f"(min {s['min_s']:.2f}, max {s['max_s']:.2f})")
        print(f"  ratio of medians: {o['ratio_of_medians']:.2f}x; overhead of the medians: "
              f"{o['overhead_median_s']:+.2f} s ({'woken by the portal' if o['agent_woken'] else 'polling only'})")
        print("  through aifactory, median seconds after the API call: " + ", ".join(
            f"{name.replace('_', ' ')} {at:.2f}" for name, at in o["stages_median_s"].items()))
        print(f"  before each submission: Slurm idle, then {o['settle_s']:g} s and a random wait below "
              f"{o['phase_span_s']:g} s; load average "
              + " ".join(f"{x:.2f}" for x in o["load_average"]))
    if "throughput" in figures:
        t = figures["throughput"]
        print(f"throughput on PostgreSQL, {t['workers']} gunicorn workers, {t['clients']} clients: "
              f"{t['accepted']} of {t['submissions']} accepted in {t['wall_s']:.1f} s = {t['jobs_per_s']:.0f} jobs/s "
              f"(per request: median {t['latency']['median_s'] * 1000:.0f} ms, p90 "
              f"{t['latency']['p90_s'] * 1000:.0f} ms)")
        if t["errors"]:
            print(f"  refused: {t['errors']}")
    if "history" in figures:
        h = figures["history"]
        print(f"submission latency against history on PostgreSQL ({h['workers']} workers, one client, "
              f"{h['per_level']} submissions a level):")
        print(f"  {'finished jobs':>13}  {'median':>8}  {'p90':>8}  {'p99':>8}  {'ratio':>6}  {'control':>8}  "
              f"{'ratio/control':>13}  size-limit refresh")
        for row in h["levels"]:
            lat = row["latency"]
            print(f"  {row['finished_jobs']:>13,}  {lat['median_s'] * 1000:6.1f} ms  {lat['p90_s'] * 1000:6.1f} ms  "
                  f"{row['p99_s'] * 1000:6.1f} ms  {row['ratio']:5.2f}x  {row['control']['median_s'] * 1000:5.1f} ms  "
                  f"{row['ratio_to_control']:12.2f}x  {row['refresh_s'] * 1000:.0f} ms (once a minute a worker)")
        print(f"  flat (every level within 1.5x of the first): {'yes' if h['flat'] else 'NO'}; against the control "
              f"read (GET /allocations/<id>, timed between submissions, which takes out the machine's load): "
              f"{'yes' if h['flat_against_control'] else 'NO'}")
    return 0
