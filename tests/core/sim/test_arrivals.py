"""Raising a trace to a load: superposed time-shifted copies, then compressed time; the job mix stays the trace's."""

from __future__ import annotations

import numpy as np
import pytest

from aifactory.core.exceptions import InvalidInput
from aifactory.core.sim import JobMix, SimMachine, federation_at_load, raise_to_load
from aifactory.core.traces import compress_time, superpose
from tests.core.sim.helpers import make_trace

JOBS = [(0, 100, 1), (10, 50, 2), (30, 400, 4), (60, 20, 1), (100, 10, 8)]


def offered(trace) -> float:
    return trace.gpu_seconds / trace.span_s


def test_superposed_copies_keep_every_job_and_the_span():
    trace = make_trace(JOBS, projects=[0, 1, 0, 1, 0])
    raised = superpose(trace, 3)
    assert len(raised) == 15
    assert raised.span_s == trace.span_s
    assert offered(raised) == pytest.approx(3 * offered(trace))
    # the same (gpus, duration) pairs, each three times
    pairs = sorted(zip(raised.gpus.tolist(), raised.duration_s.tolist(), strict=True))
    assert pairs == sorted(3 * list(zip(trace.gpus.tolist(), trace.duration_s.tolist(), strict=True)))
    # copy c is shifted by c/3 of the span and wrapped around; its projects are its own
    assert sorted(raised.submit_s.tolist()) == sorted(
        [((s + c * 100 / 3) if s + c * 100 / 3 <= 100 else s + c * 100 / 3 - 100) for c in range(3)
         for s, _, _ in JOBS])
    assert len(raised.projects) == 6 and "p0#2" in raised.projects
    assert JobMix.of(raised).width_share == JobMix.of(trace).width_share
    assert JobMix.of(raised).duration_quantiles == JobMix.of(trace).duration_quantiles


def test_compressed_time_packs_the_same_jobs_closer():
    trace = make_trace(JOBS)
    fast = compress_time(trace, 2.5)
    assert fast.submit_s.tolist() == [s / 2.5 for s, _, _ in JOBS]
    assert fast.duration_s.tolist() == trace.duration_s.tolist() and fast.gpus.tolist() == trace.gpus.tolist()
    assert offered(fast) == pytest.approx(2.5 * offered(trace))


@pytest.mark.parametrize("bad", [0, -1])
def test_nonsense_copies_and_factors_are_refused(bad):
    trace = make_trace(JOBS)
    with pytest.raises(InvalidInput):
        superpose(trace, bad)
    with pytest.raises(InvalidInput):
        compress_time(trace, float(bad))


@pytest.mark.parametrize("load", [0.3, 0.9, 1.0])
def test_raise_to_load_reaches_the_load_asked_exactly(load):
    trace = make_trace(JOBS)
    capacity = 40.0
    raised, copies, compression = raise_to_load(trace, capacity, load)
    assert offered(raised) / capacity == pytest.approx(load, rel=1e-12)
    assert copies == max(1, int(load * capacity // offered(trace)))
    assert 1.0 <= compression < 2.0 or copies == 1
    assert len(raised) == copies * len(trace)


def test_a_head_of_the_raised_trace_is_compressed_to_the_load_too():
    trace = make_trace([(i * 10, 100 + i, 1 + i % 4) for i in range(50)])
    raised, copies, _ = raise_to_load(trace, 200.0, 0.8, limit=120)
    assert len(raised) == 120 and copies > 2
    assert offered(raised) / 200.0 == pytest.approx(0.8, rel=1e-12)


def test_real_size_keeps_node_counts_and_reports_how_the_load_was_reached():
    machines = [SimMachine(key="big", gpus_per_node=4, nodes=50, speed=1.0, real_nodes=50),
                SimMachine(key="fast", gpus_per_node=4, nodes=10, speed=2.0, real_nodes=10)]
    trace = make_trace(JOBS)
    fed, raised = federation_at_load(trace, machines, 0.7, real_size=True)
    assert [m.nodes for m in fed.machines] == [50, 10] and fed.scale == 1.0
    assert fed.capacity == 50 * 4 + 10 * 4 * 2.0
    assert fed.achieved_load == pytest.approx(0.7)
    assert fed.copies == len(raised) // len(trace) and fed.copies > 1


def test_a_trace_too_small_for_scaled_machines_is_raised_not_run_at_another_load():
    """One node per machine already offers more capacity than the trace needs at 0.9: the trace is raised."""
    machines = [SimMachine(key=k, gpus_per_node=8, nodes=100, speed=1.0, real_nodes=100) for k in "abc"]
    trace = make_trace([(0, 10, 1), (1000, 10, 1)])
    fed, raised = federation_at_load(trace, machines, 0.9, real_size=False)
    assert [m.nodes for m in fed.machines] == [1, 1, 1]
    assert fed.copies > 1 or fed.compression > 1
    assert fed.achieved_load == pytest.approx(0.9)
    assert np.array_equal(np.unique(raised.gpus), [1])
