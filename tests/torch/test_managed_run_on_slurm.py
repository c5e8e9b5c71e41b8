"""A managed run driven by the portal, with real agents (`aifactory agent`, one process per cluster) on the two test
clusters (aif-a and aif-b, started by `scripts/slurm-cluster.sh up aif-a aif-b`), training with the generated
train.py (PyTorch on CPU).

    leonardo-a  on cluster aif-a   allocation <prefix>-p<N>
    jupiter-b   on cluster aif-b   allocation <prefix>-p<N>-jupiter

Each segment has a time limit of one minute, shorter than the run: the first segment stops at its time limit with a
checkpoint and the portal submits the next, which resumes from it. While that one runs, its site's agent is killed
with SIGKILL: the segment's lease is no longer renewed, so it checkpoints and stops; once the lease and its grace
have passed the portal places the next segment on the other cluster, which resumes from the last checkpoint and
finishes the run. Both clusters' accounting shows the segments one after the other, never two at once, and the
work lost is printed.

The portal runs in this process: the agents reach it over HTTP through a small relay whose requests this test's
thread answers (with Django's test client, in the test's transaction), between its own passes of failover and
runs_advance, as `aifactory failover` would make them.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from django.test import Client

from aifactory.cli.main import main as aifactory
from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.allocations.models import ProvisioningOrder
from aifactory.portal.allocations.services import allocation_create
from aifactory.portal.federation.models import Site
from aifactory.portal.federation.services import site_create
from aifactory.portal.jobs.failover import jobs_failover
from aifactory.portal.runs.models import Run
from aifactory.portal.runs.services import run_create, runs_advance
from tests.conftest import ApplicationFactory, OrganisationFactory, UserFactory, machine
from tests.slurm.conftest import SlurmCluster, slurm_cluster  # noqa: F401
from tests.slurm.test_federation_on_slurm import cluster_b  # noqa: F401
from tests.slurm.test_slurm_backend import drop_account
from tests.torch.test_training_on_slurm import PYTHON, _needs_torch  # noqa: F401

pytestmark = [pytest.mark.torch, pytest.mark.django_db(transaction=False)]

SEGMENT_LIMIT = "1m"
LEASE_S = 20
GRACE_S = 30
STALE_S = 15


class Relay:
    """An HTTP server on a free local port whose requests are answered by the test's thread (pump)."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[tuple[str, str, dict[str, str], bytes, queue.Queue[tuple[int, list, bytes]]]] = \
            queue.Queue()
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer: queue.Queue[tuple[int, list, bytes]] = queue.Queue(maxsize=1)
                relay.inbox.put((self.command, self.path, dict(self.headers.items()), body, answer))
                status, headers, content = answer.get(timeout=120)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _any  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.client = Client()

    def pump(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            try:
                method, path, headers, body, answer = self.inbox.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            extra = {k: v for k, v in headers.items() if k.lower() in ("authorization", "user-agent")}
            response = self.client.generic(method, path, data=body,
                                           content_type=headers.get("Content-Type", "application/json"),
                                           headers=extra)
            answer.put((response.status_code, list(response.items()), response.content))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AgentProcess:
    def __init__(self, name: str, token: str, cluster: SlurmCluster, workdir: Path, url: str, log: Path) -> None:
        self.name, self.cluster, self.log = name, cluster, log
        env = {**os.environ, "AIFACTORY_AGENT_TOKEN": token, "SLURM_CONF": cluster.conf}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aifactory.cli.main", "agent", "--site", name, "--backend", "slurm", "--url",
                 url, "--workdir", str(workdir), "--slurm-conf", cluster.conf, "--cluster", cluster.name,
                 "--poll-only", "--interval", "1", "--start-wait", "120"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def work() -> Iterator[Path]:
    """A folder both clusters read (the same machine), kept out of pytest's pruned temporary folders."""
    path = Path(tempfile.mkdtemp(prefix="aif-run-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def calibrate(run_dir: Path) -> float:
    """Steps per second of train.py on this machine now, once started (a few steps, no Slurm): the median of the
    tokens/s it logs at each step, over the tokens of a step."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "AIF_RUN_STEPS": "20",
           "AIF_RUN_CHECKPOINT_DIR": str(run_dir / "calibration"), "AIF_RUN_CHECKPOINT_EVERY": "1000"}
    done = subprocess.run([PYTHON, str(run_dir / "train.py"), "--config", str(run_dir / "run.json")], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    shutil.rmtree(run_dir / "calibration")
    config = json.loads((run_dir / "run.json").read_text())
    per_step = int(config["train"]["micro_batch"]) * int(config["model"]["seq_len"])
    rates = sorted(float(r.replace(",", "")) for r in re.findall(r"tokens/s=([0-9,]+)", done.stdout)[2:])
    return rates[len(rates) // 2] / per_step


def sacct_rows(cluster: SlurmCluster, uid: str) -> list[dict[str, str]]:
    out = cluster.run("sacct", "-X", "-n", "-P", "-S", "2020-01-01", "--name", f"aif-{uid}",
                      "--format=JobID,State,ExitCode,Start,End")
    rows = []
    for line in out.splitlines():
        if line.strip():
            job_id, state, exit_code, start, end = line.split("|")
            rows.append({"cluster": cluster.name, "id": job_id, "state": state.split()[0], "exit": exit_code,
                         "start": start, "end": end})
    return rows


def test_a_managed_run_crosses_time_limits_and_a_lost_site(settings, slurm_cluster, cluster_b, work):  # noqa: F811
    settings.ACCOUNT_PREFIX = f"aifr{secrets.token_hex(3)}"
    settings.AGENT_STALE_AFTER_S = STALE_S
    settings.RUN_LEASE_S = LEASE_S
    settings.LEASE_GRACE_S = GRACE_S
    run_dir = work / "run"
    assert aifactory(["init", "--machine", "leonardo", "--nodes", "1", "--model", "tiny", "--gpus-per-node", "1",
                      "--micro-batch", "8", "--out", str(run_dir), "--checkpoint-dir", str(work / "ckpt")]) == 0
    config = json.loads((run_dir / "run.json").read_text())
    config["train"]["log_every"] = 1
    (run_dir / "run.json").write_text(json.dumps(config))
    rate = calibrate(run_dir)
    steps = max(int(rate * 100), 60)  # more than a segment of a minute can do (about 40 s of it trains)
    every = max(steps // 15, 3)

    machine("leonardo")
    a_site, a_token = site_create(name="leonardo-a", machine_key="leonardo", backend="slurm")
    b_site, b_token = site_create(name="jupiter-b", machine_key="jupiter", backend="slurm")
    user = UserFactory(username="alice")
    org = OrganisationFactory(members=[user])
    app = ApplicationFactory(organisation=org, submitted_by=user, requested_gpu_hours=50)
    on_a = allocation_create(application=app)
    on_b = allocation_create(application=app, machine=machine("jupiter"), gpu_hours=50)
    clusters = {"leonardo-a": slurm_cluster, "jupiter-b": cluster_b}
    relay = Relay()
    agents = {name: AgentProcess(name, token, clusters[name], work / f"site-{name}", relay.url,
                                 work / f"agent-{name}.log")
              for name, token in (("leonardo-a", a_token), ("jupiter-b", b_token))}

    def until(what: str, done: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                logs = {n: a.log.read_text(errors="replace")[-3000:] for n, a in agents.items()}
                raise AssertionError(f"timed out waiting for {what}; agents: {logs}")
            relay.pump(1.0)
            jobs_failover()
            for line in runs_advance():
                print(line, flush=True)

    try:
        until("both agents to report and provision their accounts", lambda: ProvisioningOrder.objects.filter(
            allocation__in=[on_a, on_b], state="done").count() == 2 and all(
            s.last_seen_at for s in Site.objects.filter(pk__in=[a_site.pk, b_site.pk])), 120)
        spec = spec_from_dict({
            "name": "llm", "resources": {"time_limit": SEGMENT_LIMIT},
            "env": {"PY": PYTHON, "RUN": str(run_dir)},
            "commands": ['end=$(squeue -h -j "$SLURM_JOB_ID" -o %e); export AIF_DEADLINE=$(date -d "$end" +%s)',
                         '"$PY" "$RUN/train.py" --config "$RUN/run.json"'],
        })
        run = run_create(user=user, spec=spec, steps=steps, checkpoint_every=every, checkpoint_dir=str(work / "ckpt"),
                         organisation=org)
        print(f"run {run.pk}: {steps} steps, a checkpoint every {every}; train.py does {rate:.2f} steps/s here")

        def segments() -> list:
            return list(Run.objects.get(pk=run.pk).segments.select_related("job", "job__site"))

        # The first segment stops at its time limit with a checkpoint; the portal submits the next.
        until("a second segment", lambda: len(segments()) >= 2 or Run.objects.get(pk=run.pk).terminal, 300)
        assert len(segments()) >= 2, "the first segment did the whole run: this machine got faster than calibrated"
        first, second = segments()[:2]
        assert first.job.state == "failed" and first.job.exit_code == 3, (first.job.message, first.job.log_tail[-2000:])
        assert "stopped with a checkpoint" in second.cause and second.start_step > 0
        lost_site = second.job.site.name

        # While the second segment runs and has reported a checkpoint of its own, its site's agent is killed.
        until("the second segment to checkpoint", lambda: Run.objects.get(pk=run.pk).checkpoints.filter(
            segment=second).exists(), 300)
        agents[lost_site].kill()
        killed_at = time.time()
        until("the run to finish", lambda: Run.objects.get(pk=run.pk).terminal, 420)
        run.refresh_from_db()
        all_segments = segments()
        logs = "\n".join(f"--- segment {s.index} at {s.job.site.name}:\n" + (
            work / f"site-{s.job.site.name}" / s.job.uid / "output.log").read_text(errors="replace")[-1500:]
            for s in all_segments)
        assert run.state == "completed", (run.message, [(s.index, s.job.state, s.cause) for s in all_segments], logs)
        moved = [s for s in all_segments if s.index > second.index]
        assert moved and moved[0].job.site.name != lost_site
        assert "was lost and its lease ran out" in moved[0].cause
        second.job.refresh_from_db()
        assert second.job.state == "failed" and "lease of 20 s ran out" in second.job.message

        # The work lost: the steps the killed site's segment did after the checkpoint the next segment resumed from.
        old_log = (work / f"site-{lost_site}" / second.job.uid / "output.log").read_text(errors="replace")
        new_log = (work / f"site-{moved[0].job.site.name}" / moved[0].job.uid / "output.log").read_text(
            errors="replace")
        last_step = max(int(s) for s in re.findall(r"step=(\d+) loss", old_log))
        resumed = int(re.findall(r"resumed from checkpoint step=(\d+)", new_log)[0])
        assert "lease not renewed" in old_log, old_log[-2000:]
        lost = last_step - resumed
        assert 0 <= lost < every, (last_step, resumed, every)
        last_logged = max(datetime.fromisoformat(r["end"]) for r in
                          sacct_rows(clusters[lost_site], second.job.uid))
        print(f"lost site {lost_site}: its segment's last step {last_step}, the next segment resumed at step "
              f"{resumed} on {moved[0].job.site.name}: {lost} steps lost (checkpoint interval {every}); "
              f"agent killed at {datetime.fromtimestamp(killed_at):%H:%M:%S}, the old segment ended "
              f"{last_logged:%H:%M:%S} (its lease)")

        # Never two segments at once: by both clusters' accounting, each starts after the one before has ended.
        rows = []
        for s in all_segments:
            found = sacct_rows(slurm_cluster, s.job.uid) + sacct_rows(cluster_b, s.job.uid)
            assert len(found) == 1, (s.index, found)
            rows.append((s.index, found[0]))
        for (i, before), (j, after) in zip(rows, rows[1:], strict=False):
            assert datetime.fromisoformat(after["start"]) >= datetime.fromisoformat(before["end"]), (before, after)
        for index, row in rows:
            print(f"segment {index}: {row['cluster']} job {row['id']} {row['state']} exit {row['exit']} "
                  f"{row['start']} .. {row['end']}")
        assert Run.objects.get(pk=run.pk).steps_done >= steps
    finally:
        for agent in agents.values():
            agent.stop()
        relay.close()
        drop_account(slurm_cluster, on_a.account)
        drop_account(cluster_b, on_b.account)
