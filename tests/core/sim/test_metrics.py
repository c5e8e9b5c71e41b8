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


def test_prediction_error_by_hand():
    # one node of 4 GPUs, estimates twice the true 10,000 s of job 0: job 1 (4 GPUs) is told the end of job 0's
    # estimate, 20,000, and starts at 10,000 when job 0 really ends (2.8 h early); job 2 (1 GPU, 5 s) cannot
    # backfill and is told 20,000 as well (job 1's work, of a longer class, is not counted ahead of it), and starts
    # when job 1 has run, at 15,000
    trace = make_trace([(0, 10_000, 4), (0, 5_000, 4), (0, 5, 1)])
    est = np.array([20_000.0, 5_000.0, 5.0])
    r = simulate(trace, [SimMachine("m", 4, 1, 1.0)], "earliest-start", est)
    assert r.predicted_start_s is not None
    assert r.start_s.tolist() == [0, 10_000, 15_000]
    assert r.predicted_start_s.tolist() == [0, 20_000, 20_000]
    e = measure(r).prediction_error
    # jobs 0 and 1 take the whole node; job 2 takes one of its GPUs
    assert set(e) == {"m", "within a node", "whole nodes", "all"}
    assert (e["within a node"]["jobs"], e["whole nodes"]["jobs"]) == (1, 2)
    assert (e["within a node"]["mean_s"], e["whole nodes"]["mean_s"]) == (-5_000, -5_000)
    assert e["whole nodes"]["early_1h"] == 0.5
    assert e["m"]["jobs"] == 3
    assert e["m"]["mean_s"] == pytest.approx(-15_000 / 3)
    assert e["m"]["median_s"] == -5_000
    assert e["m"]["p10_s"] == pytest.approx(-10_000 + 0.2 * 5_000)
    assert e["m"]["p90_s"] == pytest.approx(-5_000 + 0.8 * 5_000)
    assert e["m"]["early_1h"] == pytest.approx(2 / 3)
    assert e["m"]["late_1h"] == 0
    assert dict(e["all"]) == dict(e["m"])


def test_prediction_error_counts_late_jobs():
    # true estimates: job 2 (1 GPU, 5 s) is told 10,000, the end of job 0, as job 1's work (a longer class) is not
    # counted ahead of it; job 1 then holds the node until 19,000, so job 2 starts 9,000 s (2.5 h) late
    trace = make_trace([(0, 10_000, 4), (0, 9_000, 4), (0, 5, 1)])
    r = simulate(trace, [SimMachine("m", 4, 1, 1.0)], "earliest-start", trace.duration_s.copy())
    assert r.predicted_start_s is not None
    assert r.start_s.tolist() == [0, 10_000, 19_000]
    assert r.predicted_start_s.tolist() == [0, 10_000, 10_000]
    e = measure(r).prediction_error["m"]
    assert e["late_1h"] == pytest.approx(1 / 3)
    assert e["early_1h"] == 0
    assert e["mean_s"] == pytest.approx(3_000)


@pytest.mark.parametrize("policy", ["home-site", "random", "least-loaded", "fastest-machine"])
def test_policies_that_ask_no_site_have_no_prediction_error(policy):
    trace = make_trace([(0, 100, 4), (0, 50, 4), (0, 5, 1)])
    r = simulate(trace, [SimMachine("m", 4, 1, 1.0)], policy, trace.duration_s.copy())
    assert r.predicted_start_s is not None and bool(np.isnan(r.predicted_start_s).all())
    assert dict(measure(r).prediction_error) == {}


@pytest.mark.parametrize("policy", ["earliest-start", "earliest-completion", "broker"])
def test_the_start_kept_is_the_one_told_for_the_machine_chosen(policy):
    # job 1 goes to b (idle), job 2 to a, told 100 there; b, asked last, said 200: 100 is what is kept
    trace = make_trace([(0, 100, 4), (0, 200, 4), (1, 10, 4)])
    machines = [SimMachine("a", 4, 1, 1.0), SimMachine("b", 4, 1, 1.0)]
    r = simulate(trace, machines, policy, trace.duration_s.copy(), size_min_jobs=10**9)
    assert r.predicted_start_s is not None
    assert r.machine.tolist() == [0, 1, 0]
    assert r.predicted_start_s.tolist() == [0, 0, 100]
    e = measure(r).prediction_error
    assert (e["a"]["jobs"], e["b"]["jobs"], e["all"]["jobs"]) == (2, 1, 3)
    assert "within a node" not in e and e["whole nodes"]["jobs"] == 3
    assert e["all"]["mean_s"] == 0
