"""The backfill scan of a long queue (skipped when no width class in the queue may backfill; the positions that may
backfill found once with array masks, and only those tried again after a backfill) against the plain scan that
tries every queued job after each backfill: every job's machine, start and finish the same."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.sim import SimMachine, engine, simulate
from aifactory.core.sim.engine import _Engine
from aifactory.core.sim.machine import MachineState
from tests.core.sim.helpers import interpreted_only, make_trace

pytestmark = interpreted_only

MACHINES = [SimMachine("a", 4, 4, 1.0), SimMachine("b", 8, 2, 2.0)]
EVERY_QUEUE_IS_LONG = 0
"""Every scan takes the masks, however short the queue."""

job = st.tuples(st.integers(0, 3000), st.integers(1, 3000), st.sampled_from([1, 1, 1, 1, 2, 3, 4, 6, 8, 16]))


def plain_schedule(self: _Engine, m: MachineState, t: float) -> None:
    """`_Engine._schedule` trying every queued job after the head, in order, from the front after each backfill."""
    while m.queued:
        p = m.queue_start
        job = int(m.queue_jobs[p])
        nodes = self._fit_now(m, self.gpus[job])
        if nodes is None:
            break
        self._dequeue(p, m)
        self._start(job, m, nodes, t)
    m.reservation_valid = False
    if not m.queued or m.most_free() == 0:
        return
    self._reserve(m)
    p = m.queue_start + 1
    while p < m.queue_end and m.most_free() > 0:
        fit, spare, _, _ = self._tables(m)
        c = int(m.queue_width_class[p])
        if fit[c] and (spare[c] or t + float(m.queue_runtime[p]) <= m.shadow_time):
            assert self._backfill(int(m.queue_jobs[p]), m, t)
            self._dequeue(p, m)
        p += 1


def run(trace, policy, est, *, plain=False, small_scan=engine._SMALL_SCAN):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "_SMALL_SCAN", small_scan)
        if plain:
            patch.setattr(_Engine, "_schedule", plain_schedule)
        return simulate(trace, MACHINES, policy, est, size_min_jobs=5, size_refresh=3)


def same(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True) for k in ("machine", "start_s", "finish_s"))


@settings(max_examples=120, deadline=None)
@given(jobs=st.lists(job, min_size=5, max_size=150),
       factors=st.lists(st.sampled_from([1, 1, 2, 3, 7, 40]), min_size=150, max_size=150),
       policy=st.sampled_from(["earliest-start", "broker", "random"]),
       small_scan=st.sampled_from([EVERY_QUEUE_IS_LONG, 4, 32]))
def test_masks_and_plain_scan_place_every_job_alike(jobs, factors, policy, small_scan):
    trace = make_trace(jobs)
    est = trace.duration_s * np.array(factors[: len(trace)], dtype=np.float64)
    assert same(run(trace, policy, est, small_scan=small_scan), run(trace, policy, est, plain=True))


def test_several_backfills_in_one_pass_over_a_long_queue():
    rng = np.random.default_rng(3)
    n = 600
    jobs = [(float(t), float(d), int(g)) for t, d, g in zip(np.sort(rng.integers(0, 20_000, n)),
                                                           rng.integers(1, 20_000, n),
                                                           rng.choice([1, 1, 1, 2, 4, 8, 16], n), strict=True)]
    trace = make_trace(jobs)
    est = trace.duration_s * rng.choice([1.0, 1.5, 4.0, 10.0], n)
    masks = run(trace, "earliest-start", est, small_scan=EVERY_QUEUE_IS_LONG)
    assert same(masks, run(trace, "earliest-start", est, plain=True))
    waits = masks.start_s - masks.submit_s
    assert np.count_nonzero(waits > 0) > n // 3  # long queues formed


def test_a_pass_is_skipped_when_no_width_class_may_backfill():
    rng = np.random.default_rng(5)
    n = 400
    jobs = [(float(t), float(d), int(g)) for t, d, g in zip(np.sort(rng.integers(0, 10_000, n)),
                                                           rng.integers(1, 20_000, n),
                                                           rng.choice([1, 2, 4, 8, 16], n), strict=True)]
    trace = make_trace(jobs)
    est = trace.duration_s * rng.choice([1.0, 2.0, 6.0], n)
    answers: list[bool] = []
    original = _Engine._may_backfill

    def recorded(m: MachineState, t: float, tables) -> bool:
        answer = original(m, t, tables)
        answers.append(answer)
        return answer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Engine, "_may_backfill", staticmethod(recorded))
        skipping = run(trace, "earliest-start", est, small_scan=EVERY_QUEUE_IS_LONG)
    assert answers.count(False) > 10 and answers.count(True) > 10
    assert same(skipping, run(trace, "earliest-start", est, plain=True))
