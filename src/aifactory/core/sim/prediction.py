"""What a site reports to a policy: the start its scheduler expects for a job.

It is worked out, as a site's scheduler would (Slurm's `sbatch --test-only`), from the runtime estimates the site
holds, never from true durations:

  - empty queue: the earliest estimated end of the running jobs after which the job fits (on one node, or on
    whole nodes for a wide job), or now if it fits now;
  - non-empty queue: now if the job would be backfilled now (aifactory.core.sim.engine's EASY rules); otherwise
    the queued jobs that would backfill ahead of it -- those whose estimated runtime is at most its own, in
    quarter-octave classes -- are poured onto the GPUs the running jobs leave free until their estimated ends,
    and the job starts when that work is done and enough GPUs are free for it. Queued jobs with longer estimates
    wait behind it, as EASY lets short jobs pass long ones.

Kept cheap: a Fenwick tree of queued work by runtime class, and the running jobs' release profile cached until
the machine's state changes.
"""

from __future__ import annotations

import math
from bisect import bisect_left

from aifactory.core.sim.machine import MachineState, fenwick_sum, runtime_class

_NEG_INF = -math.inf


class SitePrediction:
    """The engine's expected start for a job on a machine; mixed into the engine, which holds the state."""

    m: list[MachineState]
    gpus: list[int]
    estimate_s: list[float]
    est4: list[float]

    def _backfill_nodes(self, m: MachineState, g: int, run_here: float, t: float) -> tuple[int, ...] | None:
        raise NotImplementedError

    def expected_start(self, mi: int, j: int, now: float) -> float:
        """When machine `mi`'s scheduler expects job `j`, submitted at `now`, to start (module docstring)."""
        m = self.m[mi]
        g = self.gpus[j]
        if not m.qlen:
            if m.cache_version != m.version:
                m.cache.clear()
                m.cache_version = m.version
            r = m.cache.get(g)
            if r is None:
                r = self._base_start(m, g)
                m.cache[g] = r
            return r if r > now else now
        free = m.free
        if (max(free) >= g if g <= m.gpn else free.count(m.gpn) * m.gpn >= g) and \
                self._backfill_nodes(m, g, self.estimate_s[j] / m.speed, now) is not None:
            return now
        ahead = fenwick_sum(m.work, runtime_class(self.est4[j], m.speed4))
        return self._fluid_start(m, g, ahead if ahead > 0.0 else 0.0, now)

    @staticmethod
    def _base_start(m: MachineState, g: int) -> float:
        """Empty queue: the earliest estimated time g GPUs are free on one node (whole nodes for a wide job)."""
        free = m.free
        gpn = m.gpn
        be = m.busy_ends
        if g <= gpn:
            if max(free) >= g:
                return _NEG_INF
            return min(be[i][g - free[i] - 1] for i in range(m.n))
        need = -(-g // gpn)
        ends = sorted(_NEG_INF if free[i] == gpn else be[i][-1] for i in range(m.n))
        return ends[need - 1]

    def _profile(self, m: MachineState, now: float) -> None:
        """The running jobs' release profile from `now`: for the i-th estimated end prof_end[i], the GPUs free
        before it (prof_cap[i]) and after it (prof_after[i]), and the free GPU-seconds from prof_t0 to it
        (prof_area[i]). Cached until the machine's state changes; no job ends here meanwhile, so the GPUs free
        between prof_t0 and any later query time are prof_cap[0]."""
        gpus = self.gpus
        gpn = m.gpn
        cap = m.total - m.busy
        last = now
        area = 0.0
        ends: list[float] = []
        caps: list[int] = []
        areas: list[float] = []
        after: list[int] = []
        for e, jj in m.running:
            area += cap * (e - last)
            ends.append(e)
            caps.append(cap)
            areas.append(area)
            gj = gpus[jj]
            cap += gj if gj <= gpn else -(-gj // gpn) * gpn
            after.append(cap)
            last = e
        m.prof_t0 = now
        m.prof_end, m.prof_cap, m.prof_area, m.prof_after = ends, caps, areas, after
        m.prof_version = m.version

    def _fluid_start(self, m: MachineState, g: int, ahead: float, now: float) -> float:
        """The queued work ahead of a job poured onto the GPUs the running jobs leave free (until their estimated
        ends): the time T at which the free GPU-seconds from now reach `ahead`; then, if fewer GPUs than the job
        holds are free at T, the estimated end that frees enough."""
        if m.prof_version != m.version:
            self._profile(m, now)
        ends = m.prof_end
        r = len(ends)
        if r == 0:
            return now + ahead / m.total
        cap0 = m.prof_cap[0]
        x = ahead + cap0 * (now - m.prof_t0)
        areas = m.prof_area
        k = bisect_left(areas, x)
        if k == r:
            t = ends[-1] + (x - areas[-1]) / m.total
        else:
            base_t = ends[k - 1] if k else m.prof_t0
            base_a = areas[k - 1] if k else 0.0
            c = m.prof_cap[k]
            t = base_t + (x - base_a) / c if c > 0 else base_t
        if t < now:
            t = now
        need = g if g <= m.gpn else -(-g // m.gpn) * m.gpn
        if cap0 < need:
            i = bisect_left(m.prof_after, need)
            if i < r and ends[i] > t:
                t = ends[i]
        return t
