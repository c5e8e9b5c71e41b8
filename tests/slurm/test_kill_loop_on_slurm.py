"""Kill loop: the portal (gunicorn), a site's agent or a task worker (failover) is killed (SIGKILL, with everything it
started) at random moments and started again, while a client submits jobs through the API. Two real Slurm clusters
(aif-a, aif-b; started by `scripts/slurm-cluster.sh up aif-a aif-b`), the portal on PostgreSQL under gunicorn, each
process started as `aifactory run` starts it.

    client --POST /api/v1/jobs (Idempotency-Key)--> gunicorn (PostgreSQL) <-- agent leonardo-a (aif-a)
                                                          ^              <-- agent jupiter-b  (aif-b)
                                                          +-- 2 task workers (`django-admin tasks_worker`): failover

A site whose agent has not reported for AIFACTORY_AGENT_STALE_AFTER_S (5 s here) is lost: the failover task moves
its waiting jobs. A submission that got no answer is sent again with the same key until the portal answers.

At the end, read from the portal's database and both clusters' accounting:
- every accepted submission made exactly one job, and every job in the database was accepted by the client;
- every accepted job ended completed, its commands ran exactly once (the file each run appends to), and exactly one
  sacct record of its uid (job name `aif-<uid>`) across both clusters ran it; every other record is a copy that was
  cancelled or ended at its start gate without running anything;
- each allocation's reserved counter is what its unfinished jobs hold (checked after every round as well), and its
  charged usage is what sacct recorded for its account.

Settings: AIFACTORY_KILL_ROUNDS (default 8), AIFACTORY_KILL_SECONDS (the rounds stop after this long, default 60),
AIFACTORY_KILL_SEED (default: random; printed), AIFACTORY_KILL_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/aifactory_kill; the database is made afresh, and dropped at the end).
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aifactory.portal.serve import portal_argv, wait_until_up
from aifactory.sdk import Client, PortalCallError
from tests.slurm.conftest import SlurmCluster
from tests.slurm.test_federation_on_slurm import cluster_b  # noqa: F401 (a fixture)
from tests.slurm.test_slurm_backend import drop_account

pytestmark = [pytest.mark.slurm]

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("AIFACTORY_KILL_ROUNDS", "8"))
SECONDS = float(os.environ.get("AIFACTORY_KILL_SECONDS", "60"))
DATABASE_URL = os.environ.get("AIFACTORY_KILL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aifactory_kill")
STALE_AFTER_S = 5
FINISHED = {"completed", "failed", "cancelled"}
NOT_RELEASED_EXIT = "75:0"


def say(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"kill loop: {line}", flush=True)


# --- the portal's database -------------------------------------------------------------------------------------------


def _admin(url: str) -> tuple[str, str]:
    """The maintenance database's URL and the database named by `url`."""
    match = re.match(r"^(postgres(?:ql)?://[^/]+)/([A-Za-z_][A-Za-z0-9_]*)$", url)
    assert match, f"AIFACTORY_KILL_DATABASE_URL {url!r} must be postgres://user@host:port/name"
    return f"{match.group(1)}/postgres", match.group(2)


@pytest.fixture
def database() -> Iterator[str]:
    admin, name = _admin(DATABASE_URL)
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL for the kill loop is not reachable at {admin}: {exc}"
        if os.environ.get("AIFACTORY_REQUIRE_SLURM") == "1":
            pytest.fail(f"AIFACTORY_REQUIRE_SLURM=1 and {message}", pytrace=False)
        pytest.skip(message)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield DATABASE_URL
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the processes ---------------------------------------------------------------------------------------------------


