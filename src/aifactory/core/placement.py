"""Where a training job goes: the broker's placement decision.

The live broker and the simulator (aifactory.core.sim) call the same functions here. The decision uses only what
the broker knows when the job is submitted: the GPUs asked for, the GPU type (or any), the minimum memory per GPU,
and the user's runtime ESTIMATE, normalised to A100 speed. The true duration is never an input.

Rules, in the order they are checked for each machine (the first that fails is the machine's reason):

    1. the site's agent is alive;
    2. the GPU type matches (a job asking for no type takes any);
    3. the memory per GPU is at least the job's minimum (unknown memory fails a job that sets one);
    4. the job fits: a job of at most one node's GPUs runs on one node; a wider job takes whole nodes,
       ceil(gpus / gpus_per_node) of them, which the machine must have;
    5. the machine's speed relative to an A100 (peak BF16 / 312 TFLOP/s) is known;
    6. the allocation has enough GPU-hours left: the charge is the GPUs allocated (whole nodes for a wide job)
       times the estimated runtime on that machine (estimate / speed); no limit when the hours left are unknown.
       A job with a time limit (the live broker's jobs) is charged its GPUs times its time limit instead: what the
       site's scheduler reserves against the account's budget (Slurm GrpTRESMins) whatever the machine's speed.

Among the machines left (the candidates), the choice is the earliest expected completion:

    end(m) = now + wait(m) + estimate / speed(m)

where wait(m) is the queue wait the site expects for this job. Ties go to the machine listed first.
`earliest_completion` is that choice and nothing else; `place` adds the rules and a reason per machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from aifactory.core.exceptions import InvalidInput, NoPlacement

A100_PEAK_BF16_TFLOPS = 312.0
"""The reference GPU: an estimate or a trace duration is a runtime on an A100."""


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job as the broker knows it at submission."""

    gpus: int
    estimate_s: float
    """The user's runtime estimate in seconds on an A100; on a machine of speed s it is estimate_s / s."""
    gpu_type: str | None = None
    """A GPU model ("A100", "H100", ...); None takes any."""
    min_gpu_memory_gb: float | None = None
    time_limit_s: float | None = None
    """The wall-clock limit the site's scheduler enforces; when set, rule 6 charges gpus x time_limit_s."""


@dataclass(frozen=True, slots=True)
class MachineView:
    """What the broker knows of one machine when it places a job."""

    key: str
    gpu_model: str | None
    gpu_memory_gb: float | None
    gpus_per_node: int | None
    total_gpus: int | None
    speed: float | None
    """Speed relative to an A100: peak_bf16_tflops / 312 (see `speed_from_peak`)."""
    expected_wait_s: float
    """The queue wait this site expects for this job, as its scheduler reports it."""
    alive: bool = True
    gpu_hours_left: float | None = None
    """GPU-hours left in the project's allocation on this machine; None when there is no known limit."""


@dataclass(frozen=True, slots=True)
class Placement:
    """The broker's choice: the machine, when the job is expected to start and end, and why, per machine."""

    machine: str
    expected_start_s: float
    expected_end_s: float
    reasons: Mapping[str, str]


def speed_from_peak(peak_bf16_tflops: float | None) -> float | None:
    """Speed relative to an A100 from the vendor's peak dense BF16 per GPU; None when unknown or not positive."""
    if peak_bf16_tflops is None or peak_bf16_tflops <= 0:
        return None
    return peak_bf16_tflops / A100_PEAK_BF16_TFLOPS


