"""What a site tells a policy about a job behind a queue (aifactory.core.sim.prediction), on hand-built states.

One machine of 4 nodes x 4 GPUs. At time 0 four 3-GPU jobs take one node each (each leaves one GPU free) with
estimated ends 1,000, 2,000, 3,000 and 4,000 s: the GPUs free add up early, but a node is idle only when its job
ends."""

from __future__ import annotations

import numpy as np
import pytest

from aifactory.core.sim import SimMachine
from aifactory.core.sim.arrivals import Chunk
from aifactory.core.sim.engine import _Engine
from aifactory.core.sim.machine import CLASSES, fenwick_sum

MACHINE = SimMachine("a", 4, 4, 1.0)
BUSY = [(0.0, 1000.0, 3), (0.0, 2000.0, 3), (0.0, 3000.0, 3), (0.0, 4000.0, 3)]


@pytest.fixture(params=[10**9, 0], ids=["walked", "buckets"])
def fast_release_min_gpus(request: pytest.FixtureRequest) -> int:
    return int(request.param)


def arrived(jobs: list[tuple[float, float, int]], fast_release_min_gpus: int) -> _Engine:
    """An engine with `jobs` (submit, duration = estimate, GPUs) arrived on the machine, in order, at time 0 (no job
    ends before that)."""
    engine = _Engine([MACHINE], sorted({g for _, _, g in jobs}), fast_release_min_gpus, keep_project=False)
    n = len(jobs)
    engine.load(Chunk(np.array([j[0] for j in jobs]), np.array([j[1] for j in jobs]),
                      np.array([j[2] for j in jobs], dtype=np.int64), np.zeros(n, dtype=np.int64)),
                np.array([j[1] for j in jobs]))
    for job in range(n - 1):
        engine._arrive(job, engine.machines[0], 0.0)
    return engine


def told(jobs: list[tuple[float, float, int]], fast_release_min_gpus: int) -> float:
    """The start the machine expects for the last of `jobs`, the others having arrived."""
    engine = arrived(jobs, fast_release_min_gpus)
    return engine.expected_start(0, len(jobs) - 1, 0.0)


def test_a_whole_node_job_waits_for_the_nodes_drained_for_the_one_ahead_and_then_its_own(fast_release_min_gpus):
    # A (8 GPUs, 500 s) is queued. Poured onto the free GPUs, its work is done by 1,000 s and 8 GPUs are free by
    # 2,000 s; but A needs two idle nodes (the second at 2,000 s), and the next two-node drain takes as long again.
    jobs = [*BUSY, (0.0, 500.0, 8), (0.0, 500.0, 8)]
    assert told(jobs, fast_release_min_gpus) == 4000.0


def test_a_job_within_a_node_is_told_by_the_free_gpus_alone(fast_release_min_gpus):
    # The same queue; a 2-GPU job of 500 s is poured after A's 4,000 GPU-seconds onto the 4 GPUs free: 1,000 s, when
    # a node frees 3 more GPUs.
    jobs = [*BUSY, (0.0, 500.0, 8), (0.0, 500.0, 2)]
    assert told(jobs, fast_release_min_gpus) == 1000.0


def test_a_longer_whole_node_job_ahead_is_not_waited_for(fast_release_min_gpus):
    # A asks for 5,000 s, more than B's 500: B may pass it, as a shorter job may under EASY; B still needs two idle
    # nodes of its own, by 2,000 s.
    jobs = [*BUSY, (0.0, 5000.0, 8), (0.0, 500.0, 8)]
    assert told(jobs, fast_release_min_gpus) == 2000.0


def test_every_shorter_whole_node_job_ahead_takes_its_turn(fast_release_min_gpus):
    # A and two one-node jobs (4 GPUs) queued ahead of a 5,000 s job of two nodes: A's two-node drain (2,000 s), a
    # one-node drain (1,000 s) for each of the others, then its own (2,000 s).
    jobs = [*BUSY, (0.0, 500.0, 8), (0.0, 100.0, 4), (0.0, 100.0, 4), (0.0, 5000.0, 8)]
    assert told(jobs, fast_release_min_gpus) == 6000.0


def test_the_queued_counts_follow_the_queue(fast_release_min_gpus):
    jobs = [*BUSY, (0.0, 500.0, 8), (0.0, 100.0, 4), (0.0, 100.0, 2), (0.0, 1.0, 1)]
    engine = arrived(jobs, fast_release_min_gpus)
    m = engine.machines[0]
    assert m.queued == 3
    assert {k: round(fenwick_sum(counts, CLASSES - 1)) for k, counts in m.whole_queued.items()} == {2: 1, 1: 1}
    assert all(sorted(r) == r for r in m.queued_runtimes)
    assert sorted(x for r in m.queued_runtimes for x in r) == [100.0, 100.0, 500.0]
    engine._dequeue(m.queue_start + 1, m)
    assert {k: round(fenwick_sum(counts, CLASSES - 1)) for k, counts in m.whole_queued.items()} == {2: 1, 1: 0}
    while m.queued:
        engine._dequeue(m.queue_start, m)
    assert m.whole_queued == {}
    assert not any(m.queued_runtimes)
