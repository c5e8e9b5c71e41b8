"""A simulated machine's live state (see aifactory.core.sim.engine for how it is used).

A machine at its real size has thousands of nodes, so nothing the engine does per job walks every node: the nodes
are also counted by how many GPUs they have free (`nodes_with_free`), and those with at least one GPU free are
kept in sorted lists of their indices by free GPUs (`nodes_by_free`; `idle_nodes` is the list of the wholly free
ones). Every change of a node's free GPUs goes through `take` and `give`, which keep them in step.

The nodes in use are also kept in order of the time they are expected to be wholly free again, the latest
estimated end of their jobs (`idle_order`, kept by `hold` and `unhold`), so that the time by which k more nodes
are idle is a lookup rather than a walk over the running jobs.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort

import numpy as np

from aifactory.core.placement import SIZE_CLASSES
from aifactory.core.sim.federation import SimMachine

INF = math.inf
CLASSES = SIZE_CLASSES
"""Runtime classes for the work queued ahead of a job: the broker's size classes (core.placement.size_class), class
1 + floor(4 log2(estimated runtime in s)), so a class spans a quarter octave (19%); class 0 holds runs under one
second. `runtime_class` computes the same class from logarithms the engine keeps per job and per machine."""


BUCKET_S = 1024.0
"""Width of the time buckets of the running jobs' estimated ends (a power of two, so bucket edges are exact)."""
FAST_RELEASE_MIN_GPUS = 2048
"""Machines of at least this many GPUs keep their running jobs' releases by time bucket (`release_held`,
`release_work`), so that the expected start of a job behind a queue is found without walking every running job
(aifactory.core.sim.prediction); smaller machines walk them."""


def runtime_class(estimate_quarter_octaves: float, speed_quarter_octaves: float) -> int:
    """The runtime class of a job on a machine, from 4 log2(its estimate) and 4 log2(the machine's speed)."""
    x = estimate_quarter_octaves - speed_quarter_octaves  # 4 log2(estimate / speed)
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


def _fenwick_add_pair(held_tree: list[int], work_tree: list[float], i: int, held: int, work: float) -> None:
    n = len(held_tree)
    while i < n:
        held_tree[i] += held
        work_tree[i] += work
        i += i & -i


