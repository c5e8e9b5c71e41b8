"""The engine on hand-made traces whose answers are worked out by hand, and against a plain reference EASY."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput
from aifactory.core.sim import SimMachine, estimates, simulate
from tests.core.sim.helpers import make_trace


def one(gpn: int = 4, nodes: int = 1, speed: float = 1.0, key: str = "m") -> list[SimMachine]:
    return [SimMachine(key=key, gpus_per_node=gpn, nodes=nodes, speed=speed)]


def run(jobs, machines, policy="broker", est=None, projects=None, seed=0):
    trace = make_trace(jobs, projects)
    e = trace.duration_s.copy() if est is None else np.asarray(est, dtype=np.float64)
    return simulate(trace, machines, policy, e, seed=seed)


def test_fcfs_order_on_a_full_machine():
    # one node of 4 GPUs; three whole-node jobs run one after the other in arrival order
    r = run([(0, 100, 4), (1, 50, 4), (2, 10, 4)], one())
    assert r.start_s.tolist() == [0, 100, 150]
    assert r.finish_s.tolist() == [100, 150, 160]


def test_a_later_job_never_overtakes_a_blocked_head_without_backfill_room():
    # the head (job 1) waits for job 0; job 2 is as wide as the node, so it cannot backfill
    r = run([(0, 100, 2), (1, 10, 4), (2, 10, 4)], one())
    assert r.start_s.tolist() == [0, 100, 110]


def test_backfill_that_must_happen():
    # job 1 (4 GPUs) waits for job 0 until 100; job 2 (2 GPUs, ends at 52 <= 100) fills the 2 free GPUs now
    r = run([(0, 100, 2), (1, 50, 4), (2, 50, 2)], one())
    assert r.start_s.tolist() == [0, 100, 2]
    assert r.finish_s.tolist() == [100, 150, 52]


def test_backfill_that_must_not_happen():
    # as above but job 2 would end at 202, after the head's reservation at 100, and the head needs all 4 GPUs
    r = run([(0, 100, 2), (1, 50, 4), (2, 200, 2)], one())
    assert r.start_s.tolist() == [0, 100, 150]


def test_backfill_is_judged_on_the_estimate_not_the_true_duration():
    # job 2 truly ends at 52, but its estimate (200) runs past the reservation at 100: it must wait
    r = run([(0, 100, 2), (1, 50, 4), (2, 50, 2)], one(), est=[100, 50, 200])
    assert r.start_s.tolist() == [0, 100, 150]


def test_no_backfill_onto_gpus_the_reservation_needs():
    # two nodes of 4. Job 0 (3 GPUs) takes node 0, job 1 (4 GPUs) node 1, both until 100. Head job 2 (4 GPUs)
    # is reserved at 100 on node 0 (the lowest node with 4 GPUs free then). Job 3 (1 GPU, 1000 s) fits now on
    # node 0's free GPU, but would hold it past 100, when the reservation needs it: it waits, and starts at 100
    # on node 1 when the head takes node 0.
    r = run([(0, 100, 3), (0, 100, 4), (1, 10, 4), (2, 1000, 1)], one(nodes=2))
    assert r.start_s.tolist() == [0, 0, 100, 100]


def test_backfill_on_an_extra_node():
    # two nodes of 4. Job 0 (3 GPUs, until 100) on node 0, job 1 (4 GPUs, until 50) on node 1. Head job 2
    # (4 GPUs) is reserved on node 1 at 50. Job 3 (1 GPU, 1000 s) fits now on node 0, whose GPUs the
    # reservation does not need: it starts now although it ends long after 50.
    r = run([(0, 100, 3), (0, 50, 4), (1, 10, 4), (2, 1000, 1)], one(nodes=2))
    assert r.start_s.tolist() == [0, 0, 50, 2]


def test_a_job_wider_than_a_node_takes_whole_nodes():
    # two nodes of 4. Job 0 holds 1 GPU of node 0; job 1 asks for 6 GPUs = 2 whole nodes, so it waits for job 0
    # although 7 GPUs are free; job 2 (3 GPUs, short) backfills onto node 0 meanwhile.
    r = run([(0, 100, 1), (1, 10, 6), (2, 10, 3)], one(nodes=2))
    assert r.start_s.tolist() == [0, 100, 2]
    assert r.allocated_gpus.tolist() == [1, 8, 3]


def test_a_job_wider_than_every_machine_is_counted_not_run():
    machines = [SimMachine("a", 4, 2, 1.0), SimMachine("b", 8, 1, 1.0)]
    r = run([(0, 10, 1), (1, 10, 12), (2, 10, 8)], machines)
    assert r.too_wide == 1
    assert r.machine.tolist()[1] == -1
    assert math.isnan(r.start_s[1])
    assert r.jobs_run == 2


def test_runtime_is_duration_over_speed():
    r = run([(0, 100, 1)], one(speed=2.0))
    assert r.finish_s.tolist() == [50.0]


def test_ends_before_arrivals_at_the_same_time():
    # job 1 arrives exactly when job 0 ends: it starts then, on the freed node
    r = run([(0, 10, 4), (10, 10, 4)], one())
    assert r.start_s.tolist() == [0, 10]


def test_same_seed_same_result_and_seed_matters():
    jobs = [(float(i), float(10 + (i * 37) % 90), 1 + (i % 3)) for i in range(200)]
    machines = [SimMachine("a", 4, 2, 1.0), SimMachine("b", 4, 2, 2.0), SimMachine("c", 8, 1, 0.5)]
    trace = make_trace(jobs)
    results = []
    for seed in (7, 7, 8):
        est = estimates("user", trace.duration_s, seed)
        r = simulate(trace, machines, "random", est, seed=seed)
        results.append((r.machine.tolist(), r.start_s.tolist(), r.finish_s.tolist()))
    assert results[0] == results[1]
    assert results[0] != results[2]


def test_estimates_below_durations_are_refused():
    trace = make_trace([(0, 10, 1)])
    with pytest.raises(InvalidInput):
        simulate(trace, one(), "broker", np.array([5.0]))


def test_unknown_policy_is_refused():
    trace = make_trace([(0, 10, 1)])
    with pytest.raises(InvalidInput):
        simulate(trace, one(), "shortest-queue", trace.duration_s.copy())


# --- a plain EASY, written for clarity, to check the engine's incremental one -----------------------------------


def reference_easy(jobs, est, gpn, nodes, speed):
    """FCFS + EASY on one machine, recomputing everything at every event. Returns start times (None if too wide)."""
    n = len(jobs)
    free = [gpn] * nodes
    running = []  # [est_end, end, job, nodes]
    queue = []
    start = [None] * n

    def width(g):
        return g if g <= gpn else math.ceil(g / gpn) * gpn

    def fit(g, f):
        if g <= gpn:
            ok = [i for i in range(nodes) if f[i] >= g]
            return (min(ok, key=lambda i: (f[i], i)),) if ok else None
        full = [i for i in range(nodes) if f[i] == gpn]
        need = math.ceil(g / gpn)
        return tuple(full[:need]) if len(full) >= need else None

    def take(j, where, t):
        g = jobs[j][2]
        for i in where:
            free[i] -= g if g <= gpn else gpn
        running.append([t + est[j] / speed, t + jobs[j][1] / speed, j, where])
        start[j] = t

    def reservation(head):
        g = jobs[head][2]
        f = free[:]
        for e in sorted({r[0] for r in running}):
            for r in running:
                if r[0] == e:
                    for i in r[3]:
                        f[i] += jobs[r[2]][2] if jobs[r[2]][2] <= gpn else gpn
            if fit(g, f) is not None:
                if g <= gpn:
                    i = min(i for i in range(nodes) if f[i] >= g)
                    f[i] -= g
                else:
                    for i in [i for i in range(nodes) if f[i] == gpn][: math.ceil(g / gpn)]:
                        f[i] = 0
                return e, f
        return math.inf, f

    def schedule(t):
        while queue and fit(jobs[queue[0]][2], free) is not None:
            j = queue.pop(0)
            take(j, fit(jobs[j][2], free), t)
        if not queue:
            return
        shadow, extra = reservation(queue[0])
        for j in list(queue[1:]):
            g = jobs[j][2]
            if t + est[j] / speed <= shadow:
                where = fit(g, free)
            elif g <= gpn:
                ok = [i for i in range(nodes) if free[i] >= g and extra[i] >= g]
                where = (min(ok, key=lambda i: (free[i], i)),) if ok else None
            else:
                ok = [i for i in range(nodes) if free[i] == gpn and extra[i] == gpn]
                where = tuple(ok[: math.ceil(g / gpn)]) if len(ok) >= math.ceil(g / gpn) else None
                where = where if where and len(where) == math.ceil(g / gpn) else None
            if where is None:
                continue
            if t + est[j] / speed > shadow:
                for i in where:
                    extra[i] -= g if g <= gpn else gpn
            queue.remove(j)
            take(j, where, t)

    order = sorted(range(n), key=lambda j: (jobs[j][0], j))
    k = 0
    while k < n or running:
        next_end = min((r[1] for r in running), default=math.inf)
        if running and (k == n or next_end <= jobs[order[k]][0]):
            for r in [r for r in running if r[1] == next_end]:
                running.remove(r)
                for i in r[3]:
                    free[i] += jobs[r[2]][2] if jobs[r[2]][2] <= gpn else gpn
            schedule(next_end)
            continue
        j = order[k]
        k += 1
        if width(jobs[j][2]) > gpn * nodes:
            continue
        queue.append(j)
        schedule(jobs[j][0])
    return start


job = st.tuples(st.integers(0, 40), st.integers(0, 60), st.sampled_from([1, 1, 1, 2, 3, 4, 5, 8, 12]))


@settings(max_examples=300, deadline=None)
@given(
    jobs=st.lists(job, min_size=1, max_size=14),
    factors=st.lists(st.sampled_from([1.0, 1.0, 1.5, 3.0, 10.0]), min_size=14, max_size=14),
    gpn=st.sampled_from([2, 4, 8]),
    nodes=st.integers(1, 3),
    speed=st.sampled_from([1.0, 2.0, 0.5]),
)
def test_engine_matches_a_plain_easy(jobs, factors, gpn, nodes, speed):
    first = min(j[0] for j in jobs)
    jobs = sorted(((t - first, d, g) for t, d, g in jobs), key=lambda j: j[0])
    est = [d * f for (_, d, _), f in zip(jobs, factors, strict=False)]
    expected = reference_easy(jobs, est, gpn, nodes, speed)
    r = run(jobs, one(gpn=gpn, nodes=nodes, speed=speed), est=est)
    got = [None if math.isnan(s) else s for s in r.start_s.tolist()]
    assert got == expected
