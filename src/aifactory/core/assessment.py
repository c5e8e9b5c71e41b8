"""Technical assessment of a request for compute, from the training planner's estimate on the machine asked for.

Data
    R        GPU-hours requested
    H        GPU-hours the plan needs on the machine (planner: C / (P * u) / 3600), unknown when the machine's
             peak throughput is unknown
    t        tolerance, TOLERANCE = 0.25 unless given
    g, M     GPUs requested and the allocation's months

Rules, each a flag with the field it is about; a blocking flag refuses the request, the others are recorded as
reasons and send the request to a person (technical review) where the mode assesses at all:
    mode limits    R outside the mode's size, or M not one of its durations                     blocking
    GPU offered    a GPU model was named and the machine does not offer it                        blocking
    GPU count      g above the machine's total GPUs                                               blocking
    fit            model states do not fit one GPU's memory even fully sharded over g GPUs       blocking
    over-request   R > H * (1 + t)                                                                flag
    under-request  R < H / (1 + t)                                                                flag
    duration       the plan's wall time on g GPUs, H / g hours, exceeds M months of 730 hours     flag
The sharding the fit needs (none, or full: ZeRO-3 / FSDP) is named in a note, as are values that could not be
checked because the catalog does not know them.

With the run planned on the machine (aifactory.core.training.plan_run: layout, memory with activations, the GPU
family's MFU prior, the site's queues), more rules:
    run fit        no parallel layout fits the GPUs' memory, or no queue of the site takes the nodes     blocking
    planned hours  H is the run plan's GPU-hours (attention, layout overheads, the GPU family's MFU prior), so
                   over-, under-request and duration are judged against it
    segments       the run is longer than the site's wall-time limit: it runs as a managed run        note

Split over several machines (assess_split)
    A request of R_m GPU-hours on each machine m covers the share R_m / H_m of the run there, so the request
    covers Q = sum_m R_m / H_m runs; over- and under-requests compare Q with 1 within the same tolerance. The mode's
    limits apply to R = sum_m R_m; the GPU, the GPU count and the fit are checked on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aifactory.core.exceptions import InvalidInput
from aifactory.core.modes import AccessMode
from aifactory.core.planner import Sharding, TrainingPlan, estimate_for
from aifactory.core.training import RunPlan

TOLERANCE = 0.25
HOURS_PER_MONTH = 730.0  # 8,760 hours a year / 12


@dataclass(frozen=True)
class Flag:
    code: str  # mode_limit, months, gpu_offered, gpu_count, fit, over_request, under_request, duration, note
    field: str  # the request's field it is about
    message: str
    blocking: bool

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "message": self.message, "blocking": self.blocking}


class _Flagged:
    """What an assessment's flags say: refusals block, concerns are for a person to look at."""

    flags: tuple[Flag, ...]

    @property
    def refusals(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.blocking)

    @property
    def concerns(self) -> tuple[Flag, ...]:
        """Non-blocking flags that a person should look at (notes excluded)."""
        return tuple(f for f in self.flags if not f.blocking and f.code != "note")

    @property
    def passed(self) -> bool:
        return not self.refusals

    @property
    def clean(self) -> bool:
        return not self.refusals and not self.concerns

    def check(self) -> None:
        """Raise InvalidInput naming the field of the first blocking flag."""
        if self.refusals:
            first = self.refusals[0]
            raise InvalidInput(first.field, first.message)

    def reasons(self) -> list[str]:
        return [f.message for f in self.flags]


@dataclass(frozen=True)
class TechnicalAssessment(_Flagged):
    machine: str
    gpu_model: str
    requested_gpu_hours: float
    planned_gpu_hours: float | None
    ratio: float | None  # requested / planned
    tolerance: float
    sharding: Sharding | None
    memory_per_gpu_gb: float | None  # model states per GPU with that sharding
    flags: tuple[Flag, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "gpu_model": self.gpu_model,
            "requested_gpu_hours": self.requested_gpu_hours,
            "planned_gpu_hours": self.planned_gpu_hours,
            "ratio": self.ratio,
            "tolerance": self.tolerance,
            "sharding": None if self.sharding is None else self.sharding.value,
            "memory_per_gpu_gb": self.memory_per_gpu_gb,
            "passed": self.passed,
            "clean": self.clean,
            "flags": [f.to_dict() for f in self.flags],
        }


