"""Launch templates: the files that train a model on a machine, rendered from its site profile and the plan.

    run.json     the model, the training settings and the layout the planner chose (data, read by train.py)
    train.py     the training program (aifactory/launch/train.py, copied as it is: PyTorch, DDP or FSDP2)
    launch.sh    runs inside a Slurm allocation: the site's modules and variables, the rendezvous taken from Slurm
                 (MASTER_ADDR the job's first node, MASTER_PORT from the job id), the job's end time for train.py,
                 then one srun step: torchrun on each node (one task per node) or one task per GPU (the site's srun
                 convention), inside the site's container runtime when an image is given, with the run folder and
                 the checkpoint folder bound
    job.sbatch   `sbatch job.sbatch` at the site: the #SBATCH options from the profile (queue, GPU request, cores,
                 exclusive), nodes, time limit, the warning signal, then launch.sh
    job.yaml     the same as an aifactory job spec, for `aifactory submit` (the site's agent renders the options)

No text a user gives reaches shell code: the run's name and the account must match strict patterns, the image is
checked as in job specs, every value in launch.sh and job.sbatch is a shell-quoted word, and the model
configuration goes only into run.json. Checkpoints go to the site's scratch (`<scratch>/aifactory/<name>`, from the
profile) unless a folder is given; AIF_CHECKPOINT_DIR overrides it when the job runs.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobspec import check_image
from aifactory.core.sites import SiteProfile, sbatch_options
from aifactory.core.training import RunPlan

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
ACCOUNT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
PATH_RE = re.compile(r"^(?:/[A-Za-z0-9._+-]+)+/?$")
SIGNAL_WARNING_S = 120  # seconds before the time limit Slurm sends SIGUSR1 (--signal)
DEFAULT_STEPS = 1000


@dataclass(frozen=True)
class LaunchFiles:
    files: dict[str, str]
    checkpoint_dir: str
    warnings: tuple[str, ...]


def train_program() -> str:
    return resources.files("aifactory.launch").joinpath("train.py").read_text(encoding="utf-8")


def render_launch(
    profile: SiteProfile,
    plan: RunPlan,
    *,
    name: str,
    account: str | None = None,
    time_min: int = 60,
    image: str | None = None,
    checkpoint_dir: str | None = None,
    steps: int = DEFAULT_STEPS,
    micro_batch: int = 1,
    checkpoint_every: int = 100,
    checkpoint_seconds: int = 1800,
    data: str | None = None,
    launcher: str | None = None,
    run_dir: str | None = None,
) -> LaunchFiles:
    """The files of a training run (module doc). Raises InvalidInput naming the field for a bad value."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput("name", "must be 1-40 lower-case letters, digits or '-', starting with a letter")
    if account is not None and not ACCOUNT_RE.match(account):
        raise InvalidInput("account", "must be letters, digits, '_' or '-', starting with a letter")
    if isinstance(time_min, bool) or not isinstance(time_min, int) or not 1 <= time_min <= 30 * 24 * 60:
        raise InvalidInput("time", "must be 1 minute to 30 days")
    for field, value, low, high in (("steps", steps, 1, 10**9), ("micro_batch", micro_batch, 1, 4096),
                                    ("checkpoint_every", checkpoint_every, 1, 10**9),
                                    ("checkpoint_seconds", checkpoint_seconds, 10, 10**7)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(field, f"must be a whole number from {low} to {high:,}")
    if image:
        check_image(image)
    for field, path in (("checkpoint_dir", checkpoint_dir), ("data", data), ("run_dir", run_dir)):
        if path is not None and not PATH_RE.match(path):
            raise InvalidInput(field, "must be an absolute path of letters, digits, '.', '_', '+', '-' and '/'")
    launcher = launcher or profile.launcher or "torchrun"
    if launcher not in ("srun", "torchrun"):
        raise InvalidInput("launcher", "must be srun or torchrun")
    if plan.layout is None:
        raise InvalidInput("nodes", "the plan found no layout that fits: " + " ".join(plan.reasons))
    warnings: list[str] = []
    q = shlex.quote
    # Where checkpoints go: given, else the site's scratch, else the run's own folder (said as a warning).
    ckpt_shell: str
    if checkpoint_dir is not None:
        ckpt_shell, ckpt_text = q(checkpoint_dir), checkpoint_dir
    elif profile.scratch is not None and profile.scratch.startswith("$"):
        ckpt_shell = f'"${{{profile.scratch[1:]}}}"/aifactory/{name}'
        ckpt_text = f"{profile.scratch}/aifactory/{name}"
    elif profile.scratch is not None:
        if "{account}" in profile.scratch and account is None:
            raise InvalidInput("account", f"{profile.name}'s scratch is per project ({profile.scratch}): give the "
                                          "account")
        ckpt_text = profile.scratch.replace("{account}", account or "") + f"/aifactory/{name}"
        ckpt_shell = q(ckpt_text)
    else:
        ckpt_shell, ckpt_text = '"$AIF_RUN_DIR"/checkpoints', "<run folder>/checkpoints"
        warnings.append(f"{profile.name}'s scratch is not known: checkpoints go to the run's folder; give "
                        "--checkpoint-dir for a file system the compute nodes share")
    if image and profile.container_runtime is None:
        warnings.append(f"{profile.name}'s container runtime is not known: launch.sh uses apptainer")
    gpn = plan.gpus_per_node
    run = {
        "name": name,
        "machine": plan.machine,
        "nodes": plan.nodes,
        "gpus_per_node": gpn,
        "model": plan.shape.to_dict(),
        "layout": plan.layout.to_dict(),
        "plan": {"tokens_per_s": plan.tokens_per_s, "step_s": plan.step_s, "mfu": plan.mfu,
                 "memory_per_gpu_gb": None if plan.memory is None else plan.memory.total_gb},
        "train": {"steps": steps, "micro_batch": micro_batch, "lr": 3e-3, "checkpoint_every": checkpoint_every,
                  "checkpoint_seconds": checkpoint_seconds, "log_every": 10, "seed": 0, "data": data},
        "checkpoint_dir": ckpt_text,
    }
    options = sbatch_options(profile, nodes=plan.nodes, gpus_per_node=gpn, time_min=time_min)
    ntasks = gpn if launcher == "srun" else 1
    header = ["#!/bin/bash", f"# Training run {name} on {profile.name}: rendered by `aifactory init` from the site "
              f"profile {profile.key} and the plan.",
              f"#SBATCH --job-name=aif-train-{name}", f"#SBATCH --nodes={plan.nodes}",
              f"#SBATCH --ntasks-per-node={ntasks}", f"#SBATCH --time={time_min}", "#SBATCH --output=train-%j.log"]
    if launcher == "srun":  # the tasks are train.py itself, which checkpoints on the warning; torchrun would die of it
        header.append(f"#SBATCH --signal=USR1@{SIGNAL_WARNING_S}")
    if account is not None:
        header.append(f"#SBATCH --account={account}")
    header += [f"#SBATCH {option}" for option in options]
    sbatch = "\n".join(header + [
        "",
        "# The run's folder is where this script was submitted from (Slurm copies the script itself elsewhere).",
        'export AIF_RUN_DIR="${AIF_RUN_DIR:-$SLURM_SUBMIT_DIR}"',
        'exec bash "$AIF_RUN_DIR"/launch.sh',
    ]) + "\n"
    runtime = profile.container_runtime or "apptainer"
    lines = [
        "#!/bin/bash",
        f"# Launch of run {name} inside a Slurm allocation ({profile.name}, {plan.nodes} node(s) x {gpn} GPUs;",
        f"# layout: TP {plan.layout.tp}, PP {plan.layout.pp}, DP {plan.layout.dp}, {plan.layout.sharding}).",
        "set -euo pipefail",
        'AIF_RUN_DIR="${AIF_RUN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"',
        "export AIF_RUN_DIR",
    ]
    if profile.setup:
        lines += ["if type module >/dev/null 2>&1; then", *[f"  {line}" for line in profile.setup],
                  f"else echo {q('aifactory: no module command here; skipped the ' + profile.key + ' setup')} >&2",
                  "fi"]
    lines += [f"export {key}={q(value)}" for key, value in profile.env.items()]
    lines += [
        "# Rendezvous from Slurm: the job's first node (its address as Slurm reaches it), a port from the job id.",
        'AIF_FIRST_NODE="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
        'MASTER_ADDR="$(scontrol show node "$AIF_FIRST_NODE" -o | tr \' \' \'\\n\' | sed -n \'s/^NodeAddr=//p\')"',
        'MASTER_ADDR="${MASTER_ADDR:-$AIF_FIRST_NODE}"',
        'MASTER_PORT="$((30000 + SLURM_JOB_ID % 2000))"',
        "export MASTER_ADDR MASTER_PORT",
        "# The job's end, for train.py to checkpoint before the time limit.",
        'AIF_DEADLINE="$(squeue -h -j "$SLURM_JOB_ID" -o %e | xargs -I{} date -d {} +%s 2>/dev/null || echo 0)"',
        "export AIF_DEADLINE",
        f'AIF_CHECKPOINT_DIR="${{AIF_CHECKPOINT_DIR:-{ckpt_shell}}}"',
        'mkdir -p "$AIF_CHECKPOINT_DIR"',
        "export AIF_CHECKPOINT_DIR",
        'PY="${AIF_PYTHON:-python3}"',
    ]
    prefix = ""
    if image:
        flag = f"{profile.container_gpu_flag} " if profile.container_gpu_flag else ""
        prefix = (f'{q(runtime)} exec {flag}--bind "$AIF_RUN_DIR" --bind "$AIF_CHECKPOINT_DIR" '
                  f"--pwd \"$AIF_RUN_DIR\" {q(image)} ")
    train = 'train.py --config "$AIF_RUN_DIR"/run.json --checkpoint-dir "$AIF_CHECKPOINT_DIR"'
    if launcher == "torchrun":
        lines += [
            f"# torchrun on each node, {gpn} processes each; c10d rendezvous at the first node.",
            f'srun --ntasks-per-node=1 --nodes="$SLURM_NNODES" --kill-on-bad-exit=1 {prefix}"$PY" -m '
            f'torch.distributed.run --nnodes="$SLURM_NNODES" --nproc-per-node={gpn} --rdzv-backend=c10d '
            f'--rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT" --rdzv-id="$SLURM_JOB_ID" "$AIF_RUN_DIR"/{train}',
        ]
    else:
        lines += [
            f"# One task per GPU ({gpn} per node); train.py takes RANK from SLURM_PROCID, LOCAL_RANK from "
            "SLURM_LOCALID.",
            f'srun --ntasks-per-node={gpn} --nodes="$SLURM_NNODES" --kill-on-bad-exit=1 {prefix}"$PY" '
            f'"$AIF_RUN_DIR"/{train}',
        ]
    lines[-1] += " || status=$?"
    lines[-2:-2] = ["status=0"]
    lines += [
        "# Stopped before the time limit with a checkpoint: exit 3, so the next segment resumes from it.",
        'if [ "$status" -ne 0 ] && [ -e "$AIF_CHECKPOINT_DIR"/stopped ]; then',
        "  echo 'aifactory: stopped early with a checkpoint; the next job resumes from it' >&2",
        "  exit 3",
        "fi",
        'exit "$status"',
    ]
    launch = "\n".join(lines) + "\n"
    spec = {
        "name": f"train-{name}",
        "resources": {"gpu": plan.gpu_model or "any", "gpus_per_node": gpn, "nodes": plan.nodes,
                      "time_limit": f"{time_min}m"},
        "commands": ["export AIF_RUN_DIR=\"$AIF_TRAIN_DIR\"", "bash \"$AIF_TRAIN_DIR\"/launch.sh"],
        "env": {"AIF_TRAIN_DIR": run_dir or "/path/of/the/run/folder/at/the/site"},
    }
    if image:
        spec["image"] = image
    return LaunchFiles(
        files={"run.json": json.dumps(run, indent=2) + "\n", "train.py": train_program(), "launch.sh": launch,
               "job.sbatch": sbatch, "job.yaml": _yaml(spec)},
        checkpoint_dir=ckpt_text,
        warnings=tuple(warnings),
    )


def _yaml(spec: dict[str, Any]) -> str:
    head = ("# aifactory job spec for this run: the run folder must be at AIF_TRAIN_DIR at the site; then\n"
            "# `aifactory submit job.yaml`. The site's agent renders the Slurm options from its profile.\n")
    return head + yaml.safe_dump(spec, sort_keys=False)