@dataclass
class Proc:
    """One of the product's processes, started in a session of its own so that a kill takes what it started too."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts + 1} at {datetime.now(UTC).isoformat()}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.starts += 1

    def kill(self) -> None:
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def django_run(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run([sys.executable, *argv], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def dump(env: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(django_run(env, "-m", "tests.slurm.killworld", "dump").splitlines()[-1]))


COUNTERS_SQL = """
    SELECT a.id, a.account, a.gpu_seconds_reserved,
           COALESCE(SUM(j.gpus * j.time_limit_s) FILTER (WHERE j.state NOT IN ('completed', 'failed', 'cancelled')), 0),
           COUNT(j.id)
    FROM allocations_allocation a LEFT JOIN jobs_job j ON j.allocation_id = a.id
    GROUP BY a.id, a.account, a.gpu_seconds_reserved ORDER BY a.id
"""
"""Each allocation's reserved counter beside what its unfinished jobs hold, in one statement (one snapshot)."""


OPEN_JOBS_SQL = """
    SELECT j.uid, j.state, s.name, j.message FROM jobs_job j JOIN federation_site s ON s.id = j.site_id
    WHERE j.state NOT IN ('completed', 'failed', 'cancelled') ORDER BY j.id
"""
OPEN_REVOCATIONS_SQL = """
    SELECT j.uid, s.name FROM jobs_jobrevocation r JOIN jobs_job j ON j.id = r.job_id
    JOIN federation_site s ON s.id = r.site_id WHERE r.done_at IS NULL ORDER BY r.id
"""


