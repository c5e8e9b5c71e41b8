"""Real PyTorch training (CPU, gloo, two processes) in Slurm jobs written by `aifactory init`: on a test cluster
shaped like each site; the loss goes down, checkpoints are written and tokens/s logged; a run stopped by its time
limit resumes in the next job, and a run whose site is lost resumes on another cluster from the last checkpoint.

Needs PyTorch in its own environment (AIFACTORY_TORCH_PYTHON, default .venv-torch/bin/python: .ci/run installs it
with `pip install torch==2.13.0`); skipped without it, failed when AIFACTORY_REQUIRE_TORCH=1."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifactory.cli.main import main as aifactory
from aifactory.core.sites import SiteProfile, load_profiles, site_profile
from tests.slurm.conftest import SlurmCluster
from tests.slurm.profile_clusters import ProfileClusters, add_qos, profile_clusters  # noqa: F401
from tests.slurm.test_slurm_backend import drop_account

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[2]
PYTHON = os.environ.get("AIFACTORY_TORCH_PYTHON", str(ROOT / ".venv-torch" / "bin" / "python"))
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


@pytest.fixture(scope="module", autouse=True)
def _needs_torch() -> None:
    done = subprocess.run([PYTHON, "-c", "import torch"], capture_output=True, check=False) \
        if Path(PYTHON).exists() else None
    if done is None or done.returncode != 0:
        message = f"PyTorch is not importable by {PYTHON}: `python3 -m venv .venv-torch && .venv-torch/bin/pip " \
                  "install torch==2.13.0`"
        if os.environ.get("AIFACTORY_REQUIRE_TORCH") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def work() -> Iterator[Path]:
    """A folder of the test's own: pytest's numbered temporary folders are pruned by other pytest runs on the same
    machine, and Slurm jobs write here long after the test started."""
    path = Path(tempfile.mkdtemp(prefix="aif-train-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Site:
    def __init__(self, profile: SiteProfile, cluster: SlurmCluster, account: str) -> None:
        self.profile, self.cluster, self.account = profile, cluster, account

    def sbatch(self, run_dir: Path, *extra: str) -> str:
        env = {**self.cluster.env(), "AIF_PYTHON": PYTHON, "HOME": os.environ.get("HOME", "/root")}
        done = subprocess.run(["sbatch", "--parsable", f"--account={self.account}", *extra, "job.sbatch"],
                              cwd=run_dir, env=env, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().split(";")[0]

    def wait(self, job: str, timeout_s: float = 240) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = self.cluster.run("sacct", "-n", "-X", "-P", "-j", job, "-o", "State,ExitCode").strip()
            if out and out.split("|")[0].split(" ")[0] in TERMINAL:
                return out
            time.sleep(1)
        raise AssertionError(f"job {job} did not end within {timeout_s} s")

    def gone(self, job: str, timeout_s: float = 120) -> None:
        """Wait until the job is no longer completing: every process of it has ended."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=self.cluster.env(), capture_output=True,
                                  text=True, timeout=30, check=False)  # an error once the controller forgot the job
            if done.stdout.strip() not in ("COMPLETING", "RUNNING"):
                return
            time.sleep(1)
        raise AssertionError(f"job {job} still has processes after {timeout_s} s")


@pytest.fixture
def site_for(profile_clusters: ProfileClusters) -> Iterator:  # type: ignore[type-arg]  # noqa: F811
    made: list[Site] = []

    def make(key: str) -> Site:
        profile = site_profile(key)
        cluster = profile_clusters.get(profile)
        account = f"aiftrain-{secrets.token_hex(3)}"
        cluster.run("sacctmgr", "-i", "add", "account", account, f"cluster={cluster.name}")
        user = cluster.run("id", "-un").strip()
        cluster.run("sacctmgr", "-i", "add", "user", user, f"account={account}", f"cluster={cluster.name}")
        for queue in profile.queues:
            if queue.qos is not None:
                add_qos(cluster, account, user, queue.qos)
        for _ in range(50):  # slurmctld learns of the association from slurmdbd
            if account in cluster.run("scontrol", "show", "assoc_mgr", f"accounts={account}", "flags=assoc"):
                break
            time.sleep(0.2)
        site = Site(profile, cluster, account)
        made.append(site)
        return site

    yield make
    for site in made:
        drop_account(site.cluster, site.account)


