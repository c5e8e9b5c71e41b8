"""Arrivals generated chunk by chunk: the same jobs, order and times as the superposed, compressed trace, the same
job mix, and the same simulation as on the built trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput
from aifactory.core.sim import (
    JobMix,
    RaisedArrivals,
    SimMachine,
    estimates,
    federation_at_load,
    real_size_arrivals,
    simulate,
    simulate_arrivals,
)
from aifactory.core.sim.estimates import estimate_stream
from aifactory.core.traces import compress_time, superpose
from tests.core.sim.helpers import make_trace

JOBS = [(0, 100, 1), (10, 50, 2), (10, 60, 1), (30, 400, 4), (60, 20, 1), (60, 30, 2), (100, 10, 8)]


def built(trace, copies, target, limit=None):
    """The raised trace as federation.raise_to_load builds it."""
    raised = superpose(trace, copies, limit)
    return compress_time(raised, target / (raised.gpu_seconds / raised.span_s))


def joined(arrivals):
    chunks = list(arrivals.chunks())
    return tuple(np.concatenate([getattr(c, name) for c in chunks]) if chunks else np.zeros(0)
                 for name in ("submit_s", "duration_s", "gpus", "project"))


@pytest.mark.parametrize("copies,limit,chunk_jobs", [(1, None, 3), (3, None, 1), (3, 11, 4), (7, None, 5),
                                                      (7, 30, 100), (64, 300, 17)])
def test_chunks_are_the_built_trace_job_for_job(copies, limit, chunk_jobs):
    trace = make_trace(JOBS, projects=[0, 1, 0, 1, 2, 2, 0])
    arrivals = RaisedArrivals(trace, copies, 50.0, limit, chunk_jobs=chunk_jobs)
    expected = built(trace, copies, 50.0, limit)
    submit, duration, gpus, project = joined(arrivals)
    assert len(arrivals) == len(expected) == submit.shape[0]
    assert arrivals.compression == pytest.approx(expected.submit_s[-1] and
                                                 50.0 / (superpose(trace, copies, limit).gpu_seconds /
                                                         superpose(trace, copies, limit).span_s), rel=1e-12)
    # the same times bit for bit, once compressed by the same factor
    same_factor = compress_time(superpose(trace, copies, limit), arrivals.compression)
    assert np.array_equal(submit, same_factor.submit_s)
    assert np.array_equal(duration, expected.duration_s)
    assert np.array_equal(gpus, expected.gpus)
    assert np.array_equal(project, expected.project)
    assert arrivals.projects == len(expected.projects)
    assert arrivals.offered_gpus == pytest.approx(50.0)


@settings(max_examples=60, deadline=None)
@given(jobs=st.lists(st.tuples(st.integers(0, 50), st.integers(0, 500), st.sampled_from([1, 2, 4, 8])),
                     min_size=2, max_size=25),
       copies=st.integers(1, 20), cut=st.floats(0.05, 1.0), chunk_jobs=st.integers(1, 40))
def test_any_trace_any_chunking_gives_the_built_order(jobs, copies, cut, chunk_jobs):
    trace = make_trace(jobs)
    if trace.span_s <= 0 or trace.gpu_seconds <= 0:
        return
    limit = max(2, int(cut * len(trace) * copies))
    head = superpose(trace, copies, limit)
    if head.span_s <= 0:
        with pytest.raises(InvalidInput):
            RaisedArrivals(trace, copies, 10.0, limit, chunk_jobs=chunk_jobs)
        return
    arrivals = RaisedArrivals(trace, copies, 10.0, limit, chunk_jobs=chunk_jobs)
    submit, duration, gpus, project = joined(arrivals)
    expected = compress_time(head, arrivals.compression)
    assert np.array_equal(submit, expected.submit_s)
    assert np.array_equal(duration, expected.duration_s)
    assert np.array_equal(gpus, expected.gpus)
    assert np.array_equal(project, expected.project)


def test_the_job_mix_is_the_traces_each_job_once_per_copy():
    trace = make_trace(JOBS)
    arrivals = RaisedArrivals(trace, 5, 80.0, chunk_jobs=4)
    _, duration, gpus, _ = joined(arrivals)
    pairs = sorted(zip(gpus.tolist(), duration.tolist(), strict=True))
    assert pairs == sorted(5 * list(zip(trace.gpus.tolist(), trace.duration_s.tolist(), strict=True)))
    mix, source = JobMix.of_jobs(duration, gpus), JobMix.of(trace)
    assert mix.width_share == source.width_share
    assert mix.duration_quantiles == source.duration_quantiles
    assert mix.mean_gpu_seconds == pytest.approx(source.mean_gpu_seconds)


def test_estimates_drawn_chunk_by_chunk_are_the_whole_runs():
    duration = np.linspace(1.0, 5000.0, 1001)
    for kind in ("user", "oracle"):
        draw = estimate_stream(kind, 7)
        parts = [draw(duration[a:b]) for a, b in ((0, 1), (1, 400), (400, 401), (401, 1001))]
        assert np.array_equal(np.concatenate(parts), estimates(kind, duration, 7))
    with pytest.raises(InvalidInput):
        estimate_stream("guess", 0)


MACHINES = [SimMachine("big", 4, 6, 1.0, real_nodes=6), SimMachine("fast", 8, 2, 2.5, real_nodes=2),
            SimMachine("small", 2, 3, 0.5, real_nodes=3)]


@pytest.mark.parametrize("policy", ["broker", "home-site", "earliest-start", "least-loaded"])
@pytest.mark.parametrize("kind", ["user", "oracle"])
def test_a_streamed_run_is_the_run_on_the_built_trace(policy, kind):
    jobs = [(i * 500 + (i * 37) % 200, 100 + (i * 613) % 1900, (1, 1, 2, 4, 8, 1, 16)[i % 7]) for i in range(40)]
    trace = make_trace(jobs + [(20000, 5, 64)], projects=[i % 4 for i in range(41)])
    fed, arrivals = real_size_arrivals(trace, MACHINES, 0.8, limit=150)
    fed_built, raised = federation_at_load(trace, MACHINES, 0.8, real_size=True, limit=150)
    assert fed.copies == fed_built.copies >= 3 and len(arrivals) == len(raised) == 150
    streamed = simulate_arrivals(arrivals, fed.machines, policy, kind, seed=3, size_min_jobs=10, size_refresh=5)
    # the built trace compressed by the streamed factor (the two sums of work may differ in their last bits)
    same = compress_time(superpose(trace, fed.copies, 150), arrivals.compression)
    reference = simulate(same, fed.machines, policy, estimates(kind, same.duration_s, 3), seed=3,
                         estimates_label=kind, size_min_jobs=10, size_refresh=5)
    for name in ("submit_s", "start_s", "finish_s", "machine", "gpus", "duration_s", "allocated_gpus"):
        assert np.array_equal(getattr(streamed, name), getattr(reference, name), equal_nan=True), name
    assert streamed.too_wide == reference.too_wide
    assert np.count_nonzero(streamed.machine >= 0) > 100 and np.count_nonzero(streamed.start_s > streamed.submit_s)


def test_nonsense_is_refused():
    trace = make_trace(JOBS)
    for kwargs in ({"copies": 0, "target": 1.0}, {"copies": 2, "target": 0.0}, {"copies": 2, "target": 1.0,
                                                                               "limit": -1}):
        with pytest.raises(InvalidInput):
            RaisedArrivals(trace, **kwargs)
    with pytest.raises(InvalidInput):
        RaisedArrivals(trace, 2, 1.0, chunk_jobs=0)
    with pytest.raises(InvalidInput):
        RaisedArrivals(make_trace([(0, 10, 1), (5, 10, 1)]), 2, 1.0, limit=1)  # one job spans no time
    with pytest.raises(InvalidInput):
        real_size_arrivals(trace, MACHINES, 1.5)
