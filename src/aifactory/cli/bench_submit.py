"""`aifactory bench submit`: what submitting through aifactory costs, against a bare sbatch, and how many jobs per
second the API accepts.

Overhead (needs a Slurm cluster, e.g. `scripts/slurm-cluster.sh up`): a throw-away portal (gunicorn; SQLite in a
temporary folder, or --database-url) with one agent for the cluster, polling every --interval seconds, as a site
runs it. A person signs up, registers, applies (Playground) and waits for the account, through the API. Then, one
at a time and alternating, N jobs through the API (`POST /jobs` with a spec) and N jobs with a bare `sbatch` under
the same account on the same cluster. Each job's first command writes the time it starts; the latency is that time
less the time just before the submission (the API call, or sbatch). The figure is the ratio of the medians.

Throughput (needs PostgreSQL, --database-url): a portal on gunicorn with --workers workers, one site that reports
and has provisioned the account, and --clients threads each posting job specs (1 GPU, 60 s) as fast as the API
answers, --submissions in all. The figure is accepted submissions per second of wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    p.add_argument("--database-url", default=None,
                   help=f"PostgreSQL for the portal (throughput: default {DEFAULT_PG}; overhead: SQLite if unset)")
    p.add_argument("--submissions", type=int, default=1000, help="submissions for the throughput")
    p.add_argument("--clients", type=int, default=8, help="client threads for the throughput")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
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


@contextmanager
def portal(*, database_url: str | None, workers: int, backend: str) -> Iterator[Portal]:
    """Migrate, load the catalog, register a site for Leonardo, and serve the portal with gunicorn."""
    tmp = Path(tempfile.mkdtemp(prefix="aifactory-bench-"))
    env = {**os.environ, "AIFACTORY_DATA_DIR": str(tmp), "DJANGO_SETTINGS_MODULE": "aifactory.portal.settings",
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
    server = start_portal(host="127.0.0.1", port=port, workers=workers, threads=1, env=env, log_level="error")
    try:
        if not wait_until_up(url, server):
            raise RuntimeError("the portal did not start")
        yield Portal(url=url, site=site, site_token=boot.token_file.read_text(encoding="utf-8").strip(), data_dir=tmp)
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
        worker = threading.Thread(target=agent.run_forever, kwargs={"interval_s": args.interval, "stop": stop.is_set},
                                  daemon=True)
        worker.start()
        account = ""
        try:
            client, allocation_id = _person(p.url)
            _wait("the account", lambda: client.allocation(allocation_id)["provisioned"])
            account = client.allocation(allocation_id)["account"]
            bare_dir = p.data_dir / "bare"
            bare_dir.mkdir()
            aif, bare = [], []
            for i in range(args.jobs):
                # through aifactory: the API call, the agent's passes, sbatch, the start gate
                spec = {"name": f"bench-{i}", "resources": {"gpu": "A100", "time_limit": 300},
                        "commands": ['date +%s.%N > "$AIF_JOB_DIR/started-at"']}
                t0 = time.time()
                job = client.submit_spec(spec)
                started = _wait("the job to start", lambda j=job: _started_at(workdir / j["uid"] / "started-at"))
                aif.append(started - t0)
                _wait("the job to end", lambda j=job: client.job(j["uid"])["state"] in ("completed", "failed"))
                # bare: sbatch under the same account, on the same cluster
                folder = bare_dir / str(i)
                folder.mkdir()
                script = folder / "job.sh"
                script.write_text(f"#!/bin/bash\ndate +%s.%N > {folder}/started-at\n")
                t0 = time.time()
                subprocess.run(["sbatch", "--parsable", f"--account={account}", "--gres=gpu:1", "--time=5",
                                f"--output={folder}/out", f"--chdir={folder}", f"--job-name=bench-bare-{i}",
                                str(script)], env=slurm_env, check=True, capture_output=True, timeout=30)
                started = _wait("the bare job to start", lambda f=folder: _started_at(f / "started-at"))
                bare.append(started - t0)
                time.sleep(0.3)
        finally:
            stop.set()
            worker.join(timeout=10)
            if account:
                subprocess.run(["scancel", f"--account={account}"], env=slurm_env, check=False, capture_output=True)
    a, b = Latencies(aif).summary(), Latencies(bare).summary()
    return {"cluster": cluster, "agent_interval_s": args.interval, "database": "postgresql" if args.database_url
            else "sqlite", "aifactory": a, "sbatch": b, "ratio_of_medians": a["median_s"] / b["median_s"]}


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


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1 or args.submissions < 1 or args.clients < 1 or args.workers < 1 or args.interval <= 0:
        print("aifactory bench submit: --jobs, --submissions, --clients, --workers must be >= 1, --interval > 0",
              file=sys.stderr)
        return 2
    figures: dict[str, Any] = {}
    try:
        if not args.skip_overhead:
            figures["overhead"] = overhead(args)
        if not args.skip_throughput:
            figures["throughput"] = throughput(args)
    except (RuntimeError, OSError, subprocess.SubprocessError, StopIteration) as exc:
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
        print(f"  ratio of medians: {o['ratio_of_medians']:.1f}x")
    if "throughput" in figures:
        t = figures["throughput"]
        print(f"throughput on PostgreSQL, {t['workers']} gunicorn workers, {t['clients']} clients: "
              f"{t['accepted']} of {t['submissions']} accepted in {t['wall_s']:.1f} s = {t['jobs_per_s']:.0f} jobs/s "
              f"(per request: median {t['latency']['median_s'] * 1000:.0f} ms, p90 "
              f"{t['latency']['p90_s'] * 1000:.0f} ms)")
        if t["errors"]:
            print(f"  refused: {t['errors']}")
    return 0
