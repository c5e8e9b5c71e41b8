"""The head's reservation found by looking up the order in which nodes become idle (MachineState.idle_order)
against the plain walk over the running jobs in order of estimated end: at every reservation of Hypothesis-drawn
runs, the same shadow time and the same nodes left short of spare GPUs, and so every job's machine, start and
finish the same."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.sim import SimMachine, simulate
from aifactory.core.sim.engine import _Engine
from aifactory.core.sim.machine import MachineState
from tests.core.sim.helpers import interpreted_only, make_trace

MACHINES = [SimMachine("a", 4, 6, 1.0), SimMachine("b", 8, 4, 2.0), SimMachine("c", 2, 5, 0.5)]
"""Nodes of 2, 4 and 8 GPUs: heads as wide as a node, wider ones, and narrower ones that are walked."""

job = st.tuples(st.integers(0, 4000), st.integers(1, 3000), st.sampled_from([1, 1, 1, 1, 2, 3, 4, 6, 8, 12, 16]))


def walked_reservation(engine: _Engine, m: MachineState) -> tuple[float, dict[int, int]]:
    """The reservation as the plain walk finds it: every running job in order of estimated end gives its GPUs
    back until enough nodes hold the head's share; the spare GPUs less the free ones, for every node touched."""
    head_gpus = engine.gpus[int(m.queue_jobs[m.queue_start])]
    per_node = m.gpus_per_node
    share = min(head_gpus, per_node)
    nodes_needed = 1 if head_gpus <= per_node else math.ceil(head_gpus / per_node)
    free_then = list(m.free_gpus)
    delta: dict[int, int] = {}
    for end in sorted({r[0] for r in m.running}):
        for r_end, _, held, node, nodes in m.running:
            if r_end == end:
                for n in (node,) if nodes is None else nodes:
                    given = held if nodes is None else per_node
                    free_then[n] += given
                    delta[n] = delta.get(n, 0) + given
        ready = [n for n in range(m.nodes) if free_then[n] >= share]
        if len(ready) >= nodes_needed:
            for n in ready[:nodes_needed]:
                delta[n] = delta.get(n, 0) - share
            return end, delta
    return math.inf, delta


def idle_order_from_scratch(m: MachineState) -> list[tuple[float, int]]:
    latest: dict[int, float] = {}
    for end, _, _, node, nodes in m.running:
        for n in (node,) if nodes is None else nodes:
            latest[n] = max(latest.get(n, -math.inf), end)
    return sorted((end, n) for n, end in latest.items())


def checked_run(trace, machines, policy, est):
    """The run, with every reservation compared with the plain walk's; returns the result and the number of
    reservations that took the lookup."""
    original = _Engine._reserve
    looked_up = 0

    def compared(self, m):
        nonlocal looked_up
        original(self, m)
        shadow, delta = walked_reservation(self, m)
        assert m.shadow_time == shadow
        short = {n: d for n, d in delta.items() if d < 0}  # what a backfill decision reads (see MachineState)
        assert {n: d for n, d in m.spare_delta.items() if d < 0} == short
        assert m.idle_order == idle_order_from_scratch(m)
        assert all(m.node_ends[n] == sorted(m.node_ends[n]) for n in range(m.nodes))
        head = self.gpus[int(m.queue_jobs[m.queue_start])]
        if head >= m.gpus_per_node:
            looked_up += 1

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Engine, "_reserve", compared)
        result = simulate(trace, machines, policy, est, size_min_jobs=5, size_refresh=3)
    return result, looked_up


@interpreted_only
@settings(max_examples=150, deadline=None)
@given(jobs=st.lists(job, min_size=5, max_size=120),
       factors=st.lists(st.sampled_from([1, 1, 2, 3, 7, 40]), min_size=120, max_size=120),
       policy=st.sampled_from(["earliest-start", "broker", "least-loaded", "random"]))
def test_every_reservation_is_the_walks(jobs, factors, policy):
    trace = make_trace(jobs)
    est = trace.duration_s * np.array(factors[: len(trace)], dtype=np.float64)
    checked_run(trace, MACHINES, policy, est)


@interpreted_only
def test_wide_heads_take_the_lookup_and_queues_form():
    rng = np.random.default_rng(11)
    n = 500
    jobs = [(float(t), float(d), int(g)) for t, d, g in zip(np.sort(rng.integers(0, 30_000, n)),
                                                           rng.integers(1, 20_000, n),
                                                           rng.choice([1, 1, 1, 2, 4, 8, 16], n), strict=True)]
    trace = make_trace(jobs)
    est = trace.duration_s * rng.choice([1.0, 1.5, 4.0, 10.0], n)
    result, looked_up = checked_run(trace, MACHINES, "earliest-start", est)
    assert looked_up > 100
    assert np.count_nonzero(result.start_s > result.submit_s) > n // 4


def test_idle_order_follows_starts_and_ends():
    m = MachineState(0, SimMachine("a", 4, 3, 1.0))
    m.hold(1, 50.0)
    m.hold(1, 20.0)
    m.hold(0, 30.0)
    m.hold(2, 30.0)
    assert m.idle_order == [(30.0, 0), (30.0, 2), (50.0, 1)]
    assert m.nodes_idle_by(1) == (30.0, [0, 2])  # ties at the shadow time come along
    assert m.nodes_idle_by(3) == (50.0, [0, 2, 1])
    assert m.nodes_idle_by(4) == (math.inf, [])
    m.unhold(1, 50.0)  # the latest job leaves: the node is idle at its other job's end
    assert m.idle_order == [(20.0, 1), (30.0, 0), (30.0, 2)]
    m.unhold(0, 30.0)
    assert m.idle_order == [(20.0, 1), (30.0, 2)]
    m.hold(2, 10.0)
    m.unhold(2, 10.0)  # an earlier job leaves: no change
    assert m.idle_order == [(20.0, 1), (30.0, 2)]
    assert m.node_ends == [[], [20.0], [30.0]]