def counters(url: str) -> tuple[list[str], int]:
    """Allocations whose reserved counter is not what their unfinished jobs hold, and the number of jobs: read with
    SQL while the portal runs (a round is not held up by starting Django)."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        rows = conn.execute(COUNTERS_SQL).fetchall()
    bad = [f"allocation {pk} ({account}): reserved {reserved}, its unfinished jobs hold {held}"
           for pk, account, reserved, held, _ in rows if reserved != held]
    return bad, sum(n for *_, n in rows)


def reserved_mismatches(state: dict[str, Any]) -> list[str]:
    """Allocations whose reserved counter is not what their unfinished jobs hold (GPUs x time limit)."""
    held: Counter[int] = Counter()
    for j in state["jobs"]:
        if j["state"] not in FINISHED:
            held[j["allocation"]] += j["gpus"] * j["time_limit_s"]
    return [f"allocation {a['id']} ({a['account']}): reserved {a['reserved']}, its unfinished jobs hold "
            f"{held[a['id']]}" for a in state["allocations"] if a["reserved"] != held[a["id"]]]


# --- the client ------------------------------------------------------------------------------------------------------


@dataclass
class Submitter:
    """Submits jobs through the API until told to stop; a submission without an answer (the portal is down, or went
    down before it answered) is sent again with the same Idempotency-Key until the portal answers."""

    url: str
    token: str
    organisation: int
    runs: Path
    rng: random.Random
    accepted: dict[str, str] = field(default_factory=dict)
    """Idempotency-Key -> uid of the job the portal answered with."""
    refused: list[str] = field(default_factory=list)
    resent: Counter[str] = field(default_factory=Counter)
    """Idempotency-Key -> how many times it was sent again after the portal did not answer."""
    stop: threading.Event = field(default_factory=threading.Event)
    failure: list[str] = field(default_factory=list)

    def run(self) -> None:
        client = Client(self.url, self.token, timeout_s=30)
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                self.submit(client, n)
                self.stop.wait(self.rng.uniform(0.3, 1.2))
        except Exception as exc:  # reported by the test, which would otherwise wait for nothing
            self.failure.append(repr(exc))
            raise
        finally:
            client.close()

    def submit(self, client: Client, n: int) -> None:
        key = f"kill-{n}-{self.rng.getrandbits(64):016x}"
        spec = {"name": f"kill-{n}", "resources": {"time_limit": "5m", "gpus_per_node": self.rng.choice([1, 2])},
                "commands": [f'echo "$AIF_JOB_UID $SLURM_CLUSTER_NAME $SLURM_JOB_ID" >> {self.runs}',
                             f"sleep {self.rng.choice([1, 2, 3])}"]}
        deadline = time.monotonic() + 120
        while True:
            try:
                self.accepted[key] = client.submit_spec(spec, organisation=self.organisation,
                                                        idempotency_key=key)["uid"]
                return
            except PortalCallError as exc:
                if exc.status != 0 and exc.status < 500:
                    self.refused.append(f"{key}: {exc}")
                    return
                if time.monotonic() > deadline:
                    self.failure.append(f"submission {key} got no answer for 120 s: {exc}")
                    self.stop.set()
                    return
                self.resent[key] += 1
                time.sleep(0.3)


# --- the accounting --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SacctRow:
    job_id: str
    name: str
    state: str
    exit_code: str
    elapsed: int
    gpus: int
    account: str


def sacct_rows(cluster: SlurmCluster, accounts: list[str], since: str) -> list[SacctRow]:
    out = cluster.run("sacct", "-X", "-n", "-P", "-S", since, "-A", ",".join(accounts),
                      "--format=JobID,JobName,State,ExitCode,ElapsedRaw,AllocTRES,Account")
    rows = []
    for line in out.splitlines():
        if not line.strip():
            continue
        job_id, name, state, exit_code, elapsed, tres, account = line.split("|")
        gpus = sum(int(v) for k, _, v in (item.partition("=") for item in tres.split(",")) if k == "gres/gpu")
        rows.append(SacctRow(job_id, name, state.split()[0], exit_code, int(elapsed or 0), gpus, account))
    return rows


def until(what: str, done: Callable[[], bool], timeout_s: float, why: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"after {timeout_s:g} s, still not {what}. {why()}"
        time.sleep(1.0)


def move_cause(move: dict[str, Any], downtimes: list[tuple[str, float, float]]) -> str:
    """Why failover found the site a job left lost: its agent, or the portal, was down shortly before."""
    match = re.match(r"moved from (\S+):", move["cause"])
    site = match.group(1) if match else "?"
    window = (move["at"] - 3 * STALE_AFTER_S - 30, move["at"])
    for victim in (f"agent {site}", "portal"):
        if any(v == victim and killed <= window[1] and back >= window[0] for v, killed, back in downtimes):
            return f"after the {victim.split()[0]} of {site} was killed" if victim != "portal" else \
                "after the portal was killed"
    return f"from {site} while its agent and the portal ran"


# --- the test --------------------------------------------------------------------------------------------------------


def test_kill_loop(database, slurm_cluster, cluster_b, tmp_path, capsys):  # noqa: F811 (cluster_b, a fixture)
    seed = int(os.environ.get("AIFACTORY_KILL_SEED") or secrets.randbits(32))
    rng = random.Random(seed)
    say(capsys, f"seed {seed} (AIFACTORY_KILL_SEED={seed} repeats the choices), up to {ROUNDS} rounds in "
                f"{SECONDS:g} s, database {database}")
    clusters = {"leonardo-a": slurm_cluster, "jupiter-b": cluster_b}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runs = tmp_path / "runs.log"
    runs.touch()
    env = {
        **os.environ, "DATABASE_URL": database, "DJANGO_SETTINGS_MODULE": "aifactory.portal.settings",
        "AIFACTORY_DATA_DIR": str(tmp_path / "var"), "AIFACTORY_AGENT_STALE_AFTER_S": str(STALE_AFTER_S),
        "AIFACTORY_FAILOVER_EVERY_S": "1", "AIFACTORY_PERIODIC_TICK_S": "0.5",
        "AIFACTORY_ACCOUNT_PREFIX": f"aifk{secrets.token_hex(3)}", "AIFACTORY_PUBLIC_URL": url,
        "AIFACTORY_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend", "PYTHONUNBUFFERED": "1",
    }
    env.pop("AIFACTORY_DEBUG", None)
    (tmp_path / "var").mkdir()
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    django_run(env, "-m", "django", "migrate", "--noinput")
    world = json.loads(django_run(env, "-m", "tests.slurm.killworld", "setup").splitlines()[-1])
    accounts = sorted(world["accounts"].values())

    procs: dict[str, Proc] = {}
    # As `aifactory run` starts them.
    procs["portal"] = Proc("portal", portal_argv(host="127.0.0.1", port=port, workers=2), env, tmp_path / "portal.log")
    for site, cluster in clusters.items():
        token_file = tmp_path / f"{site}.token"
        token_file.write_text(world["sites"][site])
        procs[f"agent {site}"] = Proc(f"agent {site}", [
            sys.executable, "-m", "aifactory.cli.main", "agent", "--site", site, "--backend", "slurm",
            "--cluster", cluster.name, "--slurm-conf", cluster.conf, "--url", url, "--token-file", str(token_file),
            "--workdir", str(tmp_path / f"site-{site}"), "--interval", "1", "--heartbeat-every", "1"],
            env, tmp_path / f"agent-{site}.log")
    for n in (1, 2):  # the task runner's workers, failover among their periodic tasks
        procs[f"task worker {n}"] = Proc(f"task worker {n}", [
            sys.executable, "-m", "django", "tasks_worker", "--interval", "1", "--no-reload"],
            env, tmp_path / f"task-worker-{n}.log")

    def logs() -> str:
        return "\n".join(f"--- {p.name} (started {p.starts} times), last lines:\n{p.tail()}" for p in procs.values())

    submitter = Submitter(url, world["token"], world["organisation"], runs, random.Random(rng.getrandbits(64)))
    client = threading.Thread(target=submitter.run, name="kill-loop-client", daemon=True)
    try:
        for p in procs.values():
            p.start()
        assert wait_until_up(url, procs["portal"].popen, timeout_s=120), f"the portal did not start\n{logs()}"
        until("both sites' accounts provisioned", lambda: dump(env)["orders"] == ["done"], 120, logs)

        # The rounds: a victim killed at a random moment, down for a random while, started again.
        client.start()
        started = time.monotonic()
        survived: list[str] = []
        downtimes: list[tuple[str, float, float]] = []  # victim, killed at, started again at (epoch seconds)
        for n in range(1, ROUNDS + 1):
            if time.monotonic() - started > SECONDS or submitter.stop.is_set():
                break
            time.sleep(rng.uniform(0.5, 3.0))
            victim = procs[rng.choice(sorted(procs))]
            down = rng.uniform(0.2, 2 * STALE_AFTER_S)
            at = time.monotonic() - started
            victim.kill()
            killed_at = time.time()
            time.sleep(down)
            victim.start()
            downtimes.append((victim.name, killed_at, time.time()))
            if victim.name == "portal":
                assert wait_until_up(url, victim.popen, timeout_s=120), f"the portal did not start again\n{logs()}"
            dead = [f"{p.name} exited with {p.exited()}" for p in procs.values() if p.exited() is not None]
            assert not dead, f"round {n}: {dead}\n{logs()}"
            bad, jobs_so_far = counters(database)
            assert not bad, f"round {n}: {bad}"
            survived.append(victim.name)
            say(capsys, f"round {n}: killed {victim.name} at +{at:.1f} s, down {down:.1f} s, started again; "
                        f"{jobs_so_far} jobs so far, reserved counters agree")
        submitter.stop.set()
        client.join(timeout=180)
        assert not client.is_alive(), "the client is still waiting for an answer"
        assert not submitter.failure, submitter.failure
        say(capsys, f"survived {len(survived)} rounds: " + ", ".join(f"{v} x{c}" for v, c in
                                                                        sorted(Counter(survived).items())))

        # Every accepted job ends.
        uids = set(submitter.accepted.values())
        assert uids, "no submission was accepted"

        def open_work() -> list[str]:
            with psycopg.connect(database, connect_timeout=10) as conn:
                jobs = conn.execute(OPEN_JOBS_SQL).fetchall()
                copies = conn.execute(OPEN_REVOCATIONS_SQL).fetchall()
            return ([f"{uid} {state} at {site}: {message[:120]}" for uid, state, site, message in jobs]
                    + [f"revocation of {uid} at {site} not confirmed" for uid, site in copies])

        until("every accepted job finished and every copy's revocation confirmed", lambda: not open_work(), 150,
              lambda: f"open: {open_work()[:20]}\n{logs()}")
    finally:
        submitter.stop.set()
        for p in procs.values():
            p.stop()
        for site, account in world["accounts"].items():
            try:
                drop_account(clusters[site], account)
            except AssertionError:
                pass  # best effort: the account is fresh per run

    state = dump(env)
    jobs = {j["uid"]: j for j in state["jobs"]}
    # One job per accepted submission, and no job the client does not know of.
    assert len(uids) == len(submitter.accepted), "two keys answered with the same job"
    assert set(jobs) == uids, (f"jobs in the portal that no accepted submission made: {sorted(set(jobs) - uids)}; "
                               f"accepted but not in the portal: {sorted(uids - set(jobs))}")
    assert {j["key"] for j in jobs.values()} == set(submitter.accepted)
    assert not submitter.refused, submitter.refused
    not_completed = [f"{u}: {j['state']} ({j['message'][:200]})" for u, j in jobs.items() if j["state"] != "completed"]
    assert not not_completed, not_completed

    # The commands of every job ran exactly once.
    ran = Counter(line.split()[0] for line in runs.read_text().splitlines() if line.strip())
    assert {u: c for u, c in ran.items() if c != 1} == {}, "jobs whose commands ran more than once"
    assert set(ran) == uids, f"jobs whose commands never ran: {sorted(uids - set(ran))}"

    # Both clusters' accounting: one record per uid ran it; every other one is a copy that ran nothing.
    rows = {site: sacct_rows(cluster, accounts, since) for site, cluster in clusters.items()}
    by_uid: dict[str, list[tuple[str, SacctRow]]] = {}
    for site, site_rows in rows.items():
        for row in site_rows:
            by_uid.setdefault(row.name.removeprefix("aif-"), []).append((site, row))
    assert set(by_uid) == uids, f"sacct records of unknown jobs: {sorted(set(by_uid) - uids)}; accepted jobs " \
                                f"without one: {sorted(uids - set(by_uid))}"
    copies = 0
    for uid, records in by_uid.items():
        done = [(site, r) for site, r in records if r.state == "COMPLETED"]
        assert len(done) == 1, (uid, records)
        [(site, row)] = done
        assert (jobs[uid]["site"], jobs[uid]["scheduler_id"]) == (site, row.job_id), (jobs[uid], records)
        for _, other in records:
            if other is not row:
                copies += 1
                never_ran = other.state == "FAILED" and other.exit_code == NOT_RELEASED_EXIT
                assert other.state == "CANCELLED" or never_ran, f"job {uid}: a copy that was not cancelled: {other}"

    # Counters: nothing reserved at the end, and each allocation charged what its cluster recorded for its account.
    assert reserved_mismatches(state) == []
    assert all(a["reserved"] == 0 for a in state["allocations"])
    for allocation in state["allocations"]:
        recorded = sum(r.elapsed * r.gpus for site_rows in rows.values() for r in site_rows
                       if r.account == allocation["account"])
        assert allocation["used"] == pytest.approx(recorded), (allocation, recorded)

    moved = len(state["moves"])
    revoked = len(state["revocations"])
    say(capsys, "moves by failover: " + (", ".join(f"{n} {why}" for why, n in sorted(
        Counter(move_cause(m, downtimes) for m in state["moves"]).items())) or "none"))
    say(capsys, f"{len(uids)} jobs accepted, each completed and run once; {sum(submitter.resent.values())} "
                f"submissions sent again after no answer ({len(submitter.resent)} keys); {moved} moves by failover; "
                f"{revoked} copies revoked, {copies} of them in sacct; usage agrees with sacct for "
                f"{len(state['allocations'])} allocations")