def init(run_dir: Path, machine: str, *extra: str) -> None:
    argv = ["init", "--machine", machine, "--nodes", "1", "--model", "tiny", "--gpus-per-node", "2",
            "--micro-batch", "8", "--out", str(run_dir), "--checkpoint-dir", str(run_dir / "ckpt"), *extra]
    if machine == "lumi":
        argv += ["--account", "project_465000000"]
    assert aifactory(argv) == 0


def edit_run(run_dir: Path, **train: object) -> None:
    path = run_dir / "run.json"
    run = json.loads(path.read_text())
    run["train"].update(train)
    path.write_text(json.dumps(run))


def log_of(run_dir: Path, job: str) -> str:
    return (run_dir / f"train-{job}.log").read_text(errors="replace")


def losses(log: str) -> list[float]:
    return [float(x) for x in re.findall(r"step=\d+ loss=([0-9.]+)", log)]


@pytest.mark.parametrize("key", [p.key for p in load_profiles().profiles])
def test_init_script_trains_on_each_sites_cluster(key: str, site_for, work: Path) -> None:  # type: ignore[no-untyped-def]
    site = site_for(key)
    run_dir = work / "run"
    init(run_dir, key, "--steps", "20", "--checkpoint-every", "10")
    job = site.sbatch(run_dir)
    state = site.wait(job)
    log = log_of(run_dir, job)
    assert state.startswith("COMPLETED"), log[-3000:]
    assert "world=2" in log and "backend=gloo" in log
    assert re.search(r"tokens/s=[0-9,]+", log)
    assert "checkpoint step=20" in log and (run_dir / "ckpt" / "latest").read_text().strip() == "step-00000020.pt"
    seen = losses(log)
    assert seen[-1] < seen[0], seen


def test_a_run_longer_than_its_time_limit_resumes_in_the_next_job(site_for, work: Path) -> None:  # type: ignore[no-untyped-def]
    site = site_for("leonardo")
    run_dir = work / "run"
    init(run_dir, "leonardo", "--steps", "1000000", "--checkpoint-every", "1000000", "--time", "1")
    edit_run(run_dir, log_every=1)
    first = site.sbatch(run_dir)
    state = site.wait(first, timeout_s=150)
    log1 = log_of(run_dir, first)
    assert state.startswith("FAILED|3:0"), (state, log1[-2000:])  # stopped early, with a checkpoint: exit 3
    stopped = int(re.findall(r"stopping at step=(\d+)", log1)[-1])
    assert f"checkpoint step={stopped}" in log1 and "time limit near" in log1
    last_logged = max(int(s) for s in re.findall(r"step=(\d+) loss", log1))
    assert last_logged - stopped == 0  # nothing lost: the checkpoint is of the last step done
    edit_run(run_dir, steps=stopped + 30)
    second = site.sbatch(run_dir)
    assert site.wait(second).startswith("COMPLETED")
    log2 = log_of(run_dir, second)
    assert f"resumed from checkpoint step={stopped}" in log2 and f"done=True steps={stopped + 30}" in log2
    assert losses(log2)[-1] < losses(log1)[0]


