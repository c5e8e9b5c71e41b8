"""`aifactory plan`: GPU-hours, wall time and memory of a training run on each GPU machine of the federation."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from aifactory.cli.catalog import number, table
from aifactory.core.catalog import GPU_MODELS
from aifactory.core.exceptions import CoreError, InvalidInput
from aifactory.core.planner import (
    DEFAULT_GPUS,
    DEFAULT_MFU,
    MAX_GPUS,
    MachineEstimate,
    Sharding,
    TrainingPlan,
    plan_training,
)
from aifactory.core.published import comparisons, markdown_table
from aifactory.core.training import (
    MAX_CONFIG_BYTES,
    ModelShape,
    RunPlan,
    plan_run,
    shape_for_params,
    shape_from_config,
)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "plan",
        help="estimate GPU-hours, wall time and memory of a training run",
        description="Estimate a training run on every GPU machine of the federation: compute 6 x params x tokens "
        "FLOP (or --flops), GPU-hours at the given MFU of each GPU's peak dense BF16, wall time on --gpus GPUs, "
        "and memory of the model states for mixed-precision Adam (16 bytes per parameter, activations excluded).",
    )
    parser.add_argument("--params", type=_positive, help="model parameters, e.g. 7e9 (a standard shape is taken "
                        "with --machine; or give --model or --layers/--hidden/--heads)")
    parser.add_argument("--tokens", type=_positive, help="training tokens, e.g. 2e12")
    parser.add_argument("--gpu", type=str, help=f"only machines with this GPU model ({', '.join(GPU_MODELS)})")
    parser.add_argument("--gpus", type=_gpus, default=DEFAULT_GPUS, help=f"GPUs for the run (default {DEFAULT_GPUS})")
    parser.add_argument(
        "--mfu", type=_fraction, default=DEFAULT_MFU, help=f"model FLOPs utilisation (default {DEFAULT_MFU})"
    )
    parser.add_argument("--flops", type=_positive, help="training compute in FLOP, instead of 6 x params x tokens")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    run_group = parser.add_argument_group(
        "a run on one machine", "with --machine and --nodes: FLOPs with attention, the parallel layout, memory per "
        "GPU with activations, the MFU prior of the GPU family, step time, tokens/s, wall time, GPU-hours, queue "
        "limits and the allocation (see docs/training.md)")
    run_group.add_argument("--machine", help="catalog machine, e.g. leonardo")
    run_group.add_argument("--nodes", type=_count, help="nodes of the machine")
    run_group.add_argument("--model", type=Path, help="model configuration JSON (aifactory's or a Hugging Face "
                           "config.json)")
    for name, helptext in (("layers", "layers"), ("hidden", "hidden size"), ("heads", "attention heads"),
                           ("kv-heads", "key/value heads (grouped-query attention)"),
                           ("ffn", "feed-forward hidden size (default 4 x hidden)"), ("seq-len", "sequence length"),
                           ("vocab", "vocabulary size"), ("batch-tokens", "tokens per optimizer step")):
        run_group.add_argument(f"--{name}", type=_count, help=helptext)
    run_group.add_argument("--glu", action="store_true", help="gated (SwiGLU) MLP")
    run_group.add_argument("--allocation", type=_positive, help="GPU-hours of the allocation, to check the run fits")
    parser.add_argument("--published", action="store_true",
                        help="compare the planner with published training runs (GPU-hours and hardware stated)")
    parser.set_defaults(func=run, plan_parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.published:
        if args.json:
            print(json.dumps([c.to_dict() for c in comparisons()], indent=2))
        else:
            print(markdown_table())
        return 0
    if args.machine or args.nodes:
        return run_machine(args)
    missing = [f"--{name}" for name in ("params", "tokens") if getattr(args, name) is None]
    if missing:  # as argparse says it; both are optional only with --machine
        args.plan_parser.error(f"the following arguments are required: {', '.join(missing)}")
    try:
        plan = plan_training(args.params, args.tokens, gpus=args.gpus, mfu=args.mfu, gpu=args.gpu, flops=args.flops)
    except InvalidInput as exc:
        print(f"aifactory plan: error: --{exc.field}: {exc.message.removeprefix(exc.field + ': ')}", file=sys.stderr)
        return 2
    except CoreError as exc:
        print(f"aifactory plan: error: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(render(plan))
    return 0


def shape_of(args: argparse.Namespace) -> ModelShape | None:
    """The model's shape from --model, or from --layers/--hidden/--heads; None when only --params is given."""
    seq = {"seq_len": args.seq_len} if args.seq_len else {}
    vocab = {"vocab": args.vocab} if args.vocab else {}
    if args.model is not None:
        data = read_model_config(args.model)
        data = {**data, **seq, **vocab}
        return shape_from_config(data)
    if args.layers or args.hidden or args.heads:
        if not (args.layers and args.hidden and args.heads):
            raise InvalidInput("layers", "give --layers, --hidden and --heads together")
        return ModelShape(layers=args.layers, hidden=args.hidden, heads=args.heads, kv_heads=args.kv_heads,
                          ffn_hidden=args.ffn, glu=args.glu, **seq, **vocab)
    if args.params is None:
        raise InvalidInput("params", "give --params, --model, or --layers/--hidden/--heads")
    return shape_for_params(args.params, **seq, **vocab)


