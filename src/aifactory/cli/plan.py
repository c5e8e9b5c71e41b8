"""`aifactory plan`: GPU-hours, wall time and memory of a training run on each GPU machine of the federation."""

from __future__ import annotations

import argparse
import json
import math
import sys
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


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "plan",
        help="estimate GPU-hours, wall time and memory of a training run",
        description="Estimate a training run on every GPU machine of the federation: compute 6 x params x tokens "
        "FLOP (or --flops), GPU-hours at the given MFU of each GPU's peak dense BF16, wall time on --gpus GPUs, "
        "and memory of the model states for mixed-precision Adam (16 bytes per parameter, activations excluded).",
    )
    parser.add_argument("--params", type=_positive, required=True, help="model parameters, e.g. 7e9")
    parser.add_argument("--tokens", type=_positive, required=True, help="training tokens, e.g. 2e12")
    parser.add_argument("--gpu", type=str, help=f"only machines with this GPU model ({', '.join(GPU_MODELS)})")
    parser.add_argument("--gpus", type=_gpus, default=DEFAULT_GPUS, help=f"GPUs for the run (default {DEFAULT_GPUS})")
    parser.add_argument(
        "--mfu", type=_fraction, default=DEFAULT_MFU, help=f"model FLOPs utilisation (default {DEFAULT_MFU})"
    )
    parser.add_argument("--flops", type=_positive, help="training compute in FLOP, instead of 6 x params x tokens")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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


def _gpus(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of GPUs") from None
    if not 1 <= value <= MAX_GPUS:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 1 to {MAX_GPUS:,}")
    return value