def assess(
    plan: TrainingPlan,
    *,
    machine: str,
    requested_gpu_hours: float,
    months: int,
    mode: AccessMode,
    gpu: str | None = None,
    tolerance: float = TOLERANCE,
    run: RunPlan | None = None,
) -> TechnicalAssessment:
    """Assess a request against the plan on one machine and the mode's limits (rules in the module doc)."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not math.isfinite(tolerance):
        raise InvalidInput("tolerance", "must be a number")
    if tolerance < 0:
        raise InvalidInput("tolerance", "must be 0 or more")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise InvalidInput("months", "must be a whole number of months, 1 or more")
    estimate = estimate_for(plan, machine)
    requested = float(requested_gpu_hours)
    flags: list[Flag] = []
    try:
        mode.check_request(gpu_hours=requested, months=months)
    except InvalidInput as exc:
        flags.append(Flag("mode_limit" if exc.field == "requested_gpu_hours" else "months", exc.field,
                          exc.message.split(": ", 1)[1], True))
    if gpu is not None and gpu.strip().upper() != estimate.gpu_model.upper():
        flags.append(Flag(
            "gpu_offered", "gpu",
            f"{estimate.name} offers the {estimate.gpu_model}, not the {gpu.strip()} asked for.", True,
        ))
    if estimate.total_gpus is not None and plan.gpus > estimate.total_gpus:
        flags.append(Flag(
            "gpu_count", "gpus", f"{plan.gpus:,} GPUs requested but {estimate.name} has {estimate.total_gpus:,}.", True
        ))
    memory: float | None = None
    if estimate.fits is False:
        flags.append(Flag(
            "fit", "gpus",
            f"The model does not fit: its states need {plan.memory_sharded_gb:,.1f} GB per GPU even fully sharded "
            f"over {plan.gpus:,} GPUs, more than the {estimate.gpu_memory_gb:g} GB of one {estimate.gpu_model}; "
            f"ask for at least {_gpus_to_fit(plan, estimate.gpu_memory_gb):,} GPUs or a GPU with more memory.",
            True,
        ))
    elif estimate.sharding is Sharding.NONE:
        memory = plan.memory_unsharded_gb
        flags.append(Flag(
            "note", "gpus",
            f"Fits without sharding: model states need {memory:,.1f} GB per GPU of the {estimate.gpu_memory_gb:g} GB "
            f"of one {estimate.gpu_model} (activations come on top).",
            False,
        ))
    elif estimate.sharding is Sharding.FULL:
        memory = plan.memory_sharded_gb
        flags.append(Flag(
            "note", "gpus",
            f"Fits only fully sharded (ZeRO stage 3 / FSDP) over the {plan.gpus:,} GPUs: {memory:,.1f} GB of model "
            f"states per GPU of the {estimate.gpu_memory_gb:g} GB of one {estimate.gpu_model}, "
            f"{plan.memory_unsharded_gb:,.1f} GB unsharded.",
            False,
        ))
    else:
        flags.append(Flag("note", "gpus", f"The memory of one {estimate.gpu_model} is not known: fit not checked.",
                          False))
    planned = estimate.gpu_hours if run is None or run.gpu_hours is None else run.gpu_hours
    ratio: float | None = None
    if planned is None:
        flags.append(Flag("note", "requested_gpu_hours",
                          f"The peak throughput of the {estimate.gpu_model} is not known: the request could not be "
                          "checked against the plan.", False))
    else:
        ratio = requested / planned
        if ratio > 1 + tolerance:
            flags.append(Flag(
                "over_request", "requested_gpu_hours",
                f"Over-request: {requested:,.0f} GPU-hours requested, {ratio:.2f} times the {planned:,.0f} the plan "
                f"needs on {estimate.name} (tolerance {tolerance:.0%}).",
                False,
            ))
        elif ratio < 1 / (1 + tolerance):
            flags.append(Flag(
                "under_request", "requested_gpu_hours",
                f"Under-request: {requested:,.0f} GPU-hours requested, {ratio:.2f} times the {planned:,.0f} the plan "
                f"needs on {estimate.name} (tolerance {tolerance:.0%}): the run would not finish.",
                False,
            ))
        wall = planned / plan.gpus if run is None or run.wall_hours is None else run.wall_hours
        if wall > months * HOURS_PER_MONTH:
            flags.append(Flag(
                "duration", "months",
                f"The plan runs {wall / 24:,.0f} days on {plan.gpus:,} GPUs, longer than the {months} months asked "
                "for: ask for more GPUs or a longer allocation.",
                False,
            ))
    if run is not None:
        flags += run_flags(run)
    return TechnicalAssessment(
        machine=estimate.machine,
        gpu_model=estimate.gpu_model,
        requested_gpu_hours=requested,
        planned_gpu_hours=planned,
        ratio=ratio,
        tolerance=float(tolerance),
        sharding=estimate.sharding,
        memory_per_gpu_gb=memory,
        flags=tuple(flags),
    )


def run_flags(run: RunPlan) -> list[Flag]:
    """The rules that come from the run planned on the machine (module doc), besides the planned hours."""
    if not run.can_run:
        return [Flag("run_fit", "gpus", f"The plan on {run.machine_name} says the run cannot go there: "
                     + " ".join(r for r in run.reasons if "segments" not in r), True)]
    flags: list[Flag] = []
    if run.layout is not None and run.memory is not None:
        flags.append(Flag("note", "gpus", f"Planned layout on {run.nodes:,} node(s): tensor parallel {run.layout.tp}, "
                          f"pipeline {run.layout.pp}, data parallel {run.layout.dp} with {run.layout.sharding}, "
                          f"recomputation {run.layout.recompute.value}; {run.memory.total_gb:,.1f} GB per GPU with "
                          f"activations; MFU {run.mfu or 0:.2f}.", False))
    if run.segments is not None and run.segments > 1:
        flags.append(Flag("note", "months", f"The run takes {run.wall_hours or 0:,.0f} h on {run.nodes:,} node(s), "
                          f"longer than the {run.queue_limit_hours:g} h a job may run: {run.segments} segments "
                          "resuming from checkpoints (a managed run).", False))
    return flags


def _gpus_to_fit(plan: TrainingPlan, memory_gb: float | None) -> int:
    if not memory_gb:
        return plan.gpus
    return max(plan.gpus + 1, math.ceil(plan.bytes_per_param * plan.params / (memory_gb * 1e9)))


@dataclass(frozen=True)
class SplitAssessment(_Flagged):
    """A request over several machines: each machine's assessment and the flags of the whole."""

    parts: tuple[TechnicalAssessment, ...]
    requested_gpu_hours: float
    coverage: float | None  # Q: runs the request covers; None when some machine's peak is unknown
    tolerance: float
    flags: tuple[Flag, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "machines": [p.to_dict() for p in self.parts],
            "requested_gpu_hours": self.requested_gpu_hours,
            "coverage": self.coverage,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "clean": self.clean,
            "flags": [f.to_dict() for f in self.flags],
        }


