"""Launch templates rendered from each site profile and the plan: the site's options, the rendezvous from Slurm,
the container, checkpoints on scratch, and no user text in shell code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aifactory.core.exceptions import InvalidInput
from aifactory.core.launch import render_launch
from aifactory.core.sites import load_profiles, site_profile
from aifactory.core.training import ModelShape, plan_run

TINY = ModelShape(layers=2, hidden=64, heads=4, seq_len=32, vocab=64)


def plan(machine: str, nodes: int = 2, gpus_per_node: int | None = None):  # type: ignore[no-untyped-def]
    return plan_run(machine=machine, nodes=nodes, tokens=1e7, shape=TINY, gpus_per_node=gpus_per_node)


@pytest.mark.parametrize("profile", load_profiles().profiles, ids=lambda p: p.key)
def test_every_profile_renders_valid_scripts(profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = render_launch(profile, plan(profile.machine), name="demo", account="project_1", time_min=90,
                          checkpoint_dir="/scratch/x/ckpt")
    assert set(files.files) == {"run.json", "train.py", "launch.sh", "job.sbatch", "job.yaml"}
    for name in ("launch.sh", "job.sbatch"):
        (tmp_path / name).write_text(files.files[name])
        subprocess.run(["bash", "-n", str(tmp_path / name)], check=True)
    sbatch = files.files["job.sbatch"]
    assert "#SBATCH --nodes=2" in sbatch and "#SBATCH --time=90" in sbatch
    # The warning signal only where the tasks are train.py itself (srun); torchrun would die of it.
    assert ("#SBATCH --signal=USR1@120" in sbatch) == (profile.launcher == "srun")
    if profile.default_partition:
        assert f"#SBATCH --partition={profile.default_partition}" in sbatch
    launch = files.files["launch.sh"]
    assert "scontrol show hostnames" in launch and "MASTER_PORT" in launch
    run = json.loads(files.files["run.json"])
    assert run["layout"]["tensor_parallel"] * run["layout"]["pipeline_parallel"] * run["layout"]["data_parallel"] \
        == 2 * profile.gpus_per_node
    assert run["checkpoint_dir"] == "/scratch/x/ckpt"


def test_site_conventions() -> None:
    lumi = render_launch(site_profile("lumi"), plan("lumi"), name="r", account="project_465000000",
                         image="/appl/local/laifs/containers/torch.sif")
    assert "#SBATCH --gpus-per-node=8" in lumi.files["job.sbatch"] and "#SBATCH --exclusive" in lumi.files["job.sbatch"]
    assert "#SBATCH --ntasks-per-node=8" in lumi.files["job.sbatch"]  # srun: one task per GCD
    assert "srun --ntasks-per-node=8" in lumi.files["launch.sh"]
    assert "singularity exec --bind" in lumi.files["launch.sh"]
    assert "module load lumi-aif-singularity-bindings" in lumi.files["launch.sh"]
    assert "export NCCL_SOCKET_IFNAME=hsn" in lumi.files["launch.sh"]
    assert lumi.checkpoint_dir == "/scratch/project_465000000/aifactory/r"
    leonardo = render_launch(site_profile("leonardo"), plan("leonardo"), name="r")
    launch = leonardo.files["launch.sh"]
    assert "torch.distributed.run" in launch and "--rdzv-backend=c10d" in launch
    assert '"${CINECA_SCRATCH}"/aifactory/r' in leonardo.files["launch.sh"]
    mn5 = render_launch(site_profile("marenostrum5"), plan("marenostrum5"), name="r", image="docker://nvcr.io/x:1")
    assert "singularity exec --nv" in mn5.files["launch.sh"]
    vega = render_launch(site_profile("vega"), plan("vega"), name="r", image="docker://x/y:1")
    assert any("scratch is not known" in w for w in vega.warnings)
    assert any("container runtime is not known" in w for w in vega.warnings)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "x; rm -rf /"}, "name"),
        ({"name": "$(id)"}, "name"),
        ({"account": "a b"}, "account"),
        ({"account": "`id`"}, "account"),
        ({"image": "docker://x/y:1 ; id"}, "image"),
        ({"checkpoint_dir": "/scratch/$(id)"}, "checkpoint_dir"),
        ({"data": "relative/path"}, "data"),
        ({"time_min": 0}, "time"),
        ({"steps": 0}, "steps"),
        ({"launcher": "mpirun"}, "launcher"),
    ],
)
def test_user_text_never_reaches_shell_code(change, field) -> None:  # type: ignore[no-untyped-def]
    kwargs = {"name": "ok", **change}
    with pytest.raises(InvalidInput) as caught:
        render_launch(site_profile("leonardo"), plan("leonardo"), **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_plan_without_layout_or_a_per_project_scratch_without_account_is_refused() -> None:
    big = plan_run(machine="karolina", nodes=1, tokens=1e12, params=175e9)
    with pytest.raises(InvalidInput, match="no layout"):
        render_launch(site_profile("karolina"), big, name="big")
    with pytest.raises(InvalidInput, match="give the account"):
        render_launch(site_profile("lumi"), plan("lumi"), name="r")
