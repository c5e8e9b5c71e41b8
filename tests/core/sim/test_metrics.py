"""Figures of a run, worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aifactory.core.sim import SimMachine, delay_over_time, lower_bound_mean_jct, measure, simulate
from tests.core.sim.helpers import make_trace


def test_metrics_by_hand():
    # one node of 4 GPUs: job 0 runs 0-100; job 1 waits 100 and runs 100-150; job 2 (5 s, 1 GPU) cannot
    # backfill (job 0 holds the whole node), so it waits until job 1, the head, has run: 150-155.
    trace = make_trace([(0, 100, 4), (0, 50, 4), (0, 5, 1)])
    r = simulate(trace, [SimMachine("m", 4, 1, 1.0)], "broker", trace.duration_s.copy(), estimates_label="oracle")
    m = measure(r)
    assert r.start_s.tolist() == [0, 100, 150]
    assert m.mean_wait_s == pytest.approx(250 / 3)
    assert m.median_wait_s == 100
    assert m.p99_wait_s == pytest.approx(100 + 0.98 * 50)
    assert m.mean_jct_s == pytest.approx((100 + 150 + 155) / 3)
    # bounded slowdown: 100/100 = 1, 150/50 = 3, 155/max(5, 10) = 15.5
    assert m.mean_bounded_slowdown == pytest.approx((1 + 3 + 15.5) / 3)
    assert m.makespan_s == 155
    assert m.utilisation["m"] == pytest.approx((400 + 200 + 5) / (4 * 155))
    assert m.lower_bound_mean_jct_s == pytest.approx((100 + 50 + 5) / 3)
    assert m.jobs == 3 and m.too_wide == 0
    assert m.estimates == "oracle"


def test_lower_bound_uses_the_fastest_machine_the_job_fits():
    machines = [SimMachine("big", 4, 4, 1.0), SimMachine("fast", 4, 1, 4.0)]
    d = np.array([100.0, 100.0, 100.0])
    g = np.array([1, 8, 32])
    # 100 / 4, 100 / 1 (only big fits 8), the 32-GPU job fits nowhere and is left out
    assert lower_bound_mean_jct(d, g, machines) == pytest.approx((25 + 100) / 2)


def test_no_job_run_gives_nan_not_an_error():
    trace = make_trace([(0, 10, 64)])
    r = simulate(trace, [SimMachine("m", 4, 1, 1.0)], "broker", trace.duration_s.copy())
    m = measure(r)
    assert m.too_wide == 1 and m.jobs == 0
    assert math.isnan(m.mean_jct_s)


def test_delay_over_time():
    trace = make_trace([(0, 100, 4), (0, 50, 4), (100, 5, 4)])
    r = simulate(trace, [SimMachine("m", 4, 1, 1.0)], "broker", trace.duration_s.copy())
    x, y = delay_over_time(r, bins=2)
    assert x.tolist() == [25.0, 75.0]
    # first half: jobs 0 and 1 wait 0 and 100; second half: job 2 (submitted at 100) waits 50
    assert y.tolist() == [50.0, 50.0]
