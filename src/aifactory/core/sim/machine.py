"""A simulated machine's live state (see aifactory.core.sim.engine for how it is used)."""

from __future__ import annotations

import math

import numpy as np

from aifactory.core.sim.federation import SimMachine

INF = math.inf
CLASSES = 160
"""Runtime classes for the work queued ahead of a job: class 1 + floor(4 log2(estimated runtime in s)), so a class
spans a quarter octave (19%); class 0 holds runs under one second."""


def runtime_class(est4: float, speed4: float) -> int:
    """The runtime class of a job on a machine, from 4 log2(estimate) and 4 log2(speed)."""
    x = est4 - speed4  # 4 log2(estimate / speed)
    if x < 0.0:
        return 0
    c = 1 + int(x)
    return c if c < CLASSES else CLASSES - 1


def fenwick_add(tree: list[float], cls: int, value: float) -> None:
    i = cls + 1
    n = len(tree)
    while i < n:
        tree[i] += value
        i += i & -i


def fenwick_sum(tree: list[float], cls: int) -> float:
    """Sum over classes 0..cls."""
    i = cls + 1
    total = 0.0
    while i > 0:
        total += tree[i]
        i -= i & -i
    return total


class MachineState:
    """A machine's live state.

    free[i]: free GPUs on node i; busy_ends[i]: the estimated ends of node i's busy GPUs, sorted, one per GPU;
    running: (estimated end, job), sorted. The queue: arrays over positions lo..hi-1 in arrival order (job,
    estimated runtime here, width class; a removed job's class is the dead one). work: a Fenwick tree of the
    queued GPU-seconds (estimated, here) by runtime class.
    """

    __slots__ = ("index", "speed", "speed4", "gpn", "n", "total", "free", "busy_ends", "running", "busy", "work",
                 "qjobs", "qrun", "qcls", "lo", "hi", "qlen", "version", "cache", "cache_version",
                 "res_ok", "shadow", "extra",
                 "prof_version", "prof_t0", "prof_end", "prof_cap", "prof_area", "prof_after")

    def __init__(self, index: int, spec: SimMachine) -> None:
        self.index = index
        self.speed = spec.speed
        self.speed4 = 4.0 * math.log2(spec.speed)
        self.gpn = spec.gpus_per_node
        self.n = spec.nodes
        self.total = spec.total_gpus
        self.free = [spec.gpus_per_node] * spec.nodes
        self.busy_ends: list[list[float]] = [[] for _ in range(spec.nodes)]
        self.running: list[tuple[float, int]] = []
        self.busy = 0
        self.work = [0.0] * (CLASSES + 1)
        self.qjobs = np.zeros(16, dtype=np.int64)
        self.qrun = np.zeros(16, dtype=np.float64)
        self.qcls = np.zeros(16, dtype=np.int64)
        self.lo = 0
        self.hi = 0
        self.qlen = 0
        self.version = 0  # bumped whenever a job starts or ends here
        self.cache: dict[int, float] = {}
        self.cache_version = -1
        self.res_ok = False  # whether shadow and extra hold the head's reservation
        self.shadow = INF
        self.extra: list[int] = []
        self.prof_version = -1
        self.prof_t0 = 0.0
        self.prof_end: list[float] = []
        self.prof_cap: list[int] = []
        self.prof_area: list[float] = []
        self.prof_after: list[int] = []


