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
    shadow time beyond the reservation are the "extra" ones.
  - A later job starts now only if it fits now and either its estimated end is at or before the shadow time, or
    it uses only extra GPUs (which it then takes from the extra ones). So it never delays the head: estimates are
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
from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from heapq import heappop, heappush

import numpy as np
import numpy.typing as npt

from aifactory.core.exceptions import InvalidInput
from aifactory.core.placement import SIZE_LIMITS_MIN_JOBS, JobRequest, rejection
from aifactory.core.sim.federation import SimMachine
from aifactory.core.sim.machine import CLASSES, MachineState, fenwick_add, runtime_class
from aifactory.core.sim.policies import SIZE_LIMITS_REFRESH, home_sites, make_policy
from aifactory.core.sim.prediction import SitePrediction
from aifactory.core.traces import Trace

Progress = Callable[[int, int], None]
"""Called with (jobs submitted so far, jobs in all) now and then during a run."""

_INF = math.inf
_SMALL_SCAN = 32
"""Backfill scans over at most this many queued jobs loop in Python; longer ones use array masks."""
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

    @property
    def jobs_run(self) -> int:
        return int(np.count_nonzero(self.machine >= 0))

    @property
    def jobs_per_s(self) -> float:
        return len(self.submit_s) / self.wall_s if self.wall_s > 0 else math.inf


