"""`aifactory init`: write a training run for a machine: run.json, train.py, launch.sh, job.sbatch and job.yaml."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aifactory.cli.plan import read_model_config
from aifactory.core.exceptions import InvalidInput
from aifactory.core.launch import DEFAULT_STEPS, render_launch
from aifactory.core.sites import load_profiles
from aifactory.core.training import ModelShape, plan_run, shape_for_params, shape_from_config

SIZES = {"tiny": 2e6, "125m": 1.25e8, "350m": 3.5e8, "1b": 1e9, "3b": 3e9, "7b": 7e9, "13b": 1.3e10, "34b": 3.4e10,
         "70b": 7e10, "175b": 1.75e11}
TINY = {"layers": 2, "hidden": 64, "heads": 4, "seq_len": 32, "vocab": 64}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "init", help="write a training run (job spec, launch script, training program) for a machine",
        description="Plan the run on the machine's nodes and write, into --out: run.json (model, training, layout), "
        "train.py (PyTorch, DDP or FSDP2), launch.sh (site modules, Slurm rendezvous, srun + torchrun, container), "
        "job.sbatch (the site profile's Slurm options) and job.yaml (an aifactory job spec).")
    p.add_argument("--machine", required=True, help="catalog machine with a site profile, e.g. leonardo")
    p.add_argument("--nodes", type=int, required=True, help="nodes of the machine")
    p.add_argument("--model", required=True,
                   help=f"a model configuration JSON file, or a size: {', '.join(SIZES)}")
    p.add_argument("--tokens", type=float, default=None, help="training tokens (default: steps x batch)")
    p.add_argument("--name", default="run", help="the run's name: lower-case letters, digits, '-' (default run)")
    p.add_argument("--account", help="the project's account at the site")
    p.add_argument("--time", type=int, default=60, help="time limit of one job, minutes (default 60)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"optimizer steps (default {DEFAULT_STEPS})")
    p.add_argument("--micro-batch", type=int, default=1, help="sequences per process per step (default 1)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints (default 100)")
    p.add_argument("--checkpoint-seconds", type=int, default=1800, help="seconds between checkpoints (default 1800)")
    p.add_argument("--checkpoint-dir", help="absolute folder for checkpoints (default: the site's scratch)")
    p.add_argument("--image", help="container image (Apptainer/Singularity): a URI or an absolute .sif path")
    p.add_argument("--data", help="absolute path of a file of uint16 tokens (default: a synthetic corpus)")
    p.add_argument("--gpus-per-node", type=int, help="processes (GPUs) per node, fewer than a node has")
    p.add_argument("--launcher", choices=("srun", "torchrun"), help="default: the site's convention, else torchrun")
    p.add_argument("--out", type=Path, default=Path("train-run"), help="folder to write (default ./train-run)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def model_shape(model: str) -> ModelShape:
    key = model.strip().lower()
    if key == "tiny":
        return ModelShape(**TINY)  # type: ignore[arg-type]
    if key in SIZES:
        return shape_for_params(SIZES[key])
    path = Path(model)
    if not path.suffix == ".json" and not path.exists():
        raise InvalidInput("model", f"{model!r} is neither a JSON file nor a size ({', '.join(SIZES)})")
    return shape_from_config(read_model_config(path))


def run(args: argparse.Namespace) -> int:
    try:
        profile = next((p for p in load_profiles().profiles if p.machine == args.machine or p.key == args.machine),
                       None)
        if profile is None:
            raise InvalidInput("machine", f"no site profile for {args.machine!r} (known: "
                                          f"{', '.join(load_profiles().keys())})")
        shape = model_shape(args.model)
        out = args.out.absolute()
        world = args.nodes * (args.gpus_per_node or profile.gpus_per_node)
        tokens = args.tokens or float(args.steps * args.micro_batch * shape.seq_len * world)
        plan = plan_run(machine=profile.machine, nodes=args.nodes, tokens=tokens, shape=shape,
                        gpus_per_node=args.gpus_per_node,
                        batch_tokens=max(shape.seq_len, args.micro_batch * shape.seq_len * world))
        files = render_launch(profile, plan, name=args.name, account=args.account, time_min=args.time,
                              image=args.image, checkpoint_dir=args.checkpoint_dir, steps=args.steps,
                              micro_batch=args.micro_batch, checkpoint_every=args.checkpoint_every,
                              checkpoint_seconds=args.checkpoint_seconds, data=args.data, launcher=args.launcher,
                              run_dir=str(out))
    except InvalidInput as exc:
        print(f"aifactory init: error: --{exc.field.replace('_', '-')}: "
              f"{exc.message.removeprefix(exc.field + ': ')}", file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.files.items():
            target = out / name
            target.write_text(text, encoding="utf-8")
            if name.endswith(".sh") or name.endswith(".sbatch"):
                target.chmod(0o755)
    except OSError as exc:
        print(f"aifactory init: error: cannot write {out}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"out": str(out), "files": sorted(files.files), "checkpoint_dir": files.checkpoint_dir,
                          "warnings": list(files.warnings), "plan": plan.to_dict()}, indent=2))
        return 0
    layout = plan.layout
    if layout is None:  # render_launch refuses a plan without one
        return 1
    print(f"Wrote {', '.join(sorted(files.files))} to {out}")
    print(f"{plan.machine_name}: {plan.nodes} node(s) x {plan.gpus_per_node} GPUs; layout TP {layout.tp}, PP "
          f"{layout.pp}, DP {layout.dp}, {layout.sharding}; {shape.params() / 1e6:,.1f}M parameters.")
    print(f"Checkpoints: {files.checkpoint_dir}")
    for warning in files.warnings:
        print(f"warning: {warning}")
    print(f"At the site: cd {out} && sbatch job.sbatch   (or `aifactory submit job.yaml` through the portal)")
    return 0
