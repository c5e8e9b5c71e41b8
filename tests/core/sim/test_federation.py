"""Scaling the catalog's machines to a load, worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aifactory.core.exceptions import InvalidInput
from aifactory.core.sim import SimMachine, scale_to_load, simulable


@dataclass(frozen=True)
class FakeMachine:
    key: str
    gpu_model: str | None = "A100"
    gpu_memory_gb: float | None = 40.0
    gpus_per_node: int | None = 4
    nodes: int | None = 10
    total_gpus: int | None = 40
    peak_bf16_tflops: float | None = 312.0


def test_simulable_leaves_out_unknown_machines_with_the_reason():
    kept, left = simulable([
        FakeMachine("a"),
        FakeMachine("no-count", nodes=None, total_gpus=None),
        FakeMachine("no-peak", peak_bf16_tflops=None),
        FakeMachine("from-total", nodes=None, total_gpus=24),
        FakeMachine("cpu", gpus_per_node=None, nodes=100, total_gpus=0),
    ])
    assert [m.key for m in kept] == ["a", "from-total"]
    assert kept[1].real_nodes == 6
    assert left == {"no-count": "GPU count unknown", "no-peak": "peak BF16 unknown", "cpu": "GPU count unknown"}


def test_scale_to_load_by_hand():
    # A: 100 nodes x 4 GPUs at speed 1; B: 10 nodes x 8 GPUs at speed 2. Offered 40 A100-GPUs at load 0.5: the
    # target capacity is 80. Just below s = 0.15: A has 15 nodes (60), B 1 node (16): 76. From s = 0.15 B has 2
    # nodes: 60 + 32 = 92. 76 is closer to 80, so A 15 nodes, B 1, achieved load 40 / 76.
    a = SimMachine("a", 4, 100, 1.0, real_nodes=100)
    b = SimMachine("b", 8, 10, 2.0, real_nodes=10)
    fed = scale_to_load([a, b], 40.0, 0.5, {"x": "GPU count unknown"})
    assert [m.nodes for m in fed.machines] == [15, 1]
    assert fed.capacity == 76.0
    assert fed.achieved_load == pytest.approx(40 / 76)
    assert fed.left_out == {"x": "GPU count unknown"}
    assert fed.machines[1].total_gpus == 8


def test_every_machine_keeps_at_least_one_node():
    a = SimMachine("a", 4, 1000, 1.0, real_nodes=1000)
    b = SimMachine("b", 4, 1, 1.0, real_nodes=1)
    fed = scale_to_load([a, b], 4.0, 1.0)
    assert fed.machines[1].nodes == 1
    assert fed.machines[0].nodes >= 1


@pytest.mark.parametrize("load", [0.0, -0.1, 1.01])
def test_load_outside_0_1_is_refused(load):
    with pytest.raises(InvalidInput):
        scale_to_load([SimMachine("a", 4, 10, 1.0, real_nodes=10)], 10.0, load)


def test_nothing_to_scale_is_refused():
    with pytest.raises(InvalidInput):
        scale_to_load([], 10.0, 0.5)
    with pytest.raises(InvalidInput):
        scale_to_load([SimMachine("a", 4, 10, 1.0, real_nodes=10)], 0.0, 0.5)
