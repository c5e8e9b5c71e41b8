"""The expected start behind a queue found by time buckets (machines that keep their releases in Fenwick trees)
against the walk over the running jobs: on whole-number inputs, where both sums are exact, every decision is the
same."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.sim import SimMachine, simulate
from aifactory.core.sim.machine import BUCKET_S
from aifactory.core.sim.prediction import SitePrediction
from tests.core.sim.helpers import interpreted_only, make_trace

NEVER = 10**9  # no machine is this large: every machine walks its running jobs
ALWAYS = 0  # every machine keeps its releases by time bucket

MACHINES = [SimMachine("a", 4, 3, 1.0), SimMachine("b", 8, 2, 2.0), SimMachine("c", 2, 4, 0.5)]
WIDE = [SimMachine("a", 4, 12, 1.0), SimMachine("b", 8, 5, 2.0)]
"""Many running jobs against little queued work: the work ahead is done before the last running job ends."""

job = st.tuples(st.integers(0, 6000), st.integers(1, 3000), st.sampled_from([1, 1, 1, 1, 2, 3, 4, 6, 8, 16]))


def both(trace, policy, est, machines=MACHINES):
    walked = simulate(trace, machines, policy, est, fast_release_min_gpus=NEVER, size_min_jobs=5, size_refresh=3)
    buckets = simulate(trace, machines, policy, est, fast_release_min_gpus=ALWAYS, size_min_jobs=5, size_refresh=3)
    return walked, buckets


def same(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True) for k in ("machine", "start_s", "finish_s"))


@settings(max_examples=120, deadline=None)
@given(jobs=st.lists(job, min_size=5, max_size=60),
       factors=st.lists(st.sampled_from([1, 1, 2, 3, 7, 40]), min_size=60, max_size=60),
       policy=st.sampled_from(["earliest-start", "earliest-completion", "broker"]))
def test_buckets_and_walk_place_every_job_alike(jobs, factors, policy):
    trace = make_trace(jobs)
    est = trace.duration_s * np.array(factors[: len(trace)], dtype=np.float64)
    walked, buckets = both(trace, policy, est)
    assert same(walked, buckets)


def test_queues_spanning_many_buckets_and_the_run_is_not_trivial():
    # long jobs and long estimates put the running jobs' ends thousands of buckets apart
    rng = np.random.default_rng(5)
    n = 400
    jobs = [(int(t), int(d), int(g)) for t, d, g in zip(np.sort(rng.integers(0, 40_000, n)),
                                                       rng.integers(1, 60_000, n),
                                                       rng.choice([1, 1, 1, 2, 4, 8, 12], n), strict=True)]
    trace = make_trace(jobs)
    est = trace.duration_s * rng.choice([1.0, 2.0, 5.0, 13.0], n)
    for policy in ("earliest-start", "earliest-completion", "broker"):
        walked, buckets = both(trace, policy, est)
        assert same(walked, buckets), policy
        waits = walked.start_s - walked.submit_s
        assert np.count_nonzero(waits > 0) > n // 4  # queues formed, so the fluid estimate was asked
    assert float(trace.duration_s.max() * 13.0) > 100 * BUCKET_S


short = st.tuples(st.integers(0, 3000), st.integers(1, 200), st.sampled_from([1, 1, 1, 1, 2, 3, 4, 8]))
"""Short jobs: many running jobs end within one bucket, so a bucket is walked past its first job."""


@interpreted_only
@settings(max_examples=80, deadline=None)
@given(jobs=st.one_of(st.lists(job, min_size=5, max_size=120), st.lists(short, min_size=50, max_size=200)),
       factors=st.lists(st.sampled_from([1, 1, 2, 3, 7, 40]), min_size=200, max_size=200),
       machines=st.sampled_from([MACHINES, WIDE]))
def test_every_expected_start_is_the_same_number(jobs, factors, machines):
    trace = make_trace(jobs)
    est = trace.duration_s * np.array(factors[: len(trace)], dtype=np.float64)
    answers: dict[int, list[float]] = {NEVER: [], ALWAYS: []}
    original = SitePrediction.expected_start
    with pytest.MonkeyPatch.context() as patch:
        for threshold, seen in answers.items():
            def recorded(self, mi, j, now, seen=seen):
                start = original(self, mi, j, now)
                seen.append(start)
                return start

            patch.setattr(SitePrediction, "expected_start", recorded)
            simulate(trace, machines, "earliest-start", est, fast_release_min_gpus=threshold)
    assert answers[NEVER] == answers[ALWAYS]
    assert len(answers[NEVER]) >= len(trace)