class _Engine(SitePrediction):
    def __init__(self, machines: Sequence[SimMachine], submit: list[float], duration: list[float], gpus: list[int],
                 estimate: list[float], project: list[int]) -> None:
        self.m = [MachineState(i, spec) for i, spec in enumerate(machines)]
        self.speeds = [spec.speed for spec in machines]
        self.total_gpus = [spec.total_gpus for spec in machines]
        self.busy_gpus = [0] * len(machines)
        self.queued_gpus = [0] * len(machines)
        self.submit = submit
        self.duration = duration
        self.gpus = gpus
        self.estimate_s = estimate
        self.project = project
        with np.errstate(divide="ignore"):
            self.est4: list[float] = (4.0 * np.log2(np.asarray(estimate, dtype=np.float64))).tolist()
        self.widths = sorted(set(gpus))
        self.width_class = {g: c for c, g in enumerate(self.widths)}
        self.dead = len(self.widths)
        self.tables: dict[tuple[int, int, int, int, int], _Tables] = {}
        n = len(submit)
        self.est_end = [0.0] * n
        self.alloc: list[tuple[int, ...]] = [()] * n
        self.where = [-1] * n
        self.start = [math.nan] * n
        self.finish = [math.nan] * n
        self.heap: list[tuple[float, int]] = []

    # --- resources -------------------------------------------------------------------------------------------

    @staticmethod
    def _fit_now(m: MachineState, g: int) -> tuple[int, ...] | None:
        free = m.free
        gpn = m.gpn
        if g <= gpn:
            for k in range(g, gpn + 1):
                if k in free:
                    return (free.index(k),)
            return None
        need = -(-g // gpn)
        if free.count(gpn) < need:
            return None
        out: list[int] = []
        for i, f in enumerate(free):
            if f == gpn:
                out.append(i)
                if len(out) == need:
                    break
        return tuple(out)

    def _start(self, j: int, m: MachineState, nodes: tuple[int, ...], t: float) -> None:
        g = self.gpus[j]
        gpn = m.gpn
        e = t + self.estimate_s[j] / m.speed
        if g <= gpn:
            node = nodes[0]
            m.free[node] -= g
            be = m.busy_ends[node]
            for _ in range(g):
                insort(be, e)
            m.busy += g
        else:
            for node in nodes:
                m.free[node] = 0
                m.busy_ends[node] = [e] * gpn
            m.busy += gpn * len(nodes)
        self.busy_gpus[m.index] = m.busy
        insort(m.running, (e, j))
        self.est_end[j] = e
        self.alloc[j] = nodes
        self.where[j] = m.index
        self.start[j] = t
        heappush(self.heap, (t + self.duration[j] / m.speed, j))
        m.version += 1

    def _release(self, j: int, m: MachineState) -> None:
        g = self.gpus[j]
        gpn = m.gpn
        e = self.est_end[j]
        if g <= gpn:
            node = self.alloc[j][0]
            m.free[node] += g
            be = m.busy_ends[node]
            for _ in range(g):
                be.remove(e)
            m.busy -= g
        else:
            nodes = self.alloc[j]
            for node in nodes:
                m.free[node] = gpn
                m.busy_ends[node] = []
            m.busy -= gpn * len(nodes)
        self.busy_gpus[m.index] = m.busy
        running = m.running
        del running[bisect_left(running, (e, j))]
        m.version += 1
        m.res_ok = False

    # --- the queue -------------------------------------------------------------------------------------------

    def _enqueue(self, j: int, m: MachineState) -> None:
        if m.hi == m.qjobs.shape[0]:
            keep = np.flatnonzero(m.qcls[m.lo:m.hi] != self.dead) + m.lo
            k = keep.shape[0]
            size = 2 * k + 16
            jobs, run, cls = np.zeros(size, dtype=np.int64), np.zeros(size), np.zeros(size, dtype=np.int64)
            jobs[:k], run[:k], cls[:k] = m.qjobs[keep], m.qrun[keep], m.qcls[keep]
            m.qjobs, m.qrun, m.qcls, m.lo, m.hi = jobs, run, cls, 0, k
        g = self.gpus[j]
        run_here = self.estimate_s[j] / m.speed
        p = m.hi
        m.qjobs[p] = j
        m.qrun[p] = run_here
        m.qcls[p] = self.width_class[g]
        m.hi = p + 1
        m.qlen += 1
        gpn = m.gpn
        fenwick_add(m.work, runtime_class(self.est4[j], m.speed4), (g if g <= gpn else -(-g // gpn) * gpn) * run_here)
        self.queued_gpus[m.index] += g

    def _dequeue(self, p: int, m: MachineState) -> None:
        j = int(m.qjobs[p])
        g = self.gpus[j]
        m.qcls[p] = self.dead
        m.qlen -= 1
        self.queued_gpus[m.index] -= g
        if m.qlen == 0:
            m.lo = m.hi = 0
            m.work = [0.0] * (CLASSES + 1)
            return
        gpn = m.gpn
        run_here = float(m.qrun[p])
        fenwick_add(m.work, runtime_class(self.est4[j], m.speed4), -(g if g <= gpn else -(-g // gpn) * gpn) * run_here)
        if p == m.lo:
            cls = m.qcls
            lo = p + 1
            while cls[lo] == self.dead:
                lo += 1
            m.lo = lo

    # --- EASY backfilling ------------------------------------------------------------------------------------

    def _reserve(self, m: MachineState) -> None:
        """The head's reservation: shadow time and extra GPUs per node (see the module docstring)."""
        g = self.gpus[int(m.qjobs[m.lo])]
        gpn = m.gpn
        f = m.free[:]
        running = m.running
        gpus = self.gpus
        alloc = self.alloc
        r = len(running)
        k = 0
        shadow = _INF
        if g <= gpn:
            while k < r:
                e = running[k][0]
                hit = False
                while k < r and running[k][0] == e:
                    jj = running[k][1]
                    k += 1
                    gj = gpus[jj]
                    if gj <= gpn:
                        node = alloc[jj][0]
                        f[node] += gj
                        if f[node] >= g:
                            hit = True
                    else:
                        for node in alloc[jj]:
                            f[node] = gpn
                        hit = True
                if hit:
                    shadow = e
                    break
            if shadow < _INF:
                for i in range(m.n):
                    if f[i] >= g:
                        f[i] -= g
                        break
        else:
            need = -(-g // gpn)
            count = f.count(gpn)
            while k < r:
                e = running[k][0]
                while k < r and running[k][0] == e:
                    jj = running[k][1]
                    k += 1
                    gj = gpus[jj]
                    if gj <= gpn:
                        node = alloc[jj][0]
                        f[node] += gj
                        if f[node] == gpn:
                            count += 1
                    else:
                        for node in alloc[jj]:
                            f[node] = gpn
                        count += len(alloc[jj])
                if count >= need:
                    shadow = e
                    break
            if shadow < _INF:
                for i in range(m.n):
                    if f[i] == gpn:
                        f[i] = 0
                        need -= 1
                        if need == 0:
                            break
        m.shadow = shadow
        m.extra = f
        m.res_ok = True

    def _backfill_nodes(self, m: MachineState, g: int, run_here: float, t: float) -> tuple[int, ...] | None:
        """Where a job may start now on a machine with a queue without delaying the head, or None. Changes no
        state but the (lazily computed) reservation."""
        free = m.free
        gpn = m.gpn
        if g <= gpn:
            if max(free) < g:
                return None
        elif free.count(gpn) * gpn < g:
            return None
        if not m.res_ok:
            self._reserve(m)
        if t + run_here <= m.shadow:
            return self._fit_now(m, g)
        extra = m.extra
        if g <= gpn:
            best = -1
            best_free = gpn + 1
            for i in range(m.n):
                fi = free[i]
                if g <= fi < best_free and extra[i] >= g:
                    best, best_free = i, fi
            return None if best < 0 else (best,)
        need = -(-g // gpn)
        picked = [i for i in range(m.n) if free[i] == gpn and extra[i] == gpn][:need]
        return tuple(picked) if len(picked) == need else None

    def _backfill(self, j: int, m: MachineState, t: float) -> bool:
        """Start `j` now if it fits and does not delay the head's reservation."""
        g = self.gpus[j]
        run_here = self.estimate_s[j] / m.speed
        nodes = self._backfill_nodes(m, g, run_here, t)
        if nodes is None:
            return False
        if t + run_here > m.shadow:
            extra = m.extra
            for i in nodes:
                extra[i] -= g if g <= m.gpn else m.gpn
        self._start(j, m, nodes, t)
        return True

    def _tables(self, m: MachineState) -> _Tables:
        """Per width class: fits now; fits now on extra GPUs only (as lists and as arrays). The dead class: False."""
        free = m.free
        extra = m.extra
        gpn = m.gpn
        maxfree = max(free)
        max_extra = max(map(min, free, extra))
        whole = free.count(gpn)
        whole_extra = sum(1 for a, b in zip(free, extra, strict=True) if a == gpn and b == gpn) if whole else 0
        key = (gpn, maxfree, max_extra, whole, whole_extra)
        known = self.tables.get(key)
        if known is not None:
            return known
        fit: list[bool] = []
        ext: list[bool] = []
        for g in self.widths:
            if g <= gpn:
                fit.append(g <= maxfree)
                ext.append(g <= max_extra)
            else:
                need = -(-g // gpn)
                fit.append(whole >= need)
                ext.append(whole_extra >= need)
        fit.append(False)
        ext.append(False)
        tables = (fit, ext, np.array(fit, dtype=np.bool_), np.array(ext, dtype=np.bool_))
        self.tables[key] = tables
        return tables

    def _schedule(self, m: MachineState, t: float) -> None:
        """Start what can start on `m` at `t`: the head while it fits, then backfill."""
        gpus = self.gpus
        while m.qlen:
            p = m.lo
            j = int(m.qjobs[p])
            nodes = self._fit_now(m, gpus[j])
            if nodes is None:
                break
            self._dequeue(p, m)
            self._start(j, m, nodes, t)
        m.res_ok = False
        if not m.qlen or max(m.free) == 0:
            return
        self._reserve(m)
        p0 = m.lo + 1
        while p0 < m.hi and max(m.free) > 0:
            fit, ext, fit_arr, ext_arr = self._tables(m)
            shadow = m.shadow
            p = -1
            mid = m.hi if m.hi - p0 <= _SMALL_SCAN else p0  # a short queue in Python, a long one with array masks
            for k, c in enumerate(m.qcls[p0:mid].tolist()):
                if fit[c] and (ext[c] or t + float(m.qrun[p0 + k]) <= shadow):
                    p = p0 + k
                    break
            if p < 0 and mid < m.hi:
                cls = m.qcls[mid:m.hi]
                ok = fit_arr[cls] & ((t + m.qrun[mid:m.hi] <= shadow) | ext_arr[cls])
                hits = np.flatnonzero(ok)
                if hits.shape[0]:
                    p = mid + int(hits[0])
            if p < 0:
                return
            j = int(m.qjobs[p])
            if not self._backfill(j, m, t):  # the tables are exact, so this does not happen
                raise RuntimeError(f"backfill tables disagree for job {j}")
            self._dequeue(p, m)
            p0 = p + 1

    def _arrive(self, j: int, m: MachineState, t: float) -> None:
        if not m.qlen:
            nodes = self._fit_now(m, self.gpus[j])
            if nodes is not None:
                self._start(j, m, nodes, t)
                return
            self._enqueue(j, m)
            m.res_ok = False
            return
        if not self._backfill(j, m, t):
            self._enqueue(j, m)

    # --- the event loop ----------------------------------------------------------------------------------------

    def run(self, choose: Callable[[int, float, Sequence[int]], int], cands_of: dict[int, list[int]],
            progress: Progress | None, every: int) -> int:
        submit = self.submit
        gpus = self.gpus
        heap = self.heap
        machines = self.m
        where = self.where
        finish = self.finish
        release = self._release
        arrive = self._arrive
        n = len(submit)
        too_wide = 0
        i = 0
        while i < n or heap:
            if heap and (i >= n or heap[0][0] <= submit[i]):
                t = heap[0][0]
                _, j = heappop(heap)
                mi = where[j]
                release(j, machines[mi])
                finish[j] = t
                if heap and heap[0][0] == t:
                    touched = [mi]
                    while heap and heap[0][0] == t:
                        _, j = heappop(heap)
                        mi = where[j]
                        release(j, machines[mi])
                        finish[j] = t
                        if mi not in touched:
                            touched.append(mi)
                    touched.sort()
                    for mi in touched:
                        if machines[mi].qlen:
                            self._schedule(machines[mi], t)
                elif machines[mi].qlen:
                    self._schedule(machines[mi], t)
                continue
            j = i
            i += 1
            if progress is not None and i % every == 0:
                progress(i, n)
            cands = cands_of[gpus[j]]
            if not cands:
                too_wide += 1
                continue
            t = submit[j]
            arrive(j, machines[choose(j, t, cands)], t)
        if progress is not None:
            progress(n, n)
        return too_wide


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
             size_refresh: int = SIZE_LIMITS_REFRESH) -> SimResult:
    """Run `trace` on `machines` under `policy`, the policies seeing `estimate_s` (A100 seconds per job) as the
    users' runtime estimates. Deterministic: the same inputs and seed give the same result. `size_min_jobs` and
    `size_refresh` are the broker policy's (aifactory.core.sim.policies)."""
    n = len(trace)
    if estimate_s.shape != (n,):
        raise InvalidInput("estimates", f"need one per job ({n}), got shape {estimate_s.shape}")
    if n and not bool(np.all(estimate_s >= trace.duration_s)):
        raise InvalidInput("estimates", "an estimate is below its job's duration; estimates must be >= durations")
    if not machines:
        raise InvalidInput("machines", "no machine to simulate")
    for spec in machines:
        if spec.nodes < 1 or spec.gpus_per_node < 1 or not (spec.speed > 0 and math.isfinite(spec.speed)):
            raise InvalidInput("machines", f"{spec.key}: needs nodes >= 1, gpus_per_node >= 1 and a positive speed")
    gpus = trace.gpus.tolist()
    engine = _Engine(machines, trace.submit_s.tolist(), trace.duration_s.tolist(), gpus, estimate_s.tolist(),
                     trace.project.tolist())
    cands = candidates_by_width(machines, gpus)

    home = None
    if policy == "home-site":
        ok = np.array([bool(cands[g]) for g in gpus], dtype=bool) if n else np.zeros(0, dtype=bool)
        demand = np.bincount(trace.project[ok], weights=(trace.duration_s * trace.gpus)[ok],
                             minlength=len(trace.projects))
        widest = np.zeros(len(trace.projects), dtype=np.int64)
        np.maximum.at(widest, trace.project[ok], trace.gpus[ok])
        home = home_sites(demand.tolist(), widest.tolist(), [m.capacity for m in machines],
                          lambda g, m: m in cands[g])
    fastest = {g: max(c, key=lambda m: (machines[m].speed, -m)) for g, c in cands.items() if c}
    choose = make_policy(policy, engine, seed, home=home, fastest_by_width=fastest, size_min_jobs=size_min_jobs,
                         size_refresh=size_refresh)

    t0 = time.perf_counter()
    too_wide = engine.run(choose, cands, progress, max(1, progress_every))
    wall = time.perf_counter() - t0

    where = np.array(engine.where, dtype=np.int64)
    gpn = np.array([m.gpus_per_node for m in machines], dtype=np.int64)
    alloc = np.zeros(n, dtype=np.int64)
    ran = where >= 0
    g_ran = trace.gpus[ran]
    node_gpus = gpn[where[ran]]
    alloc[ran] = np.where(g_ran <= node_gpus, g_ran, -(-g_ran // node_gpus) * node_gpus)
    return SimResult(policy=policy, estimates=estimates_label, machines=tuple(machines), submit_s=trace.submit_s,
                     duration_s=trace.duration_s, gpus=trace.gpus, machine=where,
                     start_s=np.array(engine.start, dtype=np.float64),
                     finish_s=np.array(engine.finish, dtype=np.float64),
                     allocated_gpus=alloc, too_wide=too_wide, wall_s=wall)
