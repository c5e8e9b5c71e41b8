"""The Slurm backend and the agent command with a site profile: options and batch script rendered from it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from aifactory.agent.base import BackendError, BatchJob
from aifactory.agent.slurm import SlurmBackend, batch_script
from aifactory.cli.agent import make_backend
from aifactory.cli.main import build_parser
from aifactory.core.sites import site_profile
from tests.agent.test_slurm_parsing import UID, FakeSlurm, by_tool


def job(**kw: object) -> BatchJob:
    fields: dict[str, object] = {"uid": UID, "name": "n", "account": "acme", "gpus": 8, "time_limit_s": 3600,
                                 "script": "echo hi\n"}
    fields.update(kw)
    return BatchJob(**fields)  # type: ignore[arg-type]


def sbatch(tmp_path: Path, profile: str, **kw: object) -> list[str]:
    fake = FakeSlurm(by_tool(sbatch="5\n"))
    b = SlurmBackend(cluster="aif-a", slurm_conf=None, workdir=tmp_path, user="alice", runner=fake,
                     profile=site_profile(profile), **kw)  # type: ignore[arg-type]
    b.submit(job(gpus=16, nodes=2))
    [argv] = fake.commands("sbatch")
    return argv


def test_lumi_options(tmp_path: Path) -> None:
    argv = sbatch(tmp_path, "lumi")
    assert argv[-5:-1] == ["--partition=standard-g", "--gpus-per-node=8", "--cpus-per-gpu=7", "--exclusive"]
    assert not any(a.startswith("--gres") for a in argv)


def test_explicit_partition_wins(tmp_path: Path) -> None:
    argv = sbatch(tmp_path, "lumi", partition="dev-g")
    assert "--partition=dev-g" in argv and "--partition=standard-g" not in argv


def test_refused_before_sbatch(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(sbatch="5\n"))
    b = SlurmBackend(cluster="aif-a", slurm_conf=None, workdir=tmp_path, user="alice", runner=fake,
                     profile=site_profile("leonardo"))
    with pytest.raises(BackendError, match="node has 4"):
        b.submit(job(gpus=8))
    assert not fake.commands("sbatch")


def test_batch_script_runs_the_site_setup_and_quotes_it(tmp_path: Path) -> None:
    text = batch_script(job(image="docker://x/y:1"), tmp_path, "singularity", site_profile("marenostrum5"))
    assert "if type module >/dev/null 2>&1; then\n  module load singularity\n" in text
    assert "export NCCL_IB_HCA=mlx5" in text
    assert "singularity exec --nv --bind" in text
    assert "module" not in batch_script(job(), tmp_path, "apptainer", None)


def agent_args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["agent", "--site", "lumi", "--backend", "slurm", "--cluster", "aif-a", *extra])


def test_agent_takes_a_profile(tmp_path: Path) -> None:
    backend = make_backend(agent_args("--profile", "lumi", "--workdir", str(tmp_path)))
    assert isinstance(backend, SlurmBackend)
    assert backend.profile is not None and backend.profile.key == "lumi"
    assert backend.container_runtime == "singularity"
    plain = make_backend(agent_args("--workdir", str(tmp_path)))
    assert isinstance(plain, SlurmBackend) and plain.profile is None and plain.container_runtime == "apptainer"


def test_agent_refuses_an_unknown_profile(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown site profile"):
        make_backend(agent_args("--profile", "nowhere", "--workdir", str(tmp_path)))
