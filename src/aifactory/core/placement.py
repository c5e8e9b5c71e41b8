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

Size intervals (optional: `MachineView.size_limit_s`; None on every machine leaves the choice above unchanged).
A machine with a size limit L takes only jobs whose estimate is below L, when the job has a choice: the
earliest expected completion is taken among the candidates whose limit is above the job's estimate, and among all
candidates when none is (a job is never refused for its size). This is size-interval task assignment (SITA,
Harchol-Balter, Crovella and Murta, JPDC 1999), nested: short jobs may go anywhere, long jobs only to the machines
with the highest limits, so that with first come, first served on each machine, a short job never queues behind
a long one on the machines kept for short jobs. Job sizes on GPU clusters are heavy-tailed (on the Philly trace
90% of the jobs carry 4% of the GPU time), so keeping the long jobs off part of the federation shortens the wait of
most jobs; the few long ones may wait longer.

The limits come from the estimates the broker has seen, never from the future (`size_limits`):

    machines ranked by capacity, GPUs x speed, ascending (ties: the machine listed first ranks lower);
    the largest machine has no limit;
    the machine of rank k has the limit q(C_k), where C_k is the share of the federation's capacity held by the
    machines of rank 1..k, and q(p) is the end of the first size class at which the work of the jobs seen,
    GPUs x estimate summed from the shortest size class up, reaches the share p of all their work.

So the jobs that only the machines of rank above k may take carry the share of the work that those machines hold
of the capacity (SITA-E, equal load, which has no parameter to tune). Small machines take the shortest jobs, as a
long job holds a larger share of a small machine. Size classes are quarter octaves of the estimate in A100 seconds
(`size_class`). With fewer than SIZE_LIMITS_MIN_JOBS jobs seen there are no limits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from aifactory.core.exceptions import InvalidInput, NoPlacement

A100_PEAK_BF16_TFLOPS = 312.0
"""The reference GPU: an estimate or a trace duration is a runtime on an A100."""

SIZE_CLASSES = 160
"""Size classes of an estimate: class 0 below one second, class c >= 1 from 2 ** ((c - 1) / 4) up to (not including)
2 ** (c / 4) seconds; the last class takes everything longer."""

SIZE_LIMITS_MIN_JOBS = 100
"""`size_limits` sets no limit before this many jobs have been seen: the quantiles of a handful of jobs mean little."""


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
    size_limit_s: float | None = None
    """The machine's size interval: it takes only jobs estimated below this (A100 seconds), unless no candidate
    takes the job (module docstring; from `size_limits`). None (or infinity): no limit."""


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


def size_class(estimate_s: float) -> int:
    """The size class of an estimate in A100 seconds (see SIZE_CLASSES): 0 below 1 s, else 1 + floor(4 log2)."""
    if not estimate_s >= 1.0:
        return 0
    if estimate_s == math.inf:
        return SIZE_CLASSES - 1
    c = 1 + int(4.0 * math.log2(estimate_s))
    return c if c < SIZE_CLASSES else SIZE_CLASSES - 1


def size_class_end(c: int) -> float:
    """The end of size class c: every estimate of class c or below is below it (infinity for the last class)."""
    return math.inf if c >= SIZE_CLASSES - 1 else 2.0 ** (c / 4.0)


def work_by_size(jobs: Iterable[tuple[int, float]]) -> list[float]:
    """The work of (gpus, estimate_s) jobs, GPUs x estimate, summed per size class (SIZE_CLASSES entries)."""
    work = [0.0] * SIZE_CLASSES
    for gpus, estimate_s in jobs:
        work[size_class(estimate_s)] += gpus * estimate_s
    return work