def read_model_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise InvalidInput("model", f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InvalidInput("model", f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("model", f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("model", f"{path} must hold a JSON object")
    return data


def run_machine(args: argparse.Namespace) -> int:
    try:
        if not args.machine or not args.nodes:
            raise InvalidInput("machine", "give --machine and --nodes together")
        if args.tokens is None:
            raise InvalidInput("tokens", "give the training tokens")
        shape = shape_of(args)
        extra: dict[str, Any] = {"batch_tokens": args.batch_tokens} if args.batch_tokens else {}
        plan = plan_run(machine=args.machine, nodes=args.nodes, tokens=args.tokens, shape=shape,
                        allocation_gpu_hours=args.allocation, mfu=args.mfu if args.mfu != DEFAULT_MFU else None,
                        **extra)
    except InvalidInput as exc:
        print(f"aifactory plan: error: --{exc.field.replace('_', '-')}: "
              f"{exc.message.removeprefix(exc.field + ': ')}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(render_run(plan))
    return 0 if plan.feasible else 1


def render_run(plan: RunPlan) -> str:
    s = plan.shape
    lines = [
        f"{plan.machine_name}: {plan.nodes:,} nodes x {plan.gpus_per_node} {plan.gpu_model} = {plan.gpus:,} GPUs.",
        f"Model: {s.layers} layers, hidden {s.hidden}, {s.heads} heads ({s.kv} key/value), FFN {s.ffn}"
        f"{' gated' if s.glu else ''}, sequence {s.seq_len}, vocabulary {s.vocab:,}: {s.params() / 1e9:,.2f}B "
        "parameters.",
        f"Compute: {plan.flops_per_token:.3g} FLOP per token ({plan.attention_share:.1%} attention) x "
        f"{plan.tokens:.3g} tokens = {plan.flops:.3g} FLOP.",
    ]
    if plan.layout is not None and plan.memory is not None:
        lay, mem = plan.layout, plan.memory
        lines += [
            f"Layout: tensor parallel {lay.tp} (within a node), pipeline parallel {lay.pp} (across nodes), data "
            f"parallel {lay.dp} with {lay.sharding}; recomputation {lay.recompute.value}; {lay.micro_batches} "
            f"micro-batch(es) of {lay.micro_batch} per step.",
            f"Memory per GPU: weights {mem.weights_gb:,.2f} GB, gradients {mem.gradients_gb:,.2f} GB, optimizer "
            f"{mem.optimizer_gb:,.2f} GB, activations {mem.activations_gb:,.2f} GB = {mem.total_gb:,.2f} GB of "
            f"{plan.memory_limit_gb:,.1f} usable.",
            f"  activations with no / selective / full recomputation: {mem.activations_no_recompute_gb:,.2f} / "
            f"{mem.activations_selective_gb:,.2f} / {mem.activations_full_gb:,.2f} GB (Korthikanti et al. 2022).",
        ]
    if plan.mfu_prior is not None:
        lines.append(f"MFU prior {plan.mfu_prior.value:.2f}: {plan.mfu_prior.source}.")
    if plan.mfu is not None and plan.step_s is not None and plan.tokens_per_s is not None:
        lines.append(f"With this layout's overheads MFU {plan.mfu:.3f}: step {plan.step_s:,.2f} s, "
                     f"{plan.tokens_per_s:,.0f} tokens/s.")
    if plan.wall_hours is not None and plan.gpu_hours is not None:
        billed = f"; billed {plan.billed:,.0f} {plan.billed_unit}" if plan.billed is not None else ""
        lines.append(f"Wall time {plan.wall_hours:,.1f} h ({plan.wall_hours / 24:,.1f} days), "
                     f"{plan.gpu_hours:,.0f} GPU-hours{billed}.")
    if plan.fits_allocation is not None:
        lines.append(f"Allocation: {'fits' if plan.fits_allocation else 'does NOT fit'} in "
                     f"{plan.allocation_gpu_hours:,.0f} GPU-hours.")
    lines.append(f"Can run on {plan.machine_name}: {'yes' if plan.can_run else 'NO'}"
                 + ("" if plan.fits_allocation is None else
                    f"; within the allocation: {'yes' if plan.fits_allocation else 'NO'}") + ".")
    lines += [f"  - {reason}" for reason in plan.reasons]
    return "\n".join(lines)


def render(plan: TrainingPlan) -> str:
    origin = "given" if plan.flops_given else "6 x params x tokens"
    lines = [
        f"Training {plan.params:.3g} parameters on {plan.tokens:.3g} tokens: {plan.flops:.3g} FLOP ({origin}), "
        f"MFU {plan.mfu:g}, {plan.gpus:,} GPUs.",
        f"Model states (bf16 weights and gradients, fp32 Adam states: {plan.bytes_per_param} B per parameter, "
        "activations excluded):",
        f"  unsharded {plan.memory_unsharded_gb:,.1f} GB per GPU; fully sharded (ZeRO-3/FSDP) over {plan.gpus:,} "
        f"GPUs {plan.memory_sharded_gb:,.2f} GB per GPU.",
    ]
    if plan.systemic_risk:
        lines.append(
            "SYSTEMIC RISK: above 10^25 FLOP, a general-purpose model is presumed to have systemic risk (AI Act "
            "Art. 51); the provider must notify the Commission within two weeks (Art. 52)."
        )
    else:
        lines.append("Below the AI Act's 10^25 FLOP presumption of systemic risk.")
    lines.append("")
    if not plan.estimates:
        lines.append(f"No machine of the catalog has known {plan.gpu} GPUs.")
        return "\n".join(lines)
    header = [
        "machine",
        "GPU",
        "TFLOP/s",
        "GPU-hours",
        "wall h",
        "wall days",
        "GB/GPU",
        "need unsharded",
        "need sharded",
        "fits",
        "usable",
    ]
    unsharded = f"{plan.memory_unsharded_gb:,.1f}"
    sharded = f"{plan.memory_sharded_gb:,.2f}"
    rows = [
        [
            e.machine,
            e.gpu_model,
            _cell(number(e.peak_bf16_tflops)),
            _cell(None if e.gpu_hours is None else f"{e.gpu_hours:,.0f}"),
            _cell(None if e.wall_hours is None else f"{e.wall_hours:,.1f}"),
            _cell(None if e.wall_days is None else f"{e.wall_days:,.1f}"),
            _cell(number(e.gpu_memory_gb)),
            unsharded,
            sharded,
            _fits(e),
            "yes" if e.usable else "no",
        ]
        for e in plan.estimates
    ]
    lines.append(table(header, rows, right={2, 3, 4, 5, 6, 7, 8}))
    notes = [f"{e.machine}: {reason}" for e in plan.estimates for reason in e.reasons]
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)


def _fits(estimate: MachineEstimate) -> str:
    """'unsharded', 'sharded' (fully, ZeRO-3/FSDP), 'no', or '?' when the GPU memory is unknown."""
    if estimate.fits is None:
        return "?"
    if estimate.sharding is Sharding.NONE:
        return "unsharded"
    if estimate.sharding is Sharding.FULL:
        return "sharded"
    return "no"


def _cell(text: str | None) -> str:
    return "?" if text is None else text


def _number(text: str) -> float:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (write e.g. 7e9)") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0 and at most 1")
    return value


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1 << 30:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive whole number")
    return value


def _gpus(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of GPUs") from None
    if not 1 <= value <= MAX_GPUS:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 1 to {MAX_GPUS:,}")
    return value
