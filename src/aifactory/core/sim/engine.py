"""The event-driven simulator: a federation of GPU machines, each scheduling its own queue.

Machines. A machine has nodes of `gpus_per_node` GPUs. A job of at most one node's GPUs runs on one node (the node
with the fewest free GPUs that still fit it, then the lowest index); a wider job takes ceil(gpus / gpus_per_node)
whole nodes (the lowest-indexed free ones) and holds all their GPUs. A job's runtime on a machine is its trace
duration / the machine's speed; its estimated runtime there is its estimate / speed.

Scheduling on each machine: first come, first served with EASY backfilling, on the estimates.
  - Jobs start in arrival order while the first in the queue (the head) fits.
  - When the head does not fit, it gets a reservation: walking the running jobs in order of their ESTIMATED
    ends and releasing their GPUs, the shadow time is the first end at which it fits; it is reserved the
    lowest-indexed node that fits it then (for a wide job, the lowest-indexed whole nodes). The GPUs free at the
    shadow time beyond the reservation are the "spare" ones.
  - A later job starts now only if it fits now and either its estimated end is at or before the shadow time, or
    it uses only spare GPUs (which it then takes from the spare ones). So it never delays the head: estimates are
    never exceeded (see estimates.py), so every job ends at or before its estimated end.
  - The queue is scheduled again whenever a job ends. An arriving job on a non-empty queue is tried as a backfill
    against the head's reservation; as nothing else changed since the last pass, this is the same as a new pass.
Events at the same time: job ends first (all of them, then each touched machine is scheduled, in machine order),
then arrivals in trace order. Jobs are taken in submission order, so the same inputs give the same result.

What a policy sees of a machine, the start its scheduler expects for a job from the estimates, is worked out
in aifactory.core.sim.prediction.

A job wider than every machine (no candidate under the placement rules) is not run; it is counted in
`SimResult.too_wide`.
"""

from __future__ import annotations

import math
import time
from array import array
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any

import numpy as np
import numpy.typing as npt

from aifactory.core.exceptions import InvalidInput
from aifactory.core.placement import SIZE_LIMITS_MIN_JOBS, JobRequest, rejection
from aifactory.core.sim.arrivals import Chunk, RaisedArrivals
from aifactory.core.sim.estimates import estimate_stream
from aifactory.core.sim.federation import SimMachine
from aifactory.core.sim.machine import CLASSES, FAST_RELEASE_MIN_GPUS, MachineState, fenwick_add, runtime_class
from aifactory.core.sim.policies import SIZE_LIMITS_REFRESH, home_sites, make_policy
from aifactory.core.sim.prediction import SitePrediction
from aifactory.core.traces import Trace

Progress = Callable[[int, int], None]
"""Called with (jobs submitted so far, jobs in all) now and then during a run."""

_INF = math.inf
_SMALL_SCAN = 32
"""Backfill scans over at most this many queued jobs loop in Python; longer ones use array masks."""
Running = tuple[float, int, int, int, tuple[int, ...] | None]
"""A running job: (estimated end, job, GPUs held, its node or -1, its whole nodes or None), sorted as (end, job)."""
_Tables = tuple[list[bool], list[bool], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]


@dataclass(frozen=True, eq=False)
class SimResult:
    """One run: per job (in trace order) where and when it ran; -1 / NaN for jobs that were not run."""

    policy: str
    estimates: str
    machines: tuple[SimMachine, ...]
    submit_s: npt.NDArray[np.float64]
    duration_s: npt.NDArray[np.float64]
    gpus: npt.NDArray[np.int64]
    machine: npt.NDArray[np.int64]
    start_s: npt.NDArray[np.float64]
    finish_s: npt.NDArray[np.float64]
    allocated_gpus: npt.NDArray[np.int64]
    too_wide: int
    wall_s: float
    cpu_s: float = math.nan
    """CPU seconds of the process during the run (below wall_s when the machine is shared)."""
    predicted_start_s: npt.NDArray[np.float64] | None = None
    """Per job, the start the policy was told for the machine it chose (`SitePrediction.expected_start`), when it
    asked that machine's site before placing the job; NaN otherwise (and for jobs that were not run)."""

    @property
    def jobs_run(self) -> int:
        return int(np.count_nonzero(self.machine >= 0))

    @property
    def jobs_per_s(self) -> float:
        return len(self.submit_s) / self.wall_s if self.wall_s > 0 else math.inf

    @property
    def jobs_per_cpu_s(self) -> float:
        return len(self.submit_s) / self.cpu_s if self.cpu_s > 0 else math.inf


