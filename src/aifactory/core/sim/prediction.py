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
  - non-empty queue, a job that takes whole nodes (as wide as a node, or wider): it also waits for idle nodes,
    which the GPUs free do not give: narrow jobs keep taking the GPUs that nodes free, and EASY drains nodes only
    for the head. So the nodes are drained for each queued job that takes whole nodes with an estimate no longer
    than its own, one after the other, then for it; a drain for k nodes takes as long as k more nodes take to be
    idle by the running jobs' estimated ends. It starts at the later of the two.

Kept cheap: Fenwick trees of queued work, and of queued whole-node jobs, by runtime class; the order in which the
nodes in use become idle; and the running jobs' release profile cached until the machine's state changes.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import islice

from aifactory.core.sim.machine import BUCKET_S, MachineState, fenwick_sum, runtime_class

_NEG_INF = -math.inf
_NAN = math.nan
_INF = math.inf


class SitePrediction:
    """The engine's expected start for a job on a machine; mixed into the engine, which holds the state."""

    machines: list[MachineState]
    gpus: Sequence[int]
    estimate_s: Sequence[float]
    estimate_quarter_octaves: Sequence[float]
    told_job: list[int]
    told_start: list[float]

    def _backfill_nodes(self, m: MachineState, gpus: int, run_here: float, t: float) -> tuple[int, ...] | None:
        raise NotImplementedError

    def expected_start(self, mi: int, job: int, now: float) -> float:
        """When machine `mi`'s scheduler expects `job`, submitted at `now`, to start (module docstring). The answer
        is kept as the machine's last one (`told_job`, `told_start`), so that the engine can record what the policy
        saw for the machine it chose."""
        start = self._expected_start(mi, job, now)
        self.told_job[mi] = job
        self.told_start[mi] = start
        return start

    def _expected_start(self, mi: int, job: int, now: float) -> float:
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
        cls = runtime_class(self.estimate_quarter_octaves[job], m.speed_quarter_octaves)
        ahead = fenwick_sum(m.queued_work, cls)
        if m.fast_release:
            start = self._fluid_start_by_buckets(m, gpus, ahead if ahead > 0.0 else 0.0, now)
        else:
            start = self._fluid_start(m, gpus, ahead if ahead > 0.0 else 0.0, now)
        if gpus >= m.gpus_per_node:
            drained = self._nodes_drained(m, -(-gpus // m.gpus_per_node), cls, now)
            if drained > start:
                return drained
        return start

    @staticmethod
    def _nodes_drained(m: MachineState, nodes: int, cls: int, now: float) -> float:
        """A job that takes `nodes` whole nodes, of runtime class `cls`, behind a queue: when the nodes have been
        drained for it and for each queued job that takes whole nodes with an estimate no longer than its own, one
        job after the other. A drain for k nodes takes as long as k more nodes take to be idle by the running
        jobs' estimated ends: an entry of MachineState.idle_order. (The counts are sums of whole numbers: exact.)"""
        idle = len(m.idle_nodes)
        order = m.idle_order

        def drain(k: int) -> float:  # every node is idle or in use, and no job here takes more than all of them
            return order[k - idle - 1][0] - now if k > idle else 0.0

        total = drain(nodes)
        for k, counts in m.whole_queued.items():
            ahead = int(fenwick_sum(counts, cls))
            if ahead:
                total += ahead * drain(k)
        return now + total

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
        get = gained.get
        for end, _, held, node, nodes in m.running:
            if nodes is None:
                given = get(node, 0)
                before = free[node] + given
                gained[node] = given + held
                if before < share <= before + held:
                    ready += 1
            else:
                for node in nodes:
                    given = get(node, 0)
                    before = free[node] + given
                    gained[node] = given + per_node
                    if before < share <= before + per_node:
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
        ends_append, before_append, areas_append, after_append = ends.append, before.append, areas.append, after.append
        for end, _, held, _, _ in islice(running, walked, None):  # held: whole nodes' GPUs for a wide job
            area += free_gpus * (end - last)
            ends_append(end)
            before_append(free_gpus)
            areas_append(area)
            free_gpus += held
            after_append(free_gpus)
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

    @staticmethod
    def _fluid_start_by_buckets(m: MachineState, gpus: int, ahead: float, now: float) -> float:
        """`_fluid_start` on a machine that keeps its releases by time bucket: the same answer, found without
        walking the running jobs. The free GPU-seconds from release_from to the i-th estimated end e_i are

            area(e_i) = F (e_i - release_from) + e_i H_i - W_i

        where F is the GPUs free now, and H_i and W_i the sums of GPUs held and of GPUs held x estimated end over the
        running jobs that end before it; the same sums per time bucket, in Fenwick trees, give area at each bucket's
        edge, so a descent finds the bucket where the work ahead is done and only that bucket's jobs are walked.
        The same for the first end after which the job's GPUs are free. Sums in a different order than the walk's
        may round differently in their last bits; with whole numbers both are exact and agree."""
        running = m.running
        count = len(running)
        if count == 0:
            return now + ahead / m.total_gpus
        held = gpus if gpus <= m.gpus_per_node else -(-gpus // m.gpus_per_node) * m.gpus_per_node
        if m.release_version != m.version:
            m.release_version = m.version
            m.release_from = now
        origin = m.release_from
        free_first = m.total_gpus - m.busy_gpus
        area_needed = ahead + free_first * (now - origin)
        size = m.release_size
        held_tree, work_tree = m.release_held, m.release_work
        top = 1 << (size.bit_length() - 1) if size else 0

        # the first end at which the free GPU-seconds reach area_needed (bisect_left over the walk's areas)
        pos, held_before, work_before = 0, 0, 0.0
        step = top
        while step:
            nxt = pos + step
            if nxt <= size:
                h = held_before + held_tree[nxt]
                w = work_before + work_tree[nxt]
                edge = nxt * BUCKET_S
                if free_first * (edge - origin) + edge * h - w < area_needed:
                    pos, held_before, work_before = nxt, h, w
            step >>= 1
        first = bisect_left(running, (pos * BUCKET_S,))
        reached = count
        area = _NAN
        if first:  # the area at the end before the bucket's first
            end, _, h, _, _ = running[first - 1]
            area = free_first * (end - origin) + end * (held_before - h) - (work_before - h * end)
        for end, _, h, _, _ in islice(running, first, None):
            at = free_first * (end - origin) + end * held_before - work_before
            if at >= area_needed:
                reached = first
                break
            area = at
            held_before += h
            work_before += h * end
            first += 1
        if reached == count:
            t = running[-1][0] + (area_needed - area) / m.total_gpus
        else:
            base_t = running[reached - 1][0] if reached else origin
            base_area = area if reached else 0.0
            free_then = free_first + held_before
            t = base_t + (area_needed - base_area) / free_then if free_then > 0 else base_t
        if t < now:
            t = now
        if free_first < held:  # the first end after which the job's GPUs are free
            pos, held_before = 0, 0
            step = top
            while step:
                nxt = pos + step
                if nxt <= size and free_first + held_before + held_tree[nxt] < held:
                    pos, held_before = nxt, held_before + held_tree[nxt]
                step >>= 1
            for end, _, h, _, _ in islice(running, bisect_left(running, (pos * BUCKET_S,)), None):
                held_before += h
                if free_first + held_before >= held:
                    if end > t:
                        t = end
                    break
        return t
