"""Placement policies for the simulator. Each sees only what a live broker knows when a job is submitted: its GPUs,
its project, its runtime estimate (never the true duration), and what the sites report about their own state.

    home-site        each project is bound to one machine, as allocations are today (see `home_sites`)
    random           a machine drawn uniformly among those the job fits on (seeded)
    least-loaded     the fewest GPUs busy or asked for by queued jobs, relative to the machine's GPUs
    earliest-start   the earliest expected start, as Slurm's `sbatch -M a,b` picks a cluster; ties to the
                     machine listed first
    fastest-machine  the fastest GPU among the machines the job fits on (a static choice); ties to the first
    earliest-completion
                     the earliest expected start + estimate / speed (aifactory.core.placement.earliest_completion)
                     over all the machines the job fits on: the broker's choice without size intervals
    broker           the broker's own choice, aifactory.core.placement.broker_choice: the earliest expected
                     completion among the machines whose size interval takes the job. The size limits come from
                     aifactory.core.placement.size_limits over the machines' capacities and the work (GPUs x
                     estimate) of the jobs submitted so far, the job itself included, recomputed every
                     SIZE_LIMITS_REFRESH submissions (none before SIZE_LIMITS_MIN_JOBS jobs)

The expected start is what the site's scheduler would predict from the runtime estimates it holds (as Slurm's
`sbatch --test-only` does); aifactory.core.sim.prediction works it out (`Probe.expected_start`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from aifactory.core.exceptions import InvalidInput
from aifactory.core.placement import (
    SIZE_CLASSES,
    SIZE_LIMITS_MIN_JOBS,
    broker_choice,
    earliest_completion,
    size_class,
    size_limits,
)

POLICIES = ("home-site", "random", "least-loaded", "earliest-start", "fastest-machine", "earliest-completion",
            "broker")

SIZE_LIMITS_REFRESH = 64
"""The broker policy recomputes its size limits every this many submissions (a live broker may on every one)."""

Choose = Callable[[int, float, Sequence[int]], int]
"""(job, now, candidate machines) -> the chosen machine."""


class Probe(Protocol):
    """What the engine tells a policy: the machines' static figures and what their sites report."""

    speeds: list[float]
    total_gpus: list[int]
    busy_gpus: list[int]
    queued_gpus: list[int]

    @property
    def gpus(self) -> Sequence[int]: ...
    @property
    def estimate_s(self) -> Sequence[float]: ...
    @property
    def project(self) -> Sequence[int]: ...

    def expected_start(self, m: int, job: int, now: float) -> float: ...


def home_sites(demand: Sequence[float], widest: Sequence[int], capacity: Sequence[float],
               fits: Callable[[int, int], bool]) -> list[int]:
    """A home machine per project, balancing demand over machines in proportion to their capacity.

    Projects in decreasing order of demand (GPU-seconds, ties by project index) each go to the machine, among those
    that fit the project's widest job, with the least (assigned demand + this project's) / capacity; ties to the
    first machine. The demand is the trace's own, as an allocation is sized from the work a project plans.
    `fits(gpus, machine)` says whether a job of that width fits a machine.
    """
    assigned = [0.0] * len(capacity)
    home = [0] * len(demand)
    for p in sorted(range(len(demand)), key=lambda q: (-demand[q], q)):
        best, best_ratio = -1, 0.0
        for m, cap in enumerate(capacity):
            if widest[p] > 0 and not fits(widest[p], m):
                continue
            ratio = (assigned[m] + demand[p]) / cap
            if best < 0 or ratio < best_ratio:
                best, best_ratio = m, ratio
        if best < 0:
            best = 0
        home[p] = best
        assigned[best] += demand[p]
    return home


def make_policy(name: str, probe: Probe, seed: int, home: Sequence[int] | None = None,
                fastest_by_width: Mapping[int, int] | None = None, size_min_jobs: int = SIZE_LIMITS_MIN_JOBS,
                size_refresh: int = SIZE_LIMITS_REFRESH) -> Choose:
    """The policy's choice function over `probe` (see the module docstring). `size_min_jobs` and `size_refresh`
    set when the broker's size limits start and how often they are recomputed."""
    if name == "home-site":
        if home is None:
            raise InvalidInput("policy", "home-site needs the projects' home machines")
        homes = list(home)
        project = probe.project

        def choose_home(j: int, now: float, cands: Sequence[int]) -> int:
            m = homes[project[j]]
            return m if m in cands else cands[0]

        return choose_home
    if name == "random":
        rng = random.Random(seed)

        def choose_random(j: int, now: float, cands: Sequence[int]) -> int:
            return cands[rng.randrange(len(cands))]

        return choose_random
    if name == "least-loaded":
        busy, queued, total = probe.busy_gpus, probe.queued_gpus, probe.total_gpus

        def choose_least_loaded(j: int, now: float, cands: Sequence[int]) -> int:
            best, best_load = cands[0], (busy[cands[0]] + queued[cands[0]]) / total[cands[0]]
            for m in cands:
                load = (busy[m] + queued[m]) / total[m]
                if load < best_load:
                    best, best_load = m, load
            return best

        return choose_least_loaded
    if name == "earliest-start":
        expected_start = probe.expected_start

        def choose_earliest_start(j: int, now: float, cands: Sequence[int]) -> int:
            best, best_start = cands[0], expected_start(cands[0], j, now)
            for m in cands[1:]:
                s = expected_start(m, j, now)
                if s < best_start:
                    best, best_start = m, s
            return best

        return choose_earliest_start
    if name == "fastest-machine":
        if fastest_by_width is None:
            raise InvalidInput("policy", "fastest-machine needs the fastest machine per job width")
        table = dict(fastest_by_width)
        gpus = probe.gpus

        def choose_fastest(j: int, now: float, cands: Sequence[int]) -> int:
            return table[gpus[j]]

        return choose_fastest
    if name == "earliest-completion":
        est, speeds, expected_start = probe.estimate_s, probe.speeds, probe.expected_start
        starts = [0.0] * len(speeds)

        def choose_earliest_completion(j: int, now: float, cands: Sequence[int]) -> int:
            for m in cands:
                starts[m] = expected_start(m, j, now)
            return earliest_completion(est[j], starts, speeds, cands)

        return choose_earliest_completion
    if name == "broker":
        if size_refresh < 1:
            raise InvalidInput("size_refresh", f"must be at least 1, got {size_refresh}")
        est, speeds, expected_start, gpus = probe.estimate_s, probe.speeds, probe.expected_start, probe.gpus
        capacities: list[float | None] = [g * s for g, s in zip(probe.total_gpus, speeds, strict=True)]
        work = [0.0] * SIZE_CLASSES
        limits = [math.inf] * len(speeds)
        seen = 0

        def choose_broker(j: int, now: float, cands: Sequence[int]) -> int:
            nonlocal seen, limits
            e = est[j]
            work[size_class(e)] += gpus[j] * e
            seen += 1
            if seen % size_refresh == 0:
                limits = size_limits(capacities, work, seen, size_min_jobs)
            return broker_choice(e, cands, speeds, limits, lambda m: expected_start(m, j, now))

        return choose_broker
    raise InvalidInput("policy", f"unknown policy {name!r}; expected one of {', '.join(POLICIES)}")