class _Engine(SitePrediction):
    def __init__(self, machines: Sequence[SimMachine], widths: Sequence[int], fast_release_min_gpus: int,
                 keep_project: bool) -> None:
        self.machines = [MachineState(i, spec, fast_release_min_gpus) for i, spec in enumerate(machines)]
        self.speeds = [spec.speed for spec in machines]
        self.total_gpus = [spec.total_gpus for spec in machines]
        self.busy_gpus = [0] * len(machines)
        self.queued_gpus = [0] * len(machines)
        # Per job, in compact arrays (8 bytes a job each, read back as Python numbers), filled chunk by chunk as
        # the arrivals come (`load`): 10 million jobs fit.
        self.submit: array[float] = array("d")
        self.duration: array[float] = array("d")
        self.gpus: array[int] = array("q")
        self.estimate_s: array[float] = array("d")
        self.project: array[int] = array("q")
        """Kept only for a policy that reads it (keep_project): home-site."""
        self.keep_project = keep_project
        self.estimate_quarter_octaves: array[float] = array("d")
        self.widths = sorted({int(g) for g in widths})
        self.width_class = {g: c for c, g in enumerate(self.widths)}
        self.dead = len(self.widths)
        for m in self.machines:
            m.queued_runtimes = [[] for _ in range(self.dead + 1)]
        self.tables: dict[tuple[int, int, int, int, int], _Tables] = {}
        self.machine_of: array[int] = array("q")
        self.start_s: array[float] = array("d")
        self.finish_s: array[float] = array("d")
        self.predicted_start_s: array[float] = array("d")
        self.told_job = [-1] * len(machines)
        self.told_start = [math.nan] * len(machines)
        self.heap: list[tuple[float, int, float]] = []
        """(end, job, estimated end) of the running jobs."""

    def load(self, chunk: Chunk, estimate: npt.NDArray[np.float64]) -> None:
        """Take the next jobs in submission order, with their estimates (A100 seconds)."""
        k = len(chunk)
        _extend(self.submit, chunk.submit_s, np.float64)
        _extend(self.duration, chunk.duration_s, np.float64)
        _extend(self.gpus, chunk.gpus, np.int64)
        _extend(self.estimate_s, estimate, np.float64)
        if self.keep_project:
            _extend(self.project, chunk.project, np.int64)
        with np.errstate(divide="ignore"):
            _extend(self.estimate_quarter_octaves, 4.0 * np.log2(np.asarray(estimate, dtype=np.float64)), np.float64)
        _extend(self.machine_of, np.full(k, -1, dtype=np.int64), np.int64)
        _extend(self.start_s, np.full(k, math.nan), np.float64)
        _extend(self.finish_s, np.full(k, math.nan), np.float64)
        _extend(self.predicted_start_s, np.full(k, math.nan), np.float64)

    # --- resources -------------------------------------------------------------------------------------------

    @staticmethod
    def _fit_now(m: MachineState, gpus: int) -> tuple[int, ...] | None:
        """Where a job starts now if it fits: the node with the fewest free GPUs that still holds it (the
        lowest-indexed of those), or for a wide job the lowest-indexed idle nodes; None if it does not fit."""
        per_node = m.gpus_per_node
        if gpus <= per_node:
            counts = m.nodes_with_free
            for free in range(gpus, per_node + 1):
                if counts[free]:
                    return (m.first_node_with(free),)
            return None
        nodes_needed = -(-gpus // per_node)
        if len(m.idle_nodes) < nodes_needed:
            return None
        return tuple(m.idle_nodes[:nodes_needed])

    def _start(self, job: int, m: MachineState, nodes: tuple[int, ...], t: float) -> None:
        gpus = self.gpus[job]
        end = t + self.estimate_s[job] / m.speed
        per_node = m.gpus_per_node
        entry: Running
        if gpus <= per_node:
            node = nodes[0]
            m.take(node, gpus)
            m.hold(node, end)
            m.busy_gpus += gpus
            entry = (end, job, gpus, node, None)
        else:
            for node in nodes:
                m.take(node, per_node)
                m.hold(node, end)
            held = per_node * len(nodes)
            m.busy_gpus += held
            entry = (end, job, held, -1, nodes)
        self.busy_gpus[m.index] = m.busy_gpus
        if m.fast_release:
            m.release_add(end, entry[2])
        insort(m.running, entry)
        self.machine_of[job] = m.index
        self.start_s[job] = t
        heappush(self.heap, (t + self.duration[job] / m.speed, job, end))
        m.version += 1

    def _release(self, job: int, m: MachineState, estimated_end: float) -> None:
        running = m.running
        at = bisect_left(running, (estimated_end, job))
        end, _, held, node, nodes = running[at]
        del running[at]
        if m.fast_release:
            m.release_remove(end, held)
        if nodes is None:
            m.give(node, held)
            m.unhold(node, end)
        else:
            per_node = m.gpus_per_node
            for node in nodes:
                m.give(node, per_node)
                m.unhold(node, end)
        m.busy_gpus -= held
        self.busy_gpus[m.index] = m.busy_gpus
        m.version += 1
        m.reservation_valid = False

    # --- the queue -------------------------------------------------------------------------------------------

    def _held_gpus(self, gpus: int, m: MachineState) -> int:
        """GPUs a job of `gpus` holds on the machine: its own, or whole nodes' for a wide job."""
        return gpus if gpus <= m.gpus_per_node else -(-gpus // m.gpus_per_node) * m.gpus_per_node

    def _enqueue(self, job: int, m: MachineState) -> None:
        if m.queue_end == m.queue_jobs.shape[0]:  # full: keep the live positions, in twice the room
            keep = np.flatnonzero(m.queue_width_class[m.queue_start:m.queue_end] != self.dead) + m.queue_start
            kept = keep.shape[0]
            size = 2 * kept + 16
            jobs, runtime, width = np.zeros(size, dtype=np.int64), np.zeros(size), np.zeros(size, dtype=np.int64)
            jobs[:kept], runtime[:kept], width[:kept] = (m.queue_jobs[keep], m.queue_runtime[keep],
                                                         m.queue_width_class[keep])
            m.queue_jobs, m.queue_runtime, m.queue_width_class = jobs, runtime, width
            m.queue_start, m.queue_end = 0, kept
        gpus = self.gpus[job]
        run_here = self.estimate_s[job] / m.speed
        p = m.queue_end
        m.queue_jobs[p] = job
        m.queue_runtime[p] = run_here
        c = self.width_class[gpus]
        m.queue_width_class[p] = c
        insort(m.queued_runtimes[c], run_here)
        m.queue_end = p + 1
        m.queued += 1
        cls = runtime_class(self.estimate_quarter_octaves[job], m.speed_quarter_octaves)
        fenwick_add(m.queued_work, cls, self._held_gpus(gpus, m) * run_here)
        self.queued_gpus[m.index] += gpus
        if gpus >= m.gpus_per_node:
            nodes = -(-gpus // m.gpus_per_node)
            counts = m.whole_queued.get(nodes)
            if counts is None:
                counts = m.whole_queued[nodes] = [0.0] * (CLASSES + 1)
            fenwick_add(counts, cls, 1.0)

    def _dequeue(self, p: int, m: MachineState) -> None:
        job = int(m.queue_jobs[p])
        gpus = self.gpus[job]
        runtimes = m.queued_runtimes[m.queue_width_class[p]]
        del runtimes[bisect_left(runtimes, float(m.queue_runtime[p]))]
        m.queue_width_class[p] = self.dead
        m.queued -= 1
        self.queued_gpus[m.index] -= gpus
        if m.queued == 0:
            m.queue_start = m.queue_end = 0
            m.queued_work = [0.0] * (CLASSES + 1)
            m.whole_queued.clear()
            return
        cls = runtime_class(self.estimate_quarter_octaves[job], m.speed_quarter_octaves)
        fenwick_add(m.queued_work, cls, -self._held_gpus(gpus, m) * float(m.queue_runtime[p]))
        if gpus >= m.gpus_per_node:
            fenwick_add(m.whole_queued[-(-gpus // m.gpus_per_node)], cls, -1.0)
        if p == m.queue_start:
            width = m.queue_width_class
            first = p + 1
            while width[first] == self.dead:
                first += 1
            m.queue_start = first

    # --- EASY backfilling ------------------------------------------------------------------------------------

    def _reserve(self, m: MachineState) -> None:
        """The head's reservation: its shadow time and the spare GPUs of the reserved nodes (see the module
        docstring and MachineState).

        A node is "ready" for the head when it holds the head's share: the head's GPUs for a job of at most one
        node, all its GPUs for a wide one; the head needs one ready node, or as many as its width takes. The shadow
        time is the first estimated end after which enough nodes are ready, the running jobs giving their GPUs back
        in order of estimated end, and the head is reserved the lowest-indexed nodes ready then. When the share is
        a whole node (every wide head, and a narrow one as wide as a node), a node is ready once it is idle, and the
        nodes in use are kept in order of the time they are idle again (MachineState.idle_order), so the shadow
        time is a lookup; otherwise the running jobs are walked (`_walk_to_shadow`)."""
        head_gpus = self.gpus[int(m.queue_jobs[m.queue_start])]
        per_node = m.gpus_per_node
        narrow = head_gpus <= per_node
        share = head_gpus if narrow else per_node
        nodes_needed = 1 if narrow else -(-head_gpus // per_node)
        ready_now = sum(m.nodes_with_free[share:])
        reserved: list[int] = []
        if share == per_node and ready_now < nodes_needed:
            shadow, ready_later = m.nodes_idle_by(nodes_needed - ready_now)
            if shadow < _INF:
                reserved = self._lowest_ready(m, ready_later, ready_now, share, nodes_needed)
            # a reserved node's jobs have all given their GPUs back by the shadow time: it is left none spare
            delta = {node: -m.free_gpus[node] for node in reserved}
        else:
            shadow, ready_later, gained = self._walk_to_shadow(m, share, nodes_needed, ready_now)
            if shadow < _INF:
                reserved = self._lowest_ready(m, ready_later, ready_now, share, nodes_needed)
            delta = {node: gained.get(node, 0) - share for node in reserved}
        m.shadow_time = shadow
        m.spare_delta = delta
        m.reservation_valid = True

    @staticmethod
    def _walk_to_shadow(m: MachineState, share: int, nodes_needed: int,
                        ready_now: int) -> tuple[float, list[int], dict[int, int]]:
        """The shadow time found by walking the running jobs in order of estimated end, a group of equal ends at a
        time, each giving its GPUs back to its nodes; with the nodes that became ready on the way and the GPUs each
        node touched got back by the shadow time (inf and every running job's if the head never fits). Nothing
        outside the nodes the walk touches is copied, so the cost is that of the jobs walked."""
        per_node = m.gpus_per_node
        free = m.free_gpus
        gained: dict[int, int] = {}
        ready_later: list[int] = []
        count = ready_now
        shadow = _INF
        group = _INF  # the end of the group of equal ends walked last
        get = gained.get
        for end, _, held, node, nodes in m.running:
            if end != group:
                if count >= nodes_needed and group < _INF:
                    shadow = group
                    break
                group = end
            if nodes is None:
                given = get(node, 0)
                before = free[node] + given
                gained[node] = given + held
                if before < share <= before + held:
                    ready_later.append(node)
                    count += 1
            else:
                for node in nodes:
                    given = get(node, 0)
                    before = free[node] + given
                    gained[node] = given + per_node
                    if before < share <= before + per_node:
                        ready_later.append(node)
                        count += 1
        else:
            if count >= nodes_needed and group < _INF:
                shadow = group
        return shadow, ready_later, gained

    def _lowest_ready(self, m: MachineState, ready_later: list[int], ready_now: int, share: int,
                      nodes_needed: int) -> list[int]:
        """The lowest-indexed `nodes_needed` nodes among those ready at the shadow time: `ready_later` and the
        `ready_now` ones that hold the share now."""
        ready = sorted(ready_later)
        if ready_now:
            ready = sorted(ready + self._ready_now(m, share, nodes_needed))
        return ready[:nodes_needed]

    @staticmethod
    def _ready_now(m: MachineState, share: int, count: int) -> list[int]:
        """The lowest-indexed `count` nodes (at most) with at least `share` GPUs free now."""
        return sorted(node for level in range(share, m.gpus_per_node + 1) for node in m.nodes_by_free[level])[:count]

    def _backfill_nodes(self, m: MachineState, gpus: int, run_here: float, t: float) -> tuple[int, ...] | None:
        """Where a job may start now on a machine with a queue without delaying the head, or None. Changes no
        state but the (lazily computed) reservation."""
        if not m.fits_now(gpus):
            return None
        if not m.reservation_valid:
            self._reserve(m)
        if t + run_here <= m.shadow_time:
            return self._fit_now(m, gpus)
        per_node = m.gpus_per_node
        delta = m.spare_delta
        if gpus <= per_node:  # the fullest node that holds it on spare GPUs, the lowest-indexed of those
            for level in range(gpus, per_node + 1):
                for node in m.nodes_by_free[level]:
                    if level + delta.get(node, 0) >= gpus:
                        return (node,)
            return None
        nodes_needed = -(-gpus // per_node)
        if not delta:
            picked = m.idle_nodes[:nodes_needed]
        else:  # idle nodes whose GPUs are all spare (the reserved ones are not)
            picked = []
            for node in m.idle_nodes:
                if delta.get(node, 0) >= 0:
                    picked.append(node)
                    if len(picked) == nodes_needed:
                        break
        return tuple(picked) if len(picked) == nodes_needed else None

    def _backfill(self, job: int, m: MachineState, t: float) -> bool:
        """Start `job` now if it fits and does not delay the head's reservation."""
        gpus = self.gpus[job]
        run_here = self.estimate_s[job] / m.speed
        nodes = self._backfill_nodes(m, gpus, run_here, t)
        if nodes is None:
            return False
        if t + run_here <= m.shadow_time:  # it ends before the shadow: the GPUs it takes are spare again by then
            held = gpus if gpus <= m.gpus_per_node else m.gpus_per_node
            for node in nodes:
                m.spare_delta[node] = m.spare_delta.get(node, 0) + held
        self._start(job, m, nodes, t)
        return True

    def _tables(self, m: MachineState) -> _Tables:
        """Per width class: fits now; fits now on spare GPUs only (as lists and as arrays). The dead class:
        False."""
        per_node = m.gpus_per_node
        most_free = m.most_free()
        idle = m.nodes_with_free[per_node]
        short = [(node, d) for node, d in m.spare_delta.items() if d < 0]  # nodes with fewer spare GPUs than free
        if short:
            free = m.free_gpus
            below_free = [0] * (per_node + 1)
            most_spare = 0
            for node, d in short:
                below_free[free[node]] += 1
                most_spare = max(most_spare, free[node] + d)
            level = most_free
            while level > most_spare and m.nodes_with_free[level] == below_free[level]:
                level -= 1
            most_spare = max(most_spare, level)
            idle_spare = idle - below_free[per_node]
        else:
            most_spare, idle_spare = most_free, idle
        key = (per_node, most_free, most_spare, idle, idle_spare)
        known = self.tables.get(key)
        if known is not None:
            return known
        fit: list[bool] = []
        spare: list[bool] = []
        for g in self.widths:
            if g <= per_node:
                fit.append(g <= most_free)
                spare.append(g <= most_spare)
            else:
                nodes_needed = -(-g // per_node)
                fit.append(idle >= nodes_needed)
                spare.append(idle_spare >= nodes_needed)
        fit.append(False)
        spare.append(False)
        tables = (fit, spare, np.array(fit, dtype=np.bool_), np.array(spare, dtype=np.bool_))
        self.tables[key] = tables
        return tables

    @staticmethod
    def _may_backfill(m: MachineState, t: float, tables: _Tables) -> bool:
        """Whether some queued job may start now by the machine's `tables` (`_tables`): one of a width class that
        fits now, either on spare GPUs or with its estimated end by the shadow time (looked up as the class's shortest
        runtime). The head is counted too, which can only turn a no into a yes: the scan that follows decides."""
        fit, spare, _, _ = tables
        shadow = m.shadow_time
        for c, runtimes in enumerate(m.queued_runtimes):
            if runtimes and fit[c] and (spare[c] or t + runtimes[0] <= shadow):
                return True
        return False

    def _schedule(self, m: MachineState, t: float) -> None:
        """Start what can start on `m` at `t`: the head while it fits, then backfill."""
        gpus = self.gpus
        while m.queued:
            p = m.queue_start
            job = int(m.queue_jobs[p])
            nodes = self._fit_now(m, gpus[job])
            if nodes is None:
                break
            self._dequeue(p, m)
            self._start(job, m, nodes, t)
        m.reservation_valid = False
        if not m.queued or m.most_free() == 0:
            return
        self._reserve(m)
        shadow = m.shadow_time
        p0 = m.queue_start + 1
        # Nothing is scanned when no width class in the queue may backfill (`_may_backfill`). A long queue is
        # scanned once with array masks for the positions that may backfill, and only those are tried again after
        # a backfill: a backfill only takes GPUs, so it never lets a job fit (now, or on spare GPUs) that did not
        # before, and the shadow time stays.
        first = self._tables(m)
        if not self._may_backfill(m, t, first):
            return
        tables: _Tables | None = first
        hits: list[int] | None = None
        tried = 0
        while p0 < m.queue_end and m.most_free() > 0:
            fit, spare, fit_arr, spare_arr = tables if tables is not None else self._tables(m)
            tables = None  # a backfill changes them
            p = -1
            if hits is None and m.queue_end - p0 <= _SMALL_SCAN:  # a short stretch of queue in Python
                for k, c in enumerate(m.queue_width_class[p0:m.queue_end].tolist()):
                    if fit[c] and (spare[c] or t + float(m.queue_runtime[p0 + k]) <= shadow):
                        p = p0 + k
                        break
            else:
                if hits is None:
                    width = m.queue_width_class[p0:m.queue_end]
                    ok = fit_arr[width] & ((t + m.queue_runtime[p0:m.queue_end] <= shadow) | spare_arr[width])
                    hits = (np.flatnonzero(ok) + p0).tolist()
                while tried < len(hits):
                    q = hits[tried]
                    tried += 1
                    c = int(m.queue_width_class[q])
                    if fit[c] and (spare[c] or t + float(m.queue_runtime[q]) <= shadow):
                        p = q
                        break
            if p < 0:
                return
            job = int(m.queue_jobs[p])
            if not self._backfill(job, m, t):  # the tables are exact, so this does not happen
                raise RuntimeError(f"backfill tables disagree for job {job}")
            self._dequeue(p, m)
            p0 = p + 1

    def _arrive(self, job: int, m: MachineState, t: float) -> None:
        if not m.queued:
            nodes = self._fit_now(m, self.gpus[job])
            if nodes is not None:
                self._start(job, m, nodes, t)
                return
            self._enqueue(job, m)
            m.reservation_valid = False
            return
        if not self._backfill(job, m, t):
            self._enqueue(job, m)

    # --- the event loop ----------------------------------------------------------------------------------------

    def run(self, choose: Callable[[int, float, Sequence[int]], int], cands_of: dict[int, list[int]],
            feed: Iterable[tuple[Chunk, npt.NDArray[np.float64]]], jobs: int, progress: Progress | None,
            every: int) -> int:
        """Run the arrivals of `feed` (chunks in submission order with their estimates; `jobs` in all, for the
        progress) to the end of the last job. Returns the number of jobs too wide for every machine."""
        submit = self.submit
        gpus = self.gpus
        heap = self.heap
        machines = self.machines
        machine_of = self.machine_of
        finish = self.finish_s
        predicted = self.predicted_start_s
        told_job, told_start = self.told_job, self.told_start
        release = self._release
        arrive = self._arrive
        too_wide = 0
        i = 0
        for chunk, estimate in feed:
            self.load(chunk, estimate)
            n = len(submit)
            while i < n:
                t_next = submit[i]
                while heap and heap[0][0] <= t_next:  # the ends up to the next arrival, a time at a time
                    t = heap[0][0]
                    _, job, estimated_end = heappop(heap)
                    mi = machine_of[job]
                    release(job, machines[mi], estimated_end)
                    finish[job] = t
                    if heap and heap[0][0] == t:
                        touched = [mi]
                        while heap and heap[0][0] == t:
                            _, job, estimated_end = heappop(heap)
                            mi = machine_of[job]
                            release(job, machines[mi], estimated_end)
                            finish[job] = t
                            if mi not in touched:
                                touched.append(mi)
                        touched.sort()
                        for mi in touched:
                            if machines[mi].queued:
                                self._schedule(machines[mi], t)
                    elif machines[mi].queued:
                        self._schedule(machines[mi], t)
                job = i
                i += 1
                if progress is not None and i % every == 0:
                    progress(i, jobs)
                cands = cands_of[gpus[job]]
                if not cands:
                    too_wide += 1
                    continue
                mi = choose(job, t_next, cands)
                if told_job[mi] == job:  # the policy asked this machine's site: keep what it was told
                    predicted[job] = told_start[mi]
                arrive(job, machines[mi], t_next)
        while heap:
            t = heap[0][0]
            touched = []
            while heap and heap[0][0] == t:
                _, job, estimated_end = heappop(heap)
                mi = machine_of[job]
                release(job, machines[mi], estimated_end)
                finish[job] = t
                if mi not in touched:
                    touched.append(mi)
            touched.sort()
            for mi in touched:
                if machines[mi].queued:
                    self._schedule(machines[mi], t)
        if progress is not None:
            progress(len(submit), jobs)
        return too_wide


def _extend(out: array[Any], values: npt.NDArray[Any], dtype: type[np.generic]) -> None:
    out.frombytes(np.ascontiguousarray(values, dtype=dtype).tobytes())


def candidates_by_width(machines: Sequence[SimMachine], widths: Sequence[int]) -> dict[int, list[int]]:
    """For each job width, the machines the placement rules accept (aifactory.core.placement.rejection)."""
    views = [m.view() for m in machines]
    out: dict[int, list[int]] = {}
    for g in sorted(set(widths)):
        job = JobRequest(gpus=g, estimate_s=0.0)
        out[g] = [i for i, v in enumerate(views) if rejection(job, v) is None]
    return out


def simulate(trace: Trace, machines: Sequence[SimMachine], policy: str, estimate_s: npt.NDArray[np.float64],
             *, seed: int = 0, estimates_label: str = "", progress: Progress | None = None,
             progress_every: int = 8192, size_min_jobs: int = SIZE_LIMITS_MIN_JOBS,
             size_refresh: int = SIZE_LIMITS_REFRESH,
             fast_release_min_gpus: int = FAST_RELEASE_MIN_GPUS) -> SimResult:
    """Run `trace` on `machines` under `policy`, the policies seeing `estimate_s` (A100 seconds per job) as the
    users' runtime estimates. Deterministic: the same inputs and seed give the same result. `size_min_jobs` and
    `size_refresh` are the broker policy's (aifactory.core.sim.policies); machines of at least
    `fast_release_min_gpus` GPUs keep their releases by time bucket (aifactory.core.sim.machine)."""
    n = len(trace)
    if estimate_s.shape != (n,):
        raise InvalidInput("estimates", f"need one per job ({n}), got shape {estimate_s.shape}")
    home = None
    if policy == "home-site":
        home = _project_demand(trace.duration_s, trace.gpus, trace.project, len(trace.projects), machines)
    feed = ((Chunk(trace.submit_s, trace.duration_s, trace.gpus, trace.project), estimate_s),)
    return _simulate(feed, n, np.unique(trace.gpus).tolist(), machines, policy, home, seed=seed,
                     estimates_label=estimates_label, progress=progress, progress_every=progress_every,
                     size_min_jobs=size_min_jobs, size_refresh=size_refresh,
                     fast_release_min_gpus=fast_release_min_gpus)


def simulate_arrivals(arrivals: RaisedArrivals, machines: Sequence[SimMachine], policy: str, estimates_kind: str,
                      *, seed: int = 0, progress: Progress | None = None, progress_every: int = 8192,
                      size_min_jobs: int = SIZE_LIMITS_MIN_JOBS, size_refresh: int = SIZE_LIMITS_REFRESH,
                      fast_release_min_gpus: int = FAST_RELEASE_MIN_GPUS) -> SimResult:
    """`simulate` on arrivals generated chunk by chunk (aifactory.core.sim.arrivals), the estimates drawn chunk by
    chunk as `estimates(estimates_kind, durations, seed)` draws them for the whole run: the result of `simulate`
    on the materialised trace, which is never built."""
    draw = estimate_stream(estimates_kind, seed)
    home = None
    if policy == "home-site":
        demand = np.zeros(arrivals.projects)
        widest = np.zeros(arrivals.projects, dtype=np.int64)
        for chunk in arrivals.chunks():
            d, w = _project_demand(chunk.duration_s, chunk.gpus, chunk.project, arrivals.projects, machines)
            demand += d
            np.maximum(widest, w, out=widest)
        home = (demand, widest)
    feed = ((chunk, draw(chunk.duration_s)) for chunk in arrivals.chunks())
    return _simulate(feed, len(arrivals), arrivals.widths, machines, policy, home, seed=seed,
                     estimates_label=estimates_kind, progress=progress, progress_every=progress_every,
                     size_min_jobs=size_min_jobs, size_refresh=size_refresh,
                     fast_release_min_gpus=fast_release_min_gpus)


def _project_demand(duration_s: npt.NDArray[np.float64], gpus: npt.NDArray[np.int64], project: npt.NDArray[np.int64],
                    projects: int, machines: Sequence[SimMachine]) -> tuple[npt.NDArray[np.float64],
                                                                            npt.NDArray[np.int64]]:
    """Per project, the GPU-seconds of its jobs that fit some machine, and its widest such job."""
    cands = candidates_by_width(machines, np.unique(gpus).tolist())
    ok = np.isin(gpus, [g for g, c in cands.items() if c])
    demand = np.asarray(np.bincount(project[ok], weights=(duration_s * gpus)[ok], minlength=projects),
                        dtype=np.float64)
    widest = np.zeros(projects, dtype=np.int64)
    np.maximum.at(widest, project[ok], gpus[ok])
    return demand, widest


def _simulate(feed: Iterable[tuple[Chunk, npt.NDArray[np.float64]]], n: int, widths: Sequence[int],
              machines: Sequence[SimMachine], policy: str,
              home: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]] | None, *, seed: int,
              estimates_label: str, progress: Progress | None, progress_every: int, size_min_jobs: int,
              size_refresh: int, fast_release_min_gpus: int) -> SimResult:
    if not machines:
        raise InvalidInput("machines", "no machine to simulate")
    for spec in machines:
        if spec.nodes < 1 or spec.gpus_per_node < 1 or not (spec.speed > 0 and math.isfinite(spec.speed)):
            raise InvalidInput("machines", f"{spec.key}: needs nodes >= 1, gpus_per_node >= 1 and a positive speed")
    engine = _Engine(machines, widths, fast_release_min_gpus, keep_project=policy == "home-site")
    cands = candidates_by_width(machines, engine.widths)
    homes = None
    if home is not None:
        demand, widest = home
        homes = home_sites(demand.tolist(), widest.tolist(), [m.capacity for m in machines],
                           lambda g, m: m in cands[g])
    fastest = {g: max(c, key=lambda m: (machines[m].speed, -m)) for g, c in cands.items() if c}
    choose = make_policy(policy, engine, seed, home=homes, fastest_by_width=fastest, size_min_jobs=size_min_jobs,
                         size_refresh=size_refresh)

    def checked() -> Iterator[tuple[Chunk, npt.NDArray[np.float64]]]:
        for chunk, est in feed:
            if est.shape != (len(chunk),):
                raise InvalidInput("estimates", f"need one per job ({len(chunk)}), got shape {est.shape}")
            if len(chunk) and not bool(np.all(est >= chunk.duration_s)):
                raise InvalidInput("estimates",
                                   "an estimate is below its job's duration; estimates must be >= durations")
            yield chunk, est

    t0, c0 = time.perf_counter(), time.process_time()
    too_wide = engine.run(choose, cands, checked(), n, progress, max(1, progress_every))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    where = np.frombuffer(engine.machine_of, dtype=np.int64)
    gpus = np.frombuffer(engine.gpus, dtype=np.int64)
    per_node = np.array([m.gpus_per_node for m in machines], dtype=np.int64)
    alloc = np.zeros(where.shape[0], dtype=np.int64)
    ran = where >= 0
    g_ran = gpus[ran]
    node_gpus = per_node[where[ran]]
    alloc[ran] = np.where(g_ran <= node_gpus, g_ran, -(-g_ran // node_gpus) * node_gpus)
    return SimResult(policy=policy, estimates=estimates_label, machines=tuple(machines),
                     submit_s=np.frombuffer(engine.submit, dtype=np.float64),
                     duration_s=np.frombuffer(engine.duration, dtype=np.float64), gpus=gpus, machine=where,
                     start_s=np.frombuffer(engine.start_s, dtype=np.float64),
                     finish_s=np.frombuffer(engine.finish_s, dtype=np.float64),
                     allocated_gpus=alloc, too_wide=too_wide, wall_s=wall, cpu_s=cpu,
                     predicted_start_s=np.frombuffer(engine.predicted_start_s, dtype=np.float64))