class MachineState:
    """A machine's live state.

    Nodes: free_gpus[i], the free GPUs of node i; nodes_with_free[k], how many nodes have exactly k free;
    nodes_by_free[k] (k >= 1), their indices, sorted; idle_nodes is nodes_by_free[gpus_per_node].
    running: (estimated end, job, GPUs held, node or -1, whole nodes or None) per running job, sorted.
    node_ends[i]: the estimated ends of the jobs on node i, sorted; idle_order: (latest of them, node) for every
    node with a job, sorted: the order in which the nodes in use become idle if every job runs to its estimate.

    The queue: arrays over positions queue_start..queue_end-1 in arrival order (job, estimated runtime here,
    width class; a removed job's class is the dead one); queued counts the jobs in it. queued_work: a Fenwick
    tree of the queued GPU-seconds (estimated, here) by runtime class. whole_queued: for the queued jobs that take
    whole nodes (as wide as a node, or wider), by the nodes each takes, a Fenwick tree of their count by runtime
    class. queued_runtimes: per width class (set by the engine), the estimated runtimes here of its queued jobs,
    sorted.

    The head's reservation (valid while reservation_valid): shadow_time, when the first queued job is expected
    to start; spare_delta, for the reserved nodes, the GPUs free at the shadow time beyond the reservation
    ("spare") less the GPUs free now. A job starting now and running past the shadow time may use a node's GPUs
    that are both free now and spare; on a node not in spare_delta all its free GPUs are (its spare GPUs are at
    least its free ones, as the jobs on it only give GPUs back until the shadow time), so only the reserved
    nodes are kept.

    What a policy is told (aifactory.core.sim.prediction): start_cache, the expected start by job width while
    the queue is empty; the running jobs' release profile (release_*), both valid while their version equals
    `version`, which is bumped whenever a job starts or ends here.
    """

    __slots__ = ("index", "speed", "speed_quarter_octaves", "gpus_per_node", "nodes", "total_gpus",
                 "free_gpus", "nodes_with_free", "nodes_by_free", "idle_nodes", "node_ends", "idle_order", "running",
                 "busy_gpus", "queued_work",
                 "queue_jobs", "queue_runtime", "queue_width_class", "queue_start", "queue_end", "queued",
                 "version", "start_cache", "start_cache_version",
                 "reservation_valid", "shadow_time", "spare_delta",
                 "release_version", "release_from", "release_walked", "release_ends", "release_free_before",
                 "release_area", "release_free_after", "fast_release", "release_size", "release_held", "release_work",
                 "whole_queued", "queued_runtimes")

    def __init__(self, index: int, spec: SimMachine, fast_release_min_gpus: int = FAST_RELEASE_MIN_GPUS) -> None:
        self.index = index
        self.speed = spec.speed
        self.speed_quarter_octaves = 4.0 * math.log2(spec.speed)
        self.gpus_per_node = spec.gpus_per_node
        self.nodes = spec.nodes
        self.total_gpus = spec.total_gpus
        self.free_gpus = [spec.gpus_per_node] * spec.nodes
        self.nodes_with_free = [0] * spec.gpus_per_node + [spec.nodes]
        self.nodes_by_free: list[list[int]] = [[] for _ in range(spec.gpus_per_node)] + [list(range(spec.nodes))]
        self.idle_nodes = self.nodes_by_free[spec.gpus_per_node]
        self.node_ends: list[list[float]] = [[] for _ in range(spec.nodes)]
        self.idle_order: list[tuple[float, int]] = []
        self.running: list[tuple[float, int, int, int, tuple[int, ...] | None]] = []
        self.busy_gpus = 0
        self.queued_work = [0.0] * (CLASSES + 1)
        self.queue_jobs = np.zeros(16, dtype=np.int64)
        self.queue_runtime = np.zeros(16, dtype=np.float64)
        self.queue_width_class = np.zeros(16, dtype=np.int64)
        self.queue_start = 0
        self.queue_end = 0
        self.queued = 0
        self.version = 0
        self.start_cache: dict[int, float] = {}
        self.start_cache_version = -1
        self.reservation_valid = False
        self.shadow_time = INF
        self.spare_delta: dict[int, int] = {}
        self.release_version = -1
        self.release_from = 0.0
        self.release_walked = 0
        self.release_ends: list[float] = []
        self.release_free_before: list[int] = []
        self.release_area: list[float] = []
        self.release_free_after: list[int] = []
        self.fast_release = spec.total_gpus >= fast_release_min_gpus
        self.release_size = 0
        # plain lists rather than typed arrays: a list item is updated in place without boxing the number anew
        self.release_held: list[int] = []
        self.release_work: list[float] = []
        self.whole_queued: dict[int, list[float]] = {}
        self.queued_runtimes: list[list[float]] = []

    # --- nodes ---------------------------------------------------------------------------------------------------

    def _move(self, node: int, before: int, after: int) -> None:
        self.free_gpus[node] = after
        self.nodes_with_free[before] -= 1
        self.nodes_with_free[after] += 1
        if before:
            listed = self.nodes_by_free[before]
            del listed[bisect_left(listed, node)]
        if after:
            insort(self.nodes_by_free[after], node)

    def take(self, node: int, gpus: int) -> None:
        """Node `node` gives `gpus` of its free GPUs to a job."""
        before = self.free_gpus[node]
        self._move(node, before, before - gpus)

    def give(self, node: int, gpus: int) -> None:
        """A job gives `gpus` GPUs back to node `node`."""
        before = self.free_gpus[node]
        self._move(node, before, before + gpus)

    def hold(self, node: int, end: float) -> None:
        """A job starts on node `node` (one of its nodes for a wide job), expected to end at `end`."""
        ends = self.node_ends[node]
        if not ends:
            ends.append(end)
            insort(self.idle_order, (end, node))
        elif end > ends[-1]:
            order = self.idle_order
            del order[bisect_left(order, (ends[-1], node))]
            ends.append(end)
            insort(order, (end, node))
        else:
            insort(ends, end)

    def unhold(self, node: int, end: float) -> None:
        """A job expected to end at `end` leaves node `node`."""
        ends = self.node_ends[node]
        latest = ends[-1]
        if end < latest:
            del ends[bisect_left(ends, end)]
            return
        ends.pop()
        if not ends or ends[-1] != latest:  # the node's idle time moves earlier, or the node is idle
            order = self.idle_order
            del order[bisect_left(order, (latest, node))]
            if ends:
                insort(order, (ends[-1], node))

    def nodes_idle_by(self, count: int) -> tuple[float, list[int]]:
        """The earliest estimated end by which `count` (>= 1) more nodes are idle, and the nodes in use that are
        idle by then (ties included, in order of idle time); (inf, []) if fewer nodes are in use."""
        order = self.idle_order
        if len(order) < count:
            return INF, []
        when = order[count - 1][0]
        return when, [node for _, node in order[:bisect_right(order, (when, INF))]]

    # --- releases by time bucket (machines with fast_release) -----------------------------------------------

    def release_add(self, end: float, held: int) -> None:
        """A job holding `held` GPUs until the estimated end `end` starts (call before it joins `running`)."""
        b = int(end // BUCKET_S) + 1
        if b > self.release_size:
            self._release_grow(b)
        _fenwick_add_pair(self.release_held, self.release_work, b, held, held * end)

    def release_remove(self, end: float, held: int) -> None:
        """A job holding `held` GPUs until the estimated end `end` ends."""
        _fenwick_add_pair(self.release_held, self.release_work, int(end // BUCKET_S) + 1, -held, -(held * end))

    def _release_grow(self, bucket: int) -> None:
        size = max(2 * self.release_size, bucket, 1024)
        self.release_size = size
        self.release_held = [0] * (size + 1)
        self.release_work = [0.0] * (size + 1)
        for end, _, held, _, _ in self.running:
            _fenwick_add_pair(self.release_held, self.release_work, int(end // BUCKET_S) + 1, held, held * end)

    def most_free(self) -> int:
        """The most GPUs free on one node."""
        counts = self.nodes_with_free
        level = self.gpus_per_node
        while level and not counts[level]:
            level -= 1
        return level

    def fits_now(self, gpus: int) -> bool:
        """Whether a job of `gpus` GPUs could start now: on one node, or on whole idle nodes for a wide job."""
        if gpus <= self.gpus_per_node:
            return self.most_free() >= gpus
        return len(self.idle_nodes) * self.gpus_per_node >= gpus

    def first_node_with(self, free: int) -> int:
        """The lowest-indexed node with exactly `free` (>= 1) GPUs free (there is one)."""
        return self.nodes_by_free[free][0]