def nodes_needed(gpus: int, gpus_per_node: int) -> int:
    """Nodes a job takes: one for a job of at most one node's GPUs, else whole nodes."""
    return 1 if gpus <= gpus_per_node else -(-gpus // gpus_per_node)


def allocated_gpus(gpus: int, gpus_per_node: int) -> int:
    """GPUs a job holds (and is charged for): its own on one node, whole nodes when it is wider than one."""
    return gpus if gpus <= gpus_per_node else nodes_needed(gpus, gpus_per_node) * gpus_per_node


def fits(gpus: int, gpus_per_node: int, total_gpus: int) -> bool:
    """Whether a job of `gpus` GPUs can ever run on a machine of this shape."""
    if gpus <= gpus_per_node:
        return True
    return nodes_needed(gpus, gpus_per_node) <= total_gpus // gpus_per_node


def earliest_completion(estimate_s: float, starts: Sequence[float], speeds: Sequence[float],
                        candidates: Iterable[int]) -> int:
    """Index of the candidate with the earliest expected end, starts[i] + estimate_s / speeds[i]; -1 if none.

    Ties go to the candidate that comes first. This is the broker's choice; `place` and the simulator both call it.
    """
    best = -1
    best_end = math.inf
    for i in candidates:
        end = starts[i] + estimate_s / speeds[i]
        if end < best_end:
            best = i
            best_end = end
    return best


def rejection(job: JobRequest, machine: MachineView) -> str | None:
    """Why `machine` cannot take `job` (rules 1 to 6 of the module docstring), or None when it is a candidate."""
    if not machine.alive:
        return "site agent not responding"
    if job.gpu_type is not None:
        if machine.gpu_model is None:
            return f"GPU model unknown, job asks for {job.gpu_type}"
        if machine.gpu_model.casefold() != job.gpu_type.casefold():
            return f"GPU type {machine.gpu_model}, job asks for {job.gpu_type}"
    if job.min_gpu_memory_gb is not None:
        if machine.gpu_memory_gb is None:
            return f"memory per GPU unknown, job needs {job.min_gpu_memory_gb:g} GB"
        if machine.gpu_memory_gb < job.min_gpu_memory_gb:
            return f"{machine.gpu_memory_gb:g} GB per GPU, job needs {job.min_gpu_memory_gb:g} GB"
    if machine.gpus_per_node is None or machine.total_gpus is None:
        return "GPU count unknown"
    if not fits(job.gpus, machine.gpus_per_node, machine.total_gpus):
        return (f"job needs {nodes_needed(job.gpus, machine.gpus_per_node)} nodes of {machine.gpus_per_node} GPUs, "
                f"machine has {machine.total_gpus // machine.gpus_per_node}")
    if machine.speed is None:
        return "GPU speed unknown"
    if machine.gpu_hours_left is not None:
        charge = gpu_hours_charged(job, machine.gpus_per_node, machine.speed)
        if charge > machine.gpu_hours_left:
            return f"allocation has {machine.gpu_hours_left:g} GPU-hours left, job needs about {charge:.4g}"
    return None


def gpu_hours_charged(job: JobRequest, gpus_per_node: int, speed: float) -> float:
    """GPU-hours the job's estimate would use on a machine: allocated GPUs x estimated runtime there; for a job
    with a time limit, its GPUs x the time limit (the most its scheduler lets it use)."""
    if job.time_limit_s is not None:
        return job.gpus * job.time_limit_s / 3600.0
    return allocated_gpus(job.gpus, gpus_per_node) * job.estimate_s / speed / 3600.0


def _check(job: JobRequest, machines: Sequence[MachineView]) -> None:
    if job.gpus < 1:
        raise InvalidInput("gpus", f"must be at least 1, got {job.gpus}")
    if not math.isfinite(job.estimate_s) or job.estimate_s < 0:
        raise InvalidInput("estimate_s", f"must be a finite number of seconds >= 0, got {job.estimate_s}")
    if job.time_limit_s is not None and (not math.isfinite(job.time_limit_s) or job.time_limit_s <= 0):
        raise InvalidInput("time_limit_s", f"must be a finite number of seconds > 0, got {job.time_limit_s}")
    if job.min_gpu_memory_gb is not None and job.min_gpu_memory_gb < 0:
        raise InvalidInput("min_gpu_memory_gb", f"must be >= 0, got {job.min_gpu_memory_gb}")
    seen: set[str] = set()
    for m in machines:
        if m.key in seen:
            raise InvalidInput("machines", f"machine {m.key!r} is listed twice")
        seen.add(m.key)
        if not math.isfinite(m.expected_wait_s) or m.expected_wait_s < 0:
            raise InvalidInput("expected_wait_s", f"{m.key}: must be a finite number of seconds >= 0")
        if m.speed is not None and (not math.isfinite(m.speed) or m.speed <= 0):
            raise InvalidInput("speed", f"{m.key}: must be a positive number, got {m.speed}")
        if m.gpus_per_node is not None and m.gpus_per_node < 1:
            raise InvalidInput("gpus_per_node", f"{m.key}: must be at least 1, got {m.gpus_per_node}")


def place(job: JobRequest, machines: Sequence[MachineView], now: float = 0.0) -> Placement:
    """Choose the machine for `job`: the candidate with the earliest expected completion.

    Times in the answer are `now` plus seconds (pass a Unix time for absolute times, or 0 for relative ones).
    Raises NoPlacement with a reason per machine when no machine is a candidate, InvalidInput on bad values.
    """
    _check(job, machines)
    reasons: dict[str, str] = {}
    candidates: list[int] = []
    starts = [now + m.expected_wait_s for m in machines]
    speeds = [m.speed if m.speed is not None else 1.0 for m in machines]
    for i, m in enumerate(machines):
        why = rejection(job, m)
        if why is None:
            candidates.append(i)
        else:
            reasons[m.key] = why
    best = earliest_completion(job.estimate_s, starts, speeds, candidates)
    if best < 0:
        raise NoPlacement(reasons)
    best_end = starts[best] + job.estimate_s / speeds[best]
    for i in candidates:
        run = job.estimate_s / speeds[i]
        end = starts[i] + run
        how = f"waits {machines[i].expected_wait_s:.0f} s, runs {run:.0f} s"
        if i == best:
            reasons[machines[i].key] = f"chosen: earliest expected completion ({how})"
        else:
            when = (f"{end - best_end:.0f} s after the chosen machine" if end > best_end
                    else "tied with the chosen machine, which is listed first")
            reasons[machines[i].key] = f"later: expected completion {when} ({how})"
    ordered = {m.key: reasons[m.key] for m in machines}
    return Placement(machine=machines[best].key, expected_start_s=starts[best], expected_end_s=best_end,
                     reasons=MappingProxyType(ordered))
