"""Policies on hand-made traces: each sees only estimates and what the sites report."""

from __future__ import annotations

import pytest

from aifactory.core.exceptions import InvalidInput
from aifactory.core.sim import SimMachine, simulate
from aifactory.core.sim.policies import home_sites
from tests.core.sim.helpers import make_trace

SLOW = SimMachine("slow", 4, 1, 1.0)
FAST = SimMachine("fast", 4, 1, 2.0)


def run(jobs, machines, policy, est=None, projects=None):
    trace = make_trace(jobs, projects)
    return simulate(trace, machines, policy, trace.duration_s.copy() if est is None else est)


def test_home_sites_balance_demand_by_capacity():
    # capacities 2 and 1. p0 (10): 10/2 < 10/1 -> m0. p1 (8): 18/2 = 9 > 8/1 -> m1. p2 (3): 13/2 < 11 -> m0.
    # p3 (1): 14/2 = 7 < 9 -> m0.
    assert home_sites([10, 8, 3, 1], [1, 1, 1, 1], [2.0, 1.0], lambda g, m: True) == [0, 1, 0, 0]


def test_home_sites_respect_the_widest_job():
    # p0 has a 16-GPU job that only machine 1 fits
    assert home_sites([10, 8], [16, 1], [2.0, 1.0], lambda g, m: g <= 4 or m == 1) == [1, 0]


def test_home_site_binds_each_project_to_its_machine():
    # both projects demand the same; machine a comes first for project 0, then b is emptier for project 1
    r = run([(0, 10, 1), (1, 10, 1), (2, 10, 1)], [SLOW, SimMachine("b", 4, 1, 1.0)], "home-site",
            projects=[0, 1, 0])
    assert r.machine.tolist() == [0, 1, 0]


def test_broker_prefers_the_faster_machine_when_both_are_free():
    r = run([(0, 100, 4)], [SLOW, FAST], "broker")
    assert r.machine.tolist() == [1]
    assert r.finish_s.tolist() == [50.0]


def test_broker_takes_the_earliest_completion_not_the_earliest_start():
    # fast is busy until 1000 / 2 = 500 (estimated); job 1 (100 s) arriving at 1: slow ends it at 101,
    # fast at 500 + 50 = 550 -> slow. Job 2 (10000 s): slow ends at 10101, fast at 500 + 5000 = 5500 -> fast.
    r = run([(0, 1000, 4), (1, 100, 4), (2, 10000, 4)], [SLOW, FAST], "broker")
    assert r.machine.tolist() == [1, 0, 1]
    assert r.start_s.tolist() == [0, 1, 500]


def test_broker_sees_estimates_not_true_durations():
    # as above, but job 0 is estimated at 20000 s (fast busy until 10000 as far as anyone knows): job 2 goes to
    # slow's queue (expected start 101, end 10101 < 10000 + 5000), although fast is really free from 500
    trace = make_trace([(0, 1000, 4), (1, 100, 4), (2, 10000, 4)])
    est = trace.duration_s.copy()
    est[0] = 20000.0
    r = simulate(trace, [SLOW, FAST], "broker", est)
    assert r.machine.tolist() == [1, 0, 0]


BIG = SimMachine("big", 4, 3, 1.0)
SMALL = SimMachine("small", 4, 1, 1.0)
SIZED = [(0, 200, 12), (1, 1000, 4), (2, 100, 4)]


def test_broker_keeps_a_long_job_off_the_machine_kept_for_short_ones():
    # Capacities 12 and 4: small holds 25% of the capacity. Limits from the jobs so far, this one included:
    # job 0 (12 GPUs x 200 s, class 31) fits only big, runs 0-200. Job 1 (4 GPUs x 1000 s, class 40): work 2400 in
    # class 31 and 4000 in class 40; 25% of 6400 = 1600 <= 2400, so small takes jobs under 2 ** (31 / 4) = 215 s
    # and job 1 goes to big, to start at 200, although small would end it at 1001 (< 1200). Job 2 (4 GPUs x 100 s)
    # may go anywhere: small ends it at 102, big at 300 -> small, where it starts at once.
    trace = make_trace(SIZED)
    r = simulate(trace, [BIG, SMALL], "broker", trace.duration_s.copy(), size_min_jobs=1, size_refresh=1)
    assert r.machine.tolist() == [0, 0, 1]
    assert r.start_s.tolist() == [0, 200, 2]
    assert r.finish_s.tolist() == [200, 1200, 102]