def test_a_lost_site_resumes_on_another_from_the_last_checkpoint(site_for, work: Path) -> None:  # type: ignore[no-untyped-def]
    here, there = site_for("leonardo"), site_for("meluxina")
    run_dir = work / "run"  # run folder and checkpoints on a file system both clusters read
    init(run_dir, "leonardo", "--steps", "400", "--checkpoint-every", "20")
    edit_run(run_dir, log_every=1)
    first = here.sbatch(run_dir)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if (run_dir / f"train-{first}.log").exists() and "checkpoint step=40" in log_of(run_dir, first):
            break
        time.sleep(0.5)
    here.cluster.run("scancel", "--signal=KILL", "--full", first)  # the site is gone: no time to checkpoint
    here.wait(first)
    here.gone(first)  # cancelled at once in the accounting, but its processes may take a while to die
    log1 = log_of(run_dir, first)
    last_logged = max(int(s) for s in re.findall(r"step=(\d+) loss", log1))
    saved = int((run_dir / "ckpt" / "latest").read_text().strip()[5:13])
    lost = last_logged - saved
    assert 0 <= lost < 20, (last_logged, saved)  # at most one checkpoint interval
    print(f"lost site: last step logged {last_logged}, last checkpoint {saved}: {lost} steps lost")
    # The other site's profile renders its own script; the run folder and checkpoints carry over.
    init(run_dir, "meluxina", "--steps", "400", "--checkpoint-every", "20")
    second = there.sbatch(run_dir)
    assert there.wait(second, timeout_s=300).startswith("COMPLETED")
    log2 = log_of(run_dir, second)
    assert f"resumed from checkpoint step={saved}" in log2 and "done=True steps=400" in log2


def test_a_sharded_layout_trains_with_fsdp_on_cpu_and_resumes_exactly(site_for, work: Path) -> None:  # type: ignore[no-untyped-def]
    """zero_stage > 0 in the layout: FSDP2 over two gloo processes, a DCP checkpoint of each rank's shards; resuming
    from the earlier checkpoint repeats the same losses (model and AdamW state restored), and one process resumes
    from the two processes' shards."""
    site = site_for("leonardo")
    run_dir = work / "run"
    init(run_dir, "leonardo", "--steps", "16", "--checkpoint-every", "8")
    edit_run(run_dir, log_every=1)
    run = json.loads((run_dir / "run.json").read_text())
    run["layout"]["zero_stage"] = 3  # the tiny model fits unsharded; a large one is planned at stage 3
    (run_dir / "run.json").write_text(json.dumps(run))
    first = site.sbatch(run_dir)
    state = site.wait(first)
    log1 = log_of(run_dir, first)
    assert state.startswith("COMPLETED"), log1[-3000:]
    assert "world=2 device=cpu backend=gloo wrap=FSDP2 zero_stage=3" in log1
    seen = losses(log1)
    assert len(seen) == 16 and seen[-1] < seen[0], seen
    ckpt = run_dir / "ckpt"
    assert "checkpoint step=16" in log1 and (ckpt / "latest").read_text().strip() == "step-00000016.dcp"
    assert sorted(p.name for p in (ckpt / "step-00000016.dcp").iterdir()) == \
        [".metadata", "__0_0.distcp", "__1_0.distcp", "train.json"]

    # Back to step 8, as after a site lost there: the next job repeats steps 9-16 as they were.
    (ckpt / "latest").write_text("step-00000008.dcp\n")
    second = site.sbatch(run_dir)
    state = site.wait(second)
    log2 = log_of(run_dir, second)
    assert state.startswith("COMPLETED"), log2[-3000:]
    assert "wrap=FSDP2" in log2 and "resumed from checkpoint step=8" in log2 and "done=True steps=16" in log2
    again = losses(log2)
    assert len(again) == 8 and all(abs(a - b) <= 1e-3 for a, b in zip(again, seen[8:], strict=True)), (again, seen)

    # One process resumes from the two processes' shards (DCP reshards on load).
    edit_run(run_dir, steps=20)
    alone = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RANK", "WORLD_SIZE", "MASTER_"))}
    done = subprocess.run([PYTHON, "train.py", "--config", "run.json", "--checkpoint-dir", str(ckpt)], cwd=run_dir,
                          env=alone, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "world=1" in done.stdout and "resumed from checkpoint step=16" in done.stdout, done.stdout
    assert "done=True steps=20" in done.stdout and losses(done.stdout)[-1] < seen[0]
    assert (ckpt / "latest").read_text().strip() == "step-00000020.pt"
