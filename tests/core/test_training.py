"""The run planner: parameters and FLOPs with attention, memory with and without recomputation, layouts that fit
the node, the MFU prior per GPU family, time, limits and the allocation; and the published runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput
from aifactory.core.published import comparisons, markdown_table
from aifactory.core.training import (
    MFU_PRIORS,
    Layout,
    ModelShape,
    Recompute,
    layout_efficiency,
    memory_per_gpu,
    plan_run,
    shape_for_params,
    shape_from_config,
)

LLAMA2_7B = ModelShape(layers=32, hidden=4096, heads=32, ffn_hidden=11008, glu=True, seq_len=4096, vocab=32000)
GPT3_175B = ModelShape(layers=96, hidden=12288, heads=96, seq_len=2048, vocab=51200)


def test_parameters_as_published() -> None:
    assert LLAMA2_7B.params() == pytest.approx(6.74e9, rel=0.01)
    assert GPT3_175B.params() == pytest.approx(175e9, rel=0.02)


def test_flops_per_token_include_attention_as_in_narayanan_2021() -> None:
    # 72 B s l h^2 (1 + s / (6h) + V / (12 l h)) per batch of B sequences of s tokens, for the 4h-MLP model.
    s, layer, h, v = 2048, 96, 12288, 51200
    per_token = 72 * layer * h * h * (1 + s / (6 * h) + v / (12 * layer * h))
    assert GPT3_175B.flops_per_token() == pytest.approx(per_token, rel=0.002)
    assert LLAMA2_7B.attention_flops_share() == pytest.approx(12 * 32 * 4096 * 4096 / LLAMA2_7B.flops_per_token())
    longer = ModelShape(layers=32, hidden=4096, heads=32, ffn_hidden=11008, glu=True, seq_len=32768, vocab=32000)
    assert longer.flops_per_token() > 1.8 * LLAMA2_7B.flops_per_token()


def test_activation_memory_follows_korthikanti_2022() -> None:
    shape = ModelShape(layers=4, hidden=1024, heads=16, seq_len=2048, vocab=32000)
    s, b, h, a, t = 2048, 1, 1024, 16, 2
    layout = Layout(tp=t, pp=2, dp=1, zero=0, recompute=Recompute.NONE, micro_batch=b, micro_batches=8)
    mem = memory_per_gpu(shape, layout)
    per_layer = s * b * h * (34 + 5 * a * s / h) / t
    assert mem.activations_no_recompute_gb == pytest.approx(per_layer * 2 * 2 / 1e9)  # 2 layers x 2 in flight
    assert mem.activations_selective_gb == pytest.approx(34 * s * b * h / t * 4 / 1e9)
    assert mem.activations_full_gb == pytest.approx((2 * s * b * h / t * 4 + per_layer) / 1e9)
    big = memory_per_gpu(LLAMA2_7B, Layout(1, 1, 8, 0, Recompute.FULL, 1, 64))
    assert big.activations_full_gb < big.activations_selective_gb < big.activations_no_recompute_gb


def test_zero_stages_shard_states() -> None:
    def states(zero: int) -> float:
        mem = memory_per_gpu(LLAMA2_7B, Layout(1, 1, 8, zero, Recompute.SELECTIVE, 1, 64))
        return mem.weights_gb + mem.gradients_gb + mem.optimizer_gb

    n = LLAMA2_7B.params() / 1e9
    assert states(0) == pytest.approx(16 * n)
    assert states(1) == pytest.approx(4 * n + 12 * n / 8)
    assert states(2) == pytest.approx(2 * n + 14 * n / 8)
    assert states(3) == pytest.approx(16 * n / 8)


def test_recomputation_and_bubbles_cost_time() -> None:
    none = Layout(1, 1, 8, 0, Recompute.NONE, 1, 8)
    assert layout_efficiency(LLAMA2_7B, none) == 1
    assert layout_efficiency(LLAMA2_7B, Layout(1, 1, 8, 0, Recompute.FULL, 1, 8)) == pytest.approx(0.75, abs=0.03)
    assert 0.9 < layout_efficiency(LLAMA2_7B, Layout(1, 1, 8, 0, Recompute.SELECTIVE, 1, 8)) < 1
    assert layout_efficiency(LLAMA2_7B, Layout(1, 4, 2, 0, Recompute.NONE, 1, 8)) == pytest.approx(1 / (1 + 3 / 8))


def test_plan_on_leonardo_layout_fits_the_node() -> None:
    plan = plan_run(machine="leonardo", nodes=16, tokens=2e12, shape=LLAMA2_7B)
    assert plan.gpus == 64 and plan.can_run
    assert plan.layout is not None and plan.memory is not None and plan.memory_limit_gb is not None
    assert 4 % plan.layout.tp == 0 and 16 % plan.layout.pp == 0
    assert plan.layout.tp * plan.layout.pp * plan.layout.dp == 64
    assert plan.memory.total_gb <= plan.memory_limit_gb
    assert plan.mfu_prior is MFU_PRIORS["A100"] and "JUWELS" in plan.mfu_prior.source
    assert plan.gpu_hours == pytest.approx(plan.wall_hours * 64)  # type: ignore[operator]
    assert plan.tokens_per_s == pytest.approx(2e12 / (plan.wall_hours * 3600))  # type: ignore[operator]
    assert plan.queue_limit_hours == 24 and plan.segments == math.ceil(plan.wall_hours / 24)  # type: ignore[operator]
    assert plan.billed == pytest.approx(plan.wall_hours * 16 * 32)  # type: ignore[operator]


def test_mi250x_runs_lower_than_h100() -> None:
    assert MFU_PRIORS["MI250X"].value < MFU_PRIORS["H100"].value
    lumi = plan_run(machine="lumi", nodes=8, tokens=1e11, shape=LLAMA2_7B)
    mn5 = plan_run(machine="marenostrum5", nodes=16, tokens=1e11, shape=LLAMA2_7B)
    assert lumi.mfu is not None and mn5.mfu is not None and lumi.mfu < mn5.mfu


def test_a_model_too_big_for_the_nodes_cannot_run() -> None:
    plan = plan_run(machine="karolina", nodes=1, tokens=1e12, params=175e9)
    assert not plan.can_run and plan.layout is None and plan.gpu_hours is None
    assert any("No layout fits" in r for r in plan.reasons)
    bigger = plan_run(machine="karolina", nodes=64, tokens=1e12, params=175e9)
    assert bigger.can_run and bigger.layout is not None and bigger.layout.recompute is not Recompute.NONE


def test_limits_and_allocation() -> None:
    assert not plan_run(machine="lumi", nodes=2000, tokens=1e9, params=1e9).can_run  # above standard-g's 1024
    assert not plan_run(machine="vega", nodes=61, tokens=1e9, params=1e9).can_run  # Vega has 60 nodes
    fits = plan_run(machine="leonardo", nodes=2, tokens=1e9, params=1e8, allocation_gpu_hours=1000)
    assert fits.fits_allocation is True and fits.feasible
    short = plan_run(machine="leonardo", nodes=2, tokens=1e11, params=1e9, allocation_gpu_hours=10)
    assert short.fits_allocation is False and not short.feasible and short.can_run
    unknown = plan_run(machine="jupiter", nodes=4, tokens=1e9, params=1e9)
    assert unknown.queue_limit_hours is None and any("not known" in r for r in unknown.reasons)


def test_refusals() -> None:
    with pytest.raises(InvalidInput, match="machine"):
        plan_run(machine="frontier", nodes=1, tokens=1e9, params=1e9)
    with pytest.raises(InvalidInput, match="nodes"):
        plan_run(machine="lumi", nodes=0, tokens=1e9, params=1e9)
    with pytest.raises(InvalidInput, match="params"):
        plan_run(machine="lumi", nodes=1, tokens=1e9)
    with pytest.raises(InvalidInput, match="heads"):
        ModelShape(layers=2, hidden=1000, heads=3)
    with pytest.raises(InvalidInput, match="gpus_per_node"):
        plan_run(machine="leonardo", nodes=1, tokens=1e9, params=1e9, gpus_per_node=8)


def test_shapes_from_a_parameter_count_and_a_config() -> None:
    for params in (1.2e8, 1e9, 7e9, 7e10, 1e12):
        shape = shape_for_params(params)
        assert shape.params() == pytest.approx(params, rel=0.12)
        assert shape.heads % 4 == 0 or shape.hidden < 2048
    hf = {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
          "intermediate_size": 14336, "hidden_act": "silu", "max_position_embeddings": 8192, "vocab_size": 128256}
    shape = shape_from_config(hf)
    assert shape.glu and shape.kv == 8 and shape.params() == pytest.approx(8.03e9, rel=0.01)  # Llama 3 8B
    for bad, field in (({"hidden_size": 4096}, "layers"), ([], "model"), ({**hf, "hidden_size": "big"}, "hidden")):
        with pytest.raises(InvalidInput, match=field):
            shape_from_config(bad)


@settings(max_examples=40, deadline=None)
@given(params=st.floats(1e7, 5e11), nodes=st.integers(1, 64))
def test_a_chosen_layout_always_fits_and_uses_every_gpu(params: float, nodes: int) -> None:
    plan = plan_run(machine="leonardo", nodes=nodes, tokens=1e10, params=params)
    if plan.layout is not None:
        assert plan.layout.tp * plan.layout.pp * plan.layout.dp == plan.gpus
        assert plan.memory is not None and plan.memory.total_gb <= 64 * 0.9


def test_published_runs_within_a_factor_of_two_and_the_docs_table_is_current() -> None:
    found = comparisons()
    assert {c.run.key for c in found} >= {"llama2-7b", "llama2-13b", "llama2-34b", "llama2-70b"}
    for c in found:
        assert 0.5 < c.ratio < 2, (c.run.name, c.ratio)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text(encoding="utf-8")
    assert markdown_table() in docs, "docs/training.md: paste the output of `aifactory plan --published`"