def test_without_size_limits_the_long_job_takes_the_small_machine_and_the_short_one_waits():
    # earliest completion alone: job 1 on small (ends 1001 < 1200); job 2 then ends first on big, at 200 + 100.
    # The broker sets no limit before SIZE_LIMITS_MIN_JOBS jobs, so it chooses the same here.
    trace = make_trace(SIZED)
    for policy in ("earliest-completion", "broker"):
        r = simulate(trace, [BIG, SMALL], policy, trace.duration_s.copy())
        assert r.machine.tolist() == [0, 1, 0]
        assert r.start_s.tolist() == [0, 1, 200]


def test_broker_size_limits_come_from_estimates_not_durations():
    # as above, but job 0 is estimated at 2000 s (class 44): at job 1, the work is 4000 in class 40 and 24000 in
    # class 44; 25% of 28000 = 7000 is reached at class 44, so small takes jobs under 2 ** 11 = 2048 s, job 1
    # included, and small ends it first (1001 < big's 2000 + 1000 as far as anyone knows)
    trace = make_trace(SIZED)
    est = trace.duration_s.copy()
    est[0] = 2000.0
    r = simulate(trace, [BIG, SMALL], "broker", est, size_min_jobs=1, size_refresh=1)
    assert r.machine.tolist()[:2] == [0, 1]


def test_earliest_start_ignores_speed_and_ties_to_the_first_listed():
    r = run([(0, 1000, 4), (1, 100, 4)], [SLOW, FAST], "earliest-start")
    assert r.machine.tolist() == [0, 1]


def test_fastest_machine_waits_for_the_fast_one():
    r = run([(0, 1000, 4), (1, 100, 4)], [SLOW, FAST], "fastest-machine")
    assert r.machine.tolist() == [1, 1]
    assert r.start_s.tolist() == [0, 500]


def test_fastest_machine_among_those_that_fit():
    big_slow = SimMachine("big", 4, 2, 1.0)
    r = run([(0, 10, 8)], [big_slow, FAST], "fastest-machine")
    assert r.machine.tolist() == [0]


def test_least_loaded_counts_busy_and_queued_gpus_relative_to_size():
    # a: 8 GPUs, b: 4 GPUs. Job 0 (4 GPUs) -> a (tie, first). Job 1: a 4/8 = 0.5 busy, b 0 -> b.
    # Job 2: a 0.5, b 1.0 -> a. Job 3: a 1.0, b 1.0 -> a (tie, first).
    big = SimMachine("a", 4, 2, 1.0)
    r = run([(0, 100, 4), (1, 100, 4), (2, 100, 4), (3, 100, 4)], [big, SimMachine("b", 4, 1, 1.0)], "least-loaded")
    assert r.machine.tolist() == [0, 1, 0, 0]


def test_random_spreads_over_machines_that_fit():
    jobs = [(float(i), 10.0, 1) for i in range(200)] + [(300.0, 10.0, 8)]
    r = run(jobs, [SLOW, FAST, SimMachine("big", 4, 2, 1.0)], "random")
    counts = [int((r.machine[:200] == m).sum()) for m in range(3)]
    assert all(c > 30 for c in counts)
    assert r.machine.tolist()[-1] == 2


def test_broker_size_refresh_must_be_positive():
    trace = make_trace(SIZED)
    with pytest.raises(InvalidInput):
        simulate(trace, [BIG, SMALL], "broker", trace.duration_s.copy(), size_refresh=0)