def size_limits(capacities: Sequence[float | None], work_by_class: Sequence[float], jobs_seen: int,
                min_jobs: int = SIZE_LIMITS_MIN_JOBS) -> list[float]:
    """Each machine's size limit (module docstring, "size intervals") from the machines' capacities (GPUs x speed;
    None when unknown, which gets no limit and counts for nothing) and the work of the jobs seen per size class
    (`work_by_size`). Infinity means no limit: for the largest machine, and for all while jobs_seen < min_jobs or
    no work has been seen.

    Machines ranked by capacity ascending (ties to the machine listed first); for rank k < n, the limit is the end
    of the first class c with sum(work[0..c]) >= C_k x sum(work), C_k = the capacity of ranks 1..k over all."""
    limits = [math.inf] * len(capacities)
    total_work = math.fsum(work_by_class)
    known = [i for i, c in enumerate(capacities) if c is not None and c > 0 and math.isfinite(c)]
    if jobs_seen < min_jobs or not total_work > 0 or len(known) < 2:
        return limits
    order = sorted(known, key=lambda i: (capacities[i], i))
    total_cap = math.fsum(capacities[i] or 0.0 for i in known)
    cum_cap = 0.0
    cum_work = 0.0
    c = -1
    last = len(work_by_class) - 1
    for i in order[:-1]:
        cum_cap += capacities[i] or 0.0
        target = cum_cap / total_cap * total_work
        while c < last and cum_work < target:
            c += 1
            cum_work += work_by_class[c]
        limits[i] = size_class_end(max(c, 0))
    return limits


def admitted(estimate_s: float, limits: Sequence[float], candidates: Sequence[int]) -> Sequence[int]:
    """The candidates whose size limit is above the estimate; all the candidates when none is."""
    kept = [i for i in candidates if estimate_s < limits[i]]
    return kept if kept else candidates


def broker_choice(estimate_s: float, candidates: Sequence[int], speeds: Sequence[float], limits: Sequence[float],
                  start: Callable[[int], float]) -> int:
    """The broker's choice: among the candidates the size limits admit (`admitted`), the earliest expected
    completion, start(i) + estimate_s / speeds[i] (`earliest_completion`); -1 if there is no candidate.

    `start(i)` is asked only for the admitted candidates. `place` and the simulator both call this."""
    kept = admitted(estimate_s, limits, candidates)
    starts = [0.0] * len(speeds)
    for i in kept:
        starts[i] = start(i)
    return earliest_completion(estimate_s, starts, speeds, kept)


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
        if m.size_limit_s is not None and not m.size_limit_s > 0:
            raise InvalidInput("size_limit_s", f"{m.key}: must be a positive number of seconds, got {m.size_limit_s}")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g} h"


def place(job: JobRequest, machines: Sequence[MachineView], now: float = 0.0) -> Placement:
    """Choose the machine for `job`: the candidate with the earliest expected completion, among those whose size
    interval takes the job when the machines have size limits (`broker_choice`).

    Times in the answer are `now` plus seconds (pass a Unix time for absolute times, or 0 for relative ones).
    Raises NoPlacement with a reason per machine when no machine is a candidate, InvalidInput on bad values.
    """
    _check(job, machines)
    reasons: dict[str, str] = {}
    candidates: list[int] = []
    starts = [now + m.expected_wait_s for m in machines]
    speeds = [m.speed if m.speed is not None else 1.0 for m in machines]
    limits = [m.size_limit_s if m.size_limit_s is not None else math.inf for m in machines]
    for i, m in enumerate(machines):
        why = rejection(job, m)
        if why is None:
            candidates.append(i)
        else:
            reasons[m.key] = why
    best = broker_choice(job.estimate_s, candidates, speeds, limits, starts.__getitem__)
    if best < 0:
        raise NoPlacement(reasons)
    kept = set(admitted(job.estimate_s, limits, candidates))
    among = " among the machines whose size interval takes the job" if len(kept) < len(candidates) else ""
    best_end = starts[best] + job.estimate_s / speeds[best]
    for i in candidates:
        run = job.estimate_s / speeds[i]
        end = starts[i] + run
        how = f"waits {machines[i].expected_wait_s:.0f} s, runs {run:.0f} s"
        if i not in kept:
            reasons[machines[i].key] = (f"not used: kept for jobs estimated under {_hours(limits[i])}, this one is "
                                        f"estimated at {_hours(job.estimate_s)} ({how})")
        elif i == best:
            reasons[machines[i].key] = f"chosen: earliest expected completion{among} ({how})"
        else:
            when = (f"{end - best_end:.0f} s after the chosen machine" if end > best_end
                    else "tied with the chosen machine, which is listed first")
            reasons[machines[i].key] = f"later: expected completion {when} ({how})"
    ordered = {m.key: reasons[m.key] for m in machines}
    return Placement(machine=machines[best].key, expected_start_s=starts[best], expected_end_s=best_end,
                     reasons=MappingProxyType(ordered))