def assess_split(
    plan: TrainingPlan,
    *,
    hours: Mapping[str, float],
    months: int,
    mode: AccessMode,
    gpu: str | None = None,
    tolerance: float = TOLERANCE,
) -> SplitAssessment:
    """Assess a request split over several machines (rules in the module doc)."""
    if not isinstance(hours, Mapping) or not hours:
        raise InvalidInput("machine_hours", "must name at least one machine with its GPU-hours")
    for machine, value in hours.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise InvalidInput("machine_hours", f"{machine}: GPU-hours must be a positive number, not {value!r}")
    total = float(sum(hours.values()))
    flags: list[Flag] = []
    try:
        mode.check_request(gpu_hours=total, months=months)
    except InvalidInput as exc:
        flags.append(Flag("mode_limit" if exc.field == "requested_gpu_hours" else "months", exc.field,
                          exc.message.split(": ", 1)[1], True))
    unbounded = replace(mode, gpu_hours_above=None, gpu_hours_at_most=None, months=(months,))
    parts = tuple(
        assess(plan, machine=machine, requested_gpu_hours=float(value), months=months, mode=unbounded, gpu=gpu,
               tolerance=tolerance)
        for machine, value in hours.items()
    )
    for part in parts:
        for flag in part.flags:
            if flag.code in ("over_request", "under_request", "duration"):
                continue
            where = "machine_hours" if flag.field == "requested_gpu_hours" else flag.field
            flags.append(replace(flag, field=where, message=f"{part.machine}: {flag.message}"))
    coverage: float | None = None
    if all(p.planned_gpu_hours for p in parts):
        coverage = sum(p.requested_gpu_hours / float(p.planned_gpu_hours or 1.0) for p in parts)
        if coverage > 1 + tolerance:
            flags.append(Flag(
                "over_request", "requested_gpu_hours",
                f"Over-request: the GPU-hours requested on {', '.join(hours)} cover the planned run {coverage:.2f} "
                f"times (tolerance {tolerance:.0%}).",
                False,
            ))
        elif coverage < 1 / (1 + tolerance):
            flags.append(Flag(
                "under_request", "requested_gpu_hours",
                f"Under-request: the GPU-hours requested on {', '.join(hours)} cover {coverage:.2f} of the planned "
                f"run (tolerance {tolerance:.0%}): the run would not finish.",
                False,
            ))
    return SplitAssessment(
        parts=parts, requested_gpu_hours=total, coverage=coverage, tolerance=float(tolerance), flags=tuple(flags)
    )
