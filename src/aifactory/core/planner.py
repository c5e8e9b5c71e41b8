"""Training planner: compute, time and memory of a training run on each GPU machine of the federation.

Data
    N        parameters of the model
    D        training tokens
    C        training compute in FLOP: 6 N D unless given (2 N D forward, 4 N D backward, dense transformer)
    g        GPUs requested
    u        model FLOPs utilisation (MFU), 0 < u <= 1, 0.4 unless set
    P_m      peak dense BF16 throughput of one GPU of machine m, TFLOP/s (vendor figure; per GCD on LUMI)
    M_m      memory of one GPU of machine m, GB (10^9 bytes)

Time (estimate_machine)
    GPU-hours  H_m = C / (P_m * 10^12 * u) / 3600
    wall time  W_m = H_m / g  hours  (perfect scaling over the g GPUs)

Memory (mixed-precision training with Adam, model states only)
    weights bf16 2 B + gradients bf16 2 B + optimizer states 12 B (fp32 master weights, Adam m and v, 4 B each)
    = 16 B per parameter.
    unsharded (every GPU holds all states, plain data parallelism):   16 N / 10^9      GB per GPU
    fully sharded over the g GPUs (ZeRO stage 3 / FSDP):              16 N / g / 10^9  GB per GPU
    Activations, temporary buffers, communication buckets and framework overhead are NOT included: they depend
    on batch size, sequence length and checkpointing, and come on top of these figures.
    Sharding on machine m: "none" when 16 N / 10^9 <= M_m, else "full" when 16 N / g / 10^9 <= M_m, else the
    model states do not fit.

A machine is usable when the g GPUs requested do not exceed its total GPUs and the model states fit; each
estimate says why not otherwise. C > 10^25 FLOP flags the AI Act's presumption of systemic risk (Art. 51).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aifactory.core.catalog import GPU_MODELS, Catalog, Machine, load_catalog
from aifactory.core.eligibility import SYSTEMIC_RISK_FLOPS
from aifactory.core.exceptions import InvalidInput

DEFAULT_MFU = 0.4
DEFAULT_GPUS = 8
MAX_GPUS = 100_000
WEIGHT_BYTES = 2  # bf16 weights
GRADIENT_BYTES = 2  # bf16 gradients
OPTIMIZER_BYTES = 12  # fp32 master weights + Adam first and second moments
BYTES_PER_PARAM = WEIGHT_BYTES + GRADIENT_BYTES + OPTIMIZER_BYTES
GB = 1e9


class Sharding(StrEnum):
    NONE = "none"  # every GPU holds all model states
    FULL = "full"  # model states sharded over all GPUs (ZeRO-3 / FSDP)


@dataclass(frozen=True)
class MachineEstimate:
    machine: str
    name: str
    gpu_model: str
    gpus: int
    total_gpus: int | None
    peak_bf16_tflops: float | None
    gpu_memory_gb: float | None
    gpu_hours: float | None  # None when the machine's peak throughput is unknown
    wall_hours: float | None
    sharding: Sharding | None  # None when the model states do not fit, or the GPU memory is unknown
    fits: bool | None  # None when the GPU memory is unknown
    usable: bool
    reasons: tuple[str, ...]  # why not usable, and caveats

    @property
    def wall_days(self) -> float | None:
        return None if self.wall_hours is None else self.wall_hours / 24

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "name": self.name,
            "gpu_model": self.gpu_model,
            "gpus": self.gpus,
            "total_gpus": self.total_gpus,
            "peak_bf16_tflops": self.peak_bf16_tflops,
            "gpu_memory_gb": self.gpu_memory_gb,
            "gpu_hours": self.gpu_hours,
            "wall_hours": self.wall_hours,
            "wall_days": self.wall_days,
            "sharding": None if self.sharding is None else self.sharding.value,
            "fits": self.fits,
            "usable": self.usable,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class TrainingPlan:
    params: float
    tokens: float
    flops: float
    flops_given: bool  # True when the caller gave the FLOPs instead of 6 N D
    gpus: int
    mfu: float
    gpu: str | None  # the GPU model the plan is restricted to
    bytes_per_param: int
    memory_unsharded_gb: float  # per GPU, model states only
    memory_sharded_gb: float  # per GPU over `gpus` GPUs, model states only
    systemic_risk: bool
    estimates: tuple[MachineEstimate, ...]

    def usable(self) -> tuple[MachineEstimate, ...]:
        return tuple(e for e in self.estimates if e.usable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "tokens": self.tokens,
            "flops": self.flops,
            "flops_given": self.flops_given,
            "gpus": self.gpus,
            "mfu": self.mfu,
            "gpu": self.gpu,
            "bytes_per_param": self.bytes_per_param,
            "memory_unsharded_gb": self.memory_unsharded_gb,
            "memory_sharded_gb": self.memory_sharded_gb,
            "systemic_risk": self.systemic_risk,
            "systemic_risk_threshold_flops": SYSTEMIC_RISK_FLOPS,
            "estimates": [e.to_dict() for e in self.estimates],
        }


def training_flops(params: float, tokens: float) -> float:
    """6 N D: the compute of training a dense model of N parameters on D tokens."""
    return 6.0 * _positive(params, "params") * _positive(tokens, "tokens")


def gpu_hours(flops: float, peak_tflops: float, mfu: float) -> float:
    return flops / (peak_tflops * 1e12 * mfu) / 3600.0


def memory_per_gpu_gb(params: float, gpus: int = 1) -> float:
    """Model states (16 B per parameter) per GPU, sharded over `gpus` GPUs (1: unsharded)."""
    return BYTES_PER_PARAM * params / gpus / GB


def plan_training(
    params: float,
    tokens: float,
    *,
    gpus: int = DEFAULT_GPUS,
    mfu: float = DEFAULT_MFU,
    gpu: str | None = None,
    flops: float | None = None,
    catalog: Catalog | None = None,
) -> TrainingPlan:
    """Plan a training run on every GPU machine of the catalog (or those of one GPU model)."""
    params = _positive(params, "params")
    tokens = _positive(tokens, "tokens")
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 1 <= gpus <= MAX_GPUS:
        raise InvalidInput("gpus", f"must be a whole number from 1 to {MAX_GPUS:,}")
    if isinstance(mfu, bool) or not isinstance(mfu, int | float) or not math.isfinite(mfu) or not 0 < mfu <= 1:
        raise InvalidInput("mfu", "must be a fraction above 0 and at most 1")
    model = _gpu_model(gpu)
    total = training_flops(params, tokens) if flops is None else _positive(flops, "flops")
    catalog = catalog if catalog is not None else load_catalog()
    machines = [m for m in catalog.gpu_machines() if model is None or m.gpu_model == model]
    unsharded = memory_per_gpu_gb(params)
    sharded = memory_per_gpu_gb(params, gpus)
    return TrainingPlan(
        params=params,
        tokens=tokens,
        flops=total,
        flops_given=flops is not None,
        gpus=gpus,
        mfu=float(mfu),
        gpu=model,
        bytes_per_param=BYTES_PER_PARAM,
        memory_unsharded_gb=unsharded,
        memory_sharded_gb=sharded,
        systemic_risk=total > SYSTEMIC_RISK_FLOPS,
        estimates=tuple(estimate_machine(m, flops=total, gpus=gpus, mfu=mfu, params=params) for m in machines),
    )


def estimate_machine(machine: Machine, *, flops: float, gpus: int, mfu: float, params: float) -> MachineEstimate:
    """Time and memory of one run on one machine (formulas in the module doc)."""
    if machine.gpu_model is None:
        raise InvalidInput("machine", f"{machine.key} has no known GPU model")
    reasons: list[str] = []
    usable = True
    if machine.total_gpus is None:
        reasons.append(f"{machine.name}'s total GPU count is not known: the request could not be checked against it.")
    elif gpus > machine.total_gpus:
        usable = False
        about = "about " if machine.is_approximate("total_gpus") else ""
        reasons.append(f"{gpus:,} GPUs requested but {machine.name} has {about}{machine.total_gpus:,} GPUs in all.")
    if machine.peak_bf16_tflops is None:
        hours: float | None = None
        wall: float | None = None
        reasons.append(f"The peak BF16 throughput of the {machine.gpu_model} is not known: no time estimate.")
    else:
        hours = gpu_hours(flops, machine.peak_bf16_tflops, mfu)
        wall = hours / gpus
    sharding: Sharding | None = None
    fits: bool | None = None
    if machine.gpu_memory_gb is None:
        reasons.append(f"The memory of one {machine.gpu_model} on {machine.name} is not known: fit not checked.")
    else:
        unsharded = memory_per_gpu_gb(params)
        sharded = memory_per_gpu_gb(params, gpus)
        if unsharded <= machine.gpu_memory_gb:
            sharding, fits = Sharding.NONE, True
        elif sharded <= machine.gpu_memory_gb:
            sharding, fits = Sharding.FULL, True
        else:
            fits = False
            usable = False
            reasons.append(
                f"Model states need {sharded:,.1f} GB per GPU even fully sharded over {gpus:,} GPUs, "
                f"more than the {machine.gpu_memory_gb:g} GB of one {machine.gpu_model}."
            )
    return MachineEstimate(
        machine=machine.key,
        name=machine.name,
        gpu_model=machine.gpu_model,
        gpus=gpus,
        total_gpus=machine.total_gpus,
        peak_bf16_tflops=machine.peak_bf16_tflops,
        gpu_memory_gb=machine.gpu_memory_gb,
        gpu_hours=hours,
        wall_hours=wall,
        sharding=sharding,
        fits=fits,
        usable=usable,
        reasons=tuple(reasons),
    )


def estimate_for(plan: TrainingPlan, machine_key: str) -> MachineEstimate:
    """The plan's estimate for one machine."""
    for estimate in plan.estimates:
        if estimate.machine == machine_key:
            return estimate
    known = ", ".join(e.machine for e in plan.estimates) or "none"
    raise InvalidInput("machine", f"no estimate for machine {machine_key!r} in this plan (planned: {known})")


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(name, "must be a number")
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(name, f"must be a positive finite number, not {value!r}")
    return float(value)


def _gpu_model(gpu: str | None) -> str | None:
    if gpu is None:
        return None
    if isinstance(gpu, str):
        for model in GPU_MODELS:
            if gpu.strip().upper() == model:
                return model
    raise InvalidInput("gpu", f"unknown GPU model {gpu!r} (known: {', '.join(GPU_MODELS)})")
