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
from collections.abc import Sequence

from aifactory.core.sim.machine import MachineState, fenwick_sum, runtime_class

_NEG_INF = -math.inf
_INF = math.inf


class SitePrediction:
    """The engine's expected start for a job on a machine; mixed into the engine, which holds the state."""

    machines: list[MachineState]
    gpus: Sequence[int]
    estimate_s: Sequence[float]
    estimate_quarter_octaves: Sequence[float]

    def _backfill_nodes(self, m: MachineState, gpus: int, run_here: float, t: float) -> tuple[int, ...] | None:
        raise NotImplementedError

    def _gpus_back(self, job: int, m: MachineState) -> list[tuple[int, int]]:
        raise NotImplementedError

    def expected_start(self, mi: int, job: int, now: float) -> float:
        """When machine `mi`'s scheduler expects `job`, submitted at `now`, to start (module docstring)."""
        m = self.machines[mi]
        gpus = self.gpus[job]
        if not m.queued:
            if m.start_cache_version != m.version:
                m.start_cache.clear()
                m.start_cache_version = m.version
            start = m.start_cache.get(gpus)
            if start is None:
                start = self._start_on_empty_queue(m, gpus)
                m.start_cache[gpus] = start
            return start if start > now else now
        if m.fits_now(gpus) and self._backfill_nodes(m, gpus, self.estimate_s[job] / m.speed, now) is not None:
            return now
        ahead = fenwick_sum(m.queued_work, runtime_class(self.estimate_quarter_octaves[job], m.speed_quarter_octaves))
        return self._fluid_start(m, gpus, ahead if ahead > 0.0 else 0.0, now)

    def _start_on_empty_queue(self, m: MachineState, gpus: int) -> float:
        """Empty queue: the earliest estimated time `gpus` GPUs are free on one node (whole nodes for a wide job).
        The running jobs are walked in order of estimated end, giving their GPUs back, until enough nodes hold the
        job's share (as the engine's reservation walks them)."""
        per_node = m.gpus_per_node
        narrow = gpus <= per_node
        share = gpus if narrow else per_node
        nodes_needed = 1 if narrow else -(-gpus // per_node)
        ready = sum(m.nodes_with_free[share:])
        if ready >= nodes_needed:
            return _NEG_INF
        free = m.free_gpus
        gained: dict[int, int] = {}
        for end, running_job in m.running:
            for node, back in self._gpus_back(running_job, m):
                given = gained.get(node, 0)
                before = free[node] + given
                gained[node] = given + back
                if before < share <= before + back:
                    ready += 1
            if ready >= nodes_needed:
                return end
        return _INF

    def _release_profile(self, m: MachineState, now: float, area_at_least: float, free_at_least: int) -> None:
        """The running jobs' release profile from the time it was started (release_from): for the i-th estimated
        end release_ends[i], the GPUs free before it (release_free_before[i]) and after it (release_free_after[i]),
        and the free GPU-seconds from release_from to it (release_area[i]). It is started at the first query after
        the machine's state changed and extended, in order, only as far as a query needs: until the area reaches
        `area_at_least` and the GPUs free after an end reach `free_at_least`, or the running jobs run out. No job
        ends here while it is valid, so the GPUs free between release_from and any later query time are
        release_free_before[0]."""
        if m.release_version != m.version:
            m.release_version = m.version
            m.release_from = now
            m.release_ends, m.release_free_before, m.release_area, m.release_free_after = [], [], [], []
            m.release_walked = 0
        ends, before, areas, after = m.release_ends, m.release_free_before, m.release_area, m.release_free_after
        running = m.running
        walked = m.release_walked
        if walked:
            free_gpus, last, area = after[-1], ends[-1], areas[-1]
        else:
            free_gpus, last, area = m.total_gpus - m.busy_gpus, m.release_from, 0.0
        if walked == len(running) or (walked and area >= area_at_least and free_gpus >= free_at_least):
            return  # (an answer needs at least the first end)
        per_node = m.gpus_per_node
        gpus = self.gpus
        while walked < len(running):
            end, running_job = running[walked]
            area += free_gpus * (end - last)
            ends.append(end)
            before.append(free_gpus)
            areas.append(area)
            held = gpus[running_job]
            free_gpus += held if held <= per_node else -(-held // per_node) * per_node
            after.append(free_gpus)
            last = end
            walked += 1
            if area >= area_at_least and free_gpus >= free_at_least:
                break
        m.release_walked = walked

    def _fluid_start(self, m: MachineState, gpus: int, ahead: float, now: float) -> float:
        """The queued work ahead of a job poured onto the GPUs the running jobs leave free (until their estimated
        ends): the time T at which the free GPU-seconds from now reach `ahead`; then, if fewer GPUs than the job
        holds are free at T, the estimated end that frees enough."""
        count = len(m.running)
        if count == 0:
            return now + ahead / m.total_gpus
        held = gpus if gpus <= m.gpus_per_node else -(-gpus // m.gpus_per_node) * m.gpus_per_node
        if m.release_version != m.version:
            self._release_profile(m, now, -_INF, 0)
        free_first = m.total_gpus - m.busy_gpus
        area_needed = ahead + free_first * (now - m.release_from)  # counted from release_from
        self._release_profile(m, now, area_needed, held)
        ends = m.release_ends
        areas = m.release_area
        reached = bisect_left(areas, area_needed)  # the first end by which the free GPU-seconds suffice
        if reached == count:
            t = ends[-1] + (area_needed - areas[-1]) / m.total_gpus
        else:
            base_t = ends[reached - 1] if reached else m.release_from
            base_area = areas[reached - 1] if reached else 0.0
            free_then = m.release_free_before[reached]
            t = base_t + (area_needed - base_area) / free_then if free_then > 0 else base_t
        if t < now:
            t = now
        if free_first < held:
            enough = bisect_left(m.release_free_after, held)  # the first end after which it has room
            if enough < count and ends[enough] > t:
                t = ends[enough]
        return t
