"""A training run planned on one machine and a number of nodes: compute, parallel layout, memory, time, cost.

Data
    L, h, a, a_kv   layers, hidden size, attention heads, key/value heads (grouped-query attention when a_kv < a)
    f               feed-forward hidden size (4 h unless given); `glu` for SwiGLU-style MLPs (three matrices)
    s, V            sequence length, vocabulary
    D, B            training tokens, tokens per optimizer step (global batch)
    n, G, g         nodes, GPUs per node (as Slurm shows them), g = n G
    P, M            peak dense BF16 of one GPU (TFLOP/s), its memory (GB, 10^9 bytes)
    u0              the MFU prior of the GPU family (MFU_PRIORS, each with its source)

Parameters and compute (Narayanan et al. 2021, "Efficient large-scale language model training on GPU clusters
using Megatron-LM", section 5.1, generalised to GQA and gated MLPs)
    per layer       attention h (2h + 2 a_kv h/a) + MLP (3 if glu else 2) h f
    N_mm            L x per layer + V h (output projection): the parameters that multiply every token
    N               N_mm + V h (input embedding; counted once when tied)
    per token       F_tok = 6 N_mm + 12 L s h    (forward 2 N_mm + attention scores and values 4 L s h; backward
                    twice the forward; attention counted over the full sequence, as in the paper)
    run             C = F_tok D (model FLOPs: recomputation is not counted, as MFU requires)

Layout (Megatron-LM's 3D parallelism; ZeRO, Rajbhandari et al. 2020; FSDP is ZeRO stage 3)
    tensor parallel t within a node (t divides G, a and a_kv), pipeline parallel p across nodes (p divides n,
    p <= L), data parallel d = g / (t p) with ZeRO stage z in 0..3, micro-batch b = 1 sequence,
    m = ceil(B / (s d b)) micro-batches per pipeline per step.

Memory per GPU (bytes; mixed precision with Adam: 2 weights, 2 gradients, 12 optimizer states per parameter)
    states          N / (t p) x (2 [/d if z = 3] + 2 [/d if z >= 2] + 12 [/d if z >= 1])
    activations     Korthikanti et al. 2022 ("Reducing activation recomputation in large transformer models"),
                    tensor and sequence parallel, per layer and micro-batch:
                      no recomputation         s b h (34 + 5 a s / h) / t
                      selective (attention)    34 s b h / t
                      full                     2 s b h / t, plus one layer's full activations while recomputing
                    the first pipeline stage holds L / p layers for min(p, m) micro-batches in flight (1F1B);
                    the output layer adds 4 s b V / t (fp32 logits) when p = 1.
    A layout fits when states + activations <= 0.9 M: a tenth is left to the runtime, allocator and communication
    buffers (an assumption, not a measurement).

Time (the prior is the MFU of a tuned large run; a layout's own overheads come on top of it)
    recomputation   extra FLOPs: full adds a forward pass (2 N_mm + 4 L s h per token), selective the attention
                    scores and values (4 L s h per token); efficiency F_tok / (F_tok + extra)
    pipeline bubble (p - 1) / m of the step idle (1F1B): efficiency 1 / (1 + (p - 1) / m)
    u               u0 x recomputation efficiency x bubble efficiency
    step time       F_tok B / (g P 10^12 u);  tokens/s = B / step time;  wall = D / tokens/s;  GPU-hours = wall g
The layout chosen is the fastest that fits (fewer model-parallel GPUs on a tie). Communication is not modelled
beyond the prior: the prior carries the communication of the runs it was measured on, and a layout's gradient
all-reduce or ZeRO-3 gathers are assumed to overlap with compute as well as theirs did.

Limits: the nodes must not exceed the machine's, nor the largest queue of its site profile; a wall time longer than
the queue's limit runs as segments that resume from checkpoints (managed runs); the GPU-hours (and the site's billed
units, from its profile) are compared with the allocation when one is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from aifactory.core.catalog import Machine, load_catalog
from aifactory.core.exceptions import InvalidInput
from aifactory.core.sites import SiteProfile, load_profiles

GB = 1e9
MEMORY_USABLE = 0.9
DEFAULT_SEQ_LEN = 4096
DEFAULT_VOCAB = 32000
DEFAULT_BATCH_TOKENS = 4 * 1024 * 1024  # Llama 2's 4M-token global batch (Touvron et al. 2023, section 2.2)
STATE_BYTES = {"weights": 2, "gradients": 2, "optimizer": 12}


@dataclass(frozen=True)
class MfuPrior:
    value: float
    source: str


# Model FLOPs utilisation of large, tuned training runs on each GPU family (per GPU as Slurm shows it).
MFU_PRIORS: Mapping[str, MfuPrior] = MappingProxyType({
    "A100": MfuPrior(0.44, "GPT 175B with Megatron-LM (TP 8, PP 8, BF16, flash attention) on 384 A100 of JUWELS "
                           "Booster: 137.89 TFLOP/s per GPU of 312 (github FZJ-JSC/jubench-megatron-lm)"),
    "H100": MfuPrior(0.40, "Llama 3 405B on 8,192-16,384 H100: BF16 MFU 38-43 % (Dubey et al. 2024, "
                           "arXiv 2407.21783, Table 4)"),
    "GH200": MfuPrior(0.40, "the H100 prior (same Hopper GPU); no published GH200 training MFU was found"),
    "MI250X": MfuPrior(0.32, "GPT 1T with Megatron-DeepSpeed on 3,072 MI250X of Frontier: 31.96 % of peak "
                             "(175B on 1,024: 36.14 %) (Dash et al. 2023, arXiv 2312.12705)"),
})


class Recompute(StrEnum):
    NONE = "none"
    SELECTIVE = "selective"
    FULL = "full"


@dataclass(frozen=True)
class ModelShape:
    layers: int
    hidden: int
    heads: int
    seq_len: int = DEFAULT_SEQ_LEN
    vocab: int = DEFAULT_VOCAB
    ffn_hidden: int | None = None
    kv_heads: int | None = None
    glu: bool = False
    tied_embeddings: bool = False

    def __post_init__(self) -> None:
        for name, low, high in (("layers", 1, 1000), ("hidden", 64, 1 << 17), ("heads", 1, 1024),
                                ("seq_len", 16, 1 << 21), ("vocab", 2, 1 << 21)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInput(name, f"must be a whole number from {low:,} to {high:,}")
        if self.hidden % self.heads:
            raise InvalidInput("heads", f"{self.heads} heads do not divide the hidden size {self.hidden}")
        if self.ffn_hidden is not None and (
                isinstance(self.ffn_hidden, bool) or not isinstance(self.ffn_hidden, int)
                or not 1 <= self.ffn_hidden <= 1 << 19):
            raise InvalidInput("ffn_hidden", "must be a whole number from 1 to 524,288")
        kv = self.kv_heads
        if kv is not None and (isinstance(kv, bool) or not isinstance(kv, int) or kv < 1 or self.heads % kv):
            raise InvalidInput("kv_heads", f"must divide the {self.heads} heads")

    @property
    def ffn(self) -> int:
        return self.ffn_hidden if self.ffn_hidden is not None else 4 * self.hidden

    @property
    def kv(self) -> int:
        return self.kv_heads if self.kv_heads is not None else self.heads

    def layer_params(self) -> int:
        h = self.hidden
        attention = h * (2 * h + 2 * self.kv * h // self.heads)
        mlp = (3 if self.glu else 2) * h * self.ffn
        return attention + mlp + 2 * h  # two norms

    def matmul_params(self) -> int:
        return self.layers * self.layer_params() + self.vocab * self.hidden

    def params(self) -> int:
        return self.matmul_params() + (0 if self.tied_embeddings else self.vocab * self.hidden)

    def flops_per_token(self) -> float:
        """Model FLOPs of training on one token: 6 N_mm + 12 L s h."""
        return 6.0 * self.matmul_params() + 12.0 * self.layers * self.seq_len * self.hidden

    def attention_flops_share(self) -> float:
        return 12.0 * self.layers * self.seq_len * self.hidden / self.flops_per_token()

    def to_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "hidden": self.hidden, "heads": self.heads, "kv_heads": self.kv,
                "ffn_hidden": self.ffn, "glu": self.glu, "seq_len": self.seq_len, "vocab": self.vocab,
                "tied_embeddings": self.tied_embeddings, "params": self.params()}


# The GPT-3 family's shapes (Brown et al. 2020, Table 2.1): layers, hidden, heads.
STANDARD_SHAPES: tuple[tuple[int, int, int], ...] = (
    (12, 768, 12), (24, 1024, 16), (24, 1536, 16), (24, 2048, 16), (32, 2560, 32), (32, 4096, 32),
    (40, 5120, 40), (96, 12288, 96),
)


def shape_for_params(params: float, *, seq_len: int = DEFAULT_SEQ_LEN, vocab: int = DEFAULT_VOCAB) -> ModelShape:
    """A standard shape for a parameter count: layers interpolated in log(N) between the GPT-3 family's members
    (Brown et al. 2020, Table 2.1), a multiple of 4; the hidden size solved from N = 12 L h^2 + 2 V h and rounded
    to a multiple of 4 heads of 128 (of 64 below a hidden size of 2048)."""
    if isinstance(params, bool) or not isinstance(params, int | float) or not math.isfinite(params):
        raise InvalidInput("params", "must be a number")
    if not 1e6 <= params <= 1e13:
        raise InvalidInput("params", "must be between 10^6 and 10^13 parameters")

    def size(layers: int, hidden: int) -> float:
        return 12.0 * layers * hidden * hidden + 2.0 * vocab * hidden

    sizes = [(size(layers, hidden), layers) for layers, hidden, _ in STANDARD_SHAPES]
    if params <= sizes[0][0]:
        exact = float(sizes[0][1])
    elif params >= sizes[-1][0]:
        exact = 96 + 32 * math.log2(params / sizes[-1][0])
    else:  # between two members: layers interpolated in log(params)
        (low, l_low), (high, l_high) = next((a, b) for a, b in zip(sizes, sizes[1:], strict=False) if b[0] >= params)
        exact = l_low + (l_high - l_low) * math.log(params / low) / math.log(high / low)
    layers = max(4, 4 * round(exact / 4))
    a, bq, c = 12.0 * layers, 2.0 * vocab, -float(params)
    hidden = (-bq + math.sqrt(bq * bq - 4 * a * c)) / (2 * a)
    head_dim = 64 if hidden < 2048 else 128
    step = head_dim * 4  # head counts that tensor parallelism of 4 divides
    hidden_i = max(step, step * round(hidden / step))
    return ModelShape(layers=layers, hidden=hidden_i, heads=hidden_i // head_dim, seq_len=seq_len, vocab=vocab)


@dataclass(frozen=True)
class Layout:
    tp: int
    pp: int
    dp: int
    zero: int
    recompute: Recompute
    micro_batch: int
    micro_batches: int

    @property
    def sharding(self) -> str:
        return {0: "none", 1: "ZeRO-1 (optimizer states)", 2: "ZeRO-2 (optimizer states, gradients)",
                3: "ZeRO-3 / FSDP (full)"}[self.zero]

    def to_dict(self) -> dict[str, Any]:
        return {"tensor_parallel": self.tp, "pipeline_parallel": self.pp, "data_parallel": self.dp,
                "zero_stage": self.zero, "sharding": self.sharding, "recompute": self.recompute.value,
                "micro_batch": self.micro_batch, "micro_batches": self.micro_batches}


@dataclass(frozen=True)
class Memory:
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    activations_no_recompute_gb: float
    activations_selective_gb: float
    activations_full_gb: float

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.gradients_gb + self.optimizer_gb + self.activations_gb

    def to_dict(self) -> dict[str, Any]:
        return {"weights_gb": self.weights_gb, "gradients_gb": self.gradients_gb, "optimizer_gb": self.optimizer_gb,
                "activations_gb": self.activations_gb, "total_gb": self.total_gb,
                "activations_by_recompute_gb": {"none": self.activations_no_recompute_gb,
                                                "selective": self.activations_selective_gb,
                                                "full": self.activations_full_gb}}


def memory_per_gpu(shape: ModelShape, layout: Layout) -> Memory:
    """Bytes per GPU on the first pipeline stage (formulas in the module doc), in GB."""
    t, p, d = layout.tp, layout.pp, layout.dp
    share = shape.params() / (t * p)
    weights = share * STATE_BYTES["weights"] / (d if layout.zero >= 3 else 1)
    gradients = share * STATE_BYTES["gradients"] / (d if layout.zero >= 2 else 1)
    optimizer = share * STATE_BYTES["optimizer"] / (d if layout.zero >= 1 else 1)
    s, b, h, a = shape.seq_len, layout.micro_batch, shape.hidden, shape.heads
    full_layer = s * b * h * (34 + 5 * a * s / h) / t
    in_flight = min(p, layout.micro_batches)
    layers = math.ceil(shape.layers / p)
    logits = 4.0 * s * b * shape.vocab / t if p == 1 else 0.0
    by_kind = {
        Recompute.NONE: full_layer * layers * in_flight + logits,
        Recompute.SELECTIVE: 34.0 * s * b * h / t * layers * in_flight + logits,
        Recompute.FULL: 2.0 * s * b * h / t * layers * in_flight + full_layer + logits,
    }
    return Memory(weights / GB, gradients / GB, optimizer / GB, by_kind[layout.recompute] / GB,
                  by_kind[Recompute.NONE] / GB, by_kind[Recompute.SELECTIVE] / GB, by_kind[Recompute.FULL] / GB)


def layout_efficiency(shape: ModelShape, layout: Layout) -> float:
    """Recomputation and pipeline-bubble efficiency of a layout (module doc), 0 < e <= 1."""
    f_tok = shape.flops_per_token()
    attention = 4.0 * shape.layers * shape.seq_len * shape.hidden
    extra = {Recompute.NONE: 0.0, Recompute.SELECTIVE: attention,
             Recompute.FULL: 2.0 * shape.matmul_params() + attention}[layout.recompute]
    bubble = 1.0 / (1.0 + (layout.pp - 1) / layout.micro_batches)
    return f_tok / (f_tok + extra) * bubble


def candidate_layouts(shape: ModelShape, *, nodes: int, gpus_per_node: int,
                      batch_tokens: int) -> list[Layout]:
    sequences = max(1, batch_tokens // shape.seq_len)
    gpus = nodes * gpus_per_node
    out: list[Layout] = []
    tps = [t for t in _powers_of_two(gpus_per_node) if gpus_per_node % t == 0 and shape.kv % t == 0
           and shape.heads % t == 0]
    pps = [p for p in range(1, nodes + 1) if nodes % p == 0 and p <= shape.layers]
    for tp in tps:
        for pp in pps:
            dp = gpus // (tp * pp)
            if dp > sequences:
                continue
            micro = math.ceil(sequences / dp)
            for zero in (0, 1, 2, 3):
                if zero and dp == 1:
                    continue
                for recompute in Recompute:
                    out.append(Layout(tp, pp, dp, zero, recompute, 1, micro))
    return out


def _powers_of_two(limit: int) -> list[int]:
    out, value = [], 1
    while value <= limit:
        out.append(value)
        value *= 2
    return out


@dataclass(frozen=True)
class RunPlan:
    machine: str
    machine_name: str
    gpu_model: str | None
    nodes: int
    gpus_per_node: int
    gpus: int
    shape: ModelShape
    tokens: float
    batch_tokens: int
    flops: float
    flops_per_token: float
    attention_share: float
    layout: Layout | None
    memory: Memory | None
    memory_limit_gb: float | None
    mfu_prior: MfuPrior | None
    mfu: float | None
    step_s: float | None
    tokens_per_s: float | None
    wall_hours: float | None
    gpu_hours: float | None
    billed: float | None
    billed_unit: str | None
    queue_limit_hours: float | None
    segments: int | None
    allocation_gpu_hours: float | None
    fits_allocation: bool | None
    can_run: bool  # the machine can take it: nodes, a queue, a layout that fits memory
    reasons: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        """It can run and, when an allocation was given, finishes within it."""
        return self.can_run and self.fits_allocation is not False

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine, "machine_name": self.machine_name, "gpu_model": self.gpu_model,
            "nodes": self.nodes, "gpus_per_node": self.gpus_per_node, "gpus": self.gpus,
            "shape": self.shape.to_dict(), "tokens": self.tokens, "batch_tokens": self.batch_tokens,
            "flops": self.flops, "flops_per_token": self.flops_per_token, "attention_share": self.attention_share,
            "layout": None if self.layout is None else self.layout.to_dict(),
            "memory": None if self.memory is None else self.memory.to_dict(),
            "memory_limit_gb": self.memory_limit_gb,
            "mfu_prior": None if self.mfu_prior is None else {"value": self.mfu_prior.value,
                                                              "source": self.mfu_prior.source},
            "mfu": self.mfu, "step_s": self.step_s, "tokens_per_s": self.tokens_per_s,
            "wall_hours": self.wall_hours, "gpu_hours": self.gpu_hours, "billed": self.billed,
            "billed_unit": self.billed_unit, "queue_limit_hours": self.queue_limit_hours, "segments": self.segments,
            "allocation_gpu_hours": self.allocation_gpu_hours, "fits_allocation": self.fits_allocation,
            "can_run": self.can_run, "feasible": self.feasible, "reasons": list(self.reasons),
        }


def plan_run(
    *,
    machine: str,
    nodes: int,
    tokens: float,
    shape: ModelShape | None = None,
    params: float | None = None,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    allocation_gpu_hours: float | None = None,
    mfu: float | None = None,
    gpus_per_node: int | None = None,
) -> RunPlan:
    """Plan a run of `tokens` tokens on `nodes` nodes of one machine (formulas in the module doc)."""
    if shape is None:
        if params is None:
            raise InvalidInput("params", "give the model's shape or its parameter count")
        shape = shape_for_params(params)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 100_000:
        raise InvalidInput("nodes", "must be a whole number from 1 to 100,000")
    if isinstance(tokens, bool) or not isinstance(tokens, int | float) or not math.isfinite(tokens) or tokens <= 0:
        raise InvalidInput("tokens", "must be a positive number")
    if (isinstance(batch_tokens, bool) or not isinstance(batch_tokens, int)
            or not shape.seq_len <= batch_tokens <= 1 << 30):
        raise InvalidInput("batch_tokens", f"must be a whole number of tokens, one sequence ({shape.seq_len}) or more")
    if mfu is not None and (isinstance(mfu, bool) or not isinstance(mfu, int | float) or not 0 < mfu <= 1):
        raise InvalidInput("mfu", "must be a fraction above 0 and at most 1")
    if allocation_gpu_hours is not None and (
            isinstance(allocation_gpu_hours, bool) or not isinstance(allocation_gpu_hours, int | float)
            or not math.isfinite(allocation_gpu_hours) or allocation_gpu_hours < 0):
        raise InvalidInput("allocation_gpu_hours", "must be a number of GPU-hours, 0 or more")
    catalog = load_catalog()
    try:
        m: Machine = catalog.machine(machine)
    except (KeyError, InvalidInput):
        raise InvalidInput("machine", f"unknown machine {machine!r}") from None
    profiles = load_profiles()
    profile: SiteProfile | None = next((p for p in profiles.profiles if p.machine == m.key), None)
    reasons: list[str] = []
    can_run = True
    gpn = profile.gpus_per_node if profile else m.gpus_per_node
    if not gpn:
        raise InvalidInput("machine", f"{m.name} has no GPUs the planner knows of")
    if gpus_per_node is not None:
        if isinstance(gpus_per_node, bool) or not isinstance(gpus_per_node, int) or not 1 <= gpus_per_node <= gpn:
            raise InvalidInput("gpus_per_node", f"must be from 1 to the {gpn} GPUs of a {m.name} node")
        gpn = gpus_per_node
    gpus = nodes * gpn
    if m.nodes is not None and nodes > m.nodes:
        can_run = False
        reasons.append(f"{nodes:,} nodes asked but {m.name} has {m.nodes:,}.")
    queue_limit: float | None = None
    if profile is not None and profile.queues:
        try:
            queue = profile.queue_for(nodes)
        except InvalidInput as exc:
            can_run = False
            limits = exc.message.split(" (", 1)[-1].rstrip(")")
            reasons.append(f"No queue of {m.name} takes {nodes:,} nodes ({limits}).")
            queue = None
        if queue is not None and queue.max_time_min is not None:
            queue_limit = queue.max_time_min / 60
    elif profile is not None:
        reasons.append(f"{m.name}'s queues and their limits are not known: node and wall-time limits not checked.")
    flops_tok = shape.flops_per_token()
    flops = flops_tok * float(tokens)
    best: tuple[float, Layout, Memory] | None = None
    limit = None if m.gpu_memory_gb is None else m.gpu_memory_gb * MEMORY_USABLE
    if limit is None:
        reasons.append(f"The memory of one {m.gpu_model} is not known: no layout could be checked.")
        can_run = False
    else:
        for layout in candidate_layouts(shape, nodes=nodes, gpus_per_node=gpn, batch_tokens=batch_tokens):
            memory = memory_per_gpu(shape, layout)
            if memory.total_gb > limit:
                continue
            eff = layout_efficiency(shape, layout)
            key = eff - 1e-6 * (layout.tp * layout.pp) - 1e-9 * layout.zero
            if best is None or key > best[0]:
                best = (key, layout, memory)
        if best is None:
            can_run = False
            reasons.append(
                f"No layout fits: with tensor parallel up to {gpn} within a node, pipeline parallel across the "
                f"{nodes:,} node(s), ZeRO up to stage 3 and full recomputation, a GPU would need more than the "
                f"{limit:,.1f} GB usable of the {m.gpu_memory_gb:g} GB of one {m.gpu_model}: ask for more nodes.")
    layout_chosen = best[1] if best else None
    memory_chosen = best[2] if best else None
    prior = MFU_PRIORS.get(m.gpu_model or "")
    step = tps = wall = hours = billed = None
    u: float | None = None
    segments: int | None = None
    base = float(mfu) if mfu is not None else (prior.value if prior else None)
    if base is None:
        reasons.append(f"No MFU prior for the {m.gpu_model}: no time estimate.")
    if m.peak_bf16_tflops is None:
        reasons.append(f"The peak BF16 throughput of the {m.gpu_model} is not known: no time estimate.")
    if layout_chosen is not None and base is not None and m.peak_bf16_tflops is not None:
        u = base * layout_efficiency(shape, layout_chosen)
        step_tokens = layout_chosen.dp * layout_chosen.micro_batches * layout_chosen.micro_batch * shape.seq_len
        step = flops_tok * step_tokens / (gpus * m.peak_bf16_tflops * 1e12 * u)
        tps = step_tokens / step
        wall = float(tokens) / tps / 3600
        hours = wall * gpus
        if profile is not None and profile.billing is not None:
            billed = wall * nodes * profile.billing.per_node_hour
        if queue_limit is not None:
            segments = max(1, math.ceil(wall / queue_limit))
            if segments > 1:
                reasons.append(f"The run takes {wall:,.1f} h, longer than the {queue_limit:g} h a job may run: "
                               f"{segments} segments resuming from checkpoints (a managed run).")
    fits_allocation: bool | None = None
    if allocation_gpu_hours is not None and hours is not None:
        fits_allocation = hours <= allocation_gpu_hours
        if not fits_allocation:
            reasons.append(f"The run needs {hours:,.0f} GPU-hours, more than the {allocation_gpu_hours:,.0f} of the "
                           "allocation.")
    return RunPlan(
        machine=m.key, machine_name=m.name, gpu_model=m.gpu_model, nodes=nodes, gpus_per_node=gpn, gpus=gpus,
        shape=shape, tokens=float(tokens), batch_tokens=batch_tokens, flops=flops, flops_per_token=flops_tok,
        attention_share=shape.attention_flops_share(), layout=layout_chosen, memory=memory_chosen,
        memory_limit_gb=limit, mfu_prior=prior if mfu is None else MfuPrior(float(mfu), "given"),
        mfu=u, step_s=step, tokens_per_s=tps, wall_hours=wall, gpu_hours=hours,
        billed=billed, billed_unit=profile.billing.unit if profile and profile.billing else None,
        queue_limit_hours=queue_limit, segments=segments, allocation_gpu_hours=allocation_gpu_hours,
        fits_allocation=fits_allocation, can_run=can_run, reasons=tuple(reasons),
    )


# Keys of a model configuration file: aifactory's own, or those of a Hugging Face config.json.
_CONFIG_KEYS = {
    "layers": ("layers", "num_hidden_layers", "n_layer"),
    "hidden": ("hidden", "hidden_size", "n_embd", "d_model"),
    "heads": ("heads", "num_attention_heads", "n_head"),
    "kv_heads": ("kv_heads", "num_key_value_heads"),
    "ffn_hidden": ("ffn_hidden", "intermediate_size", "n_inner"),
    "seq_len": ("seq_len", "max_position_embeddings", "n_positions"),
    "vocab": ("vocab", "vocab_size"),
}
MAX_CONFIG_BYTES = 64 * 1024


def shape_from_config(data: object) -> ModelShape:
    """A model shape from a configuration (a JSON object): aifactory's keys or a Hugging Face config's. SwiGLU is
    assumed when the config names a gated activation (`glu`, or hidden_act silu/swiglu with an intermediate size)."""
    if not isinstance(data, dict):
        raise InvalidInput("model", "the model configuration must be a JSON object")
    values: dict[str, Any] = {}
    for name, keys in _CONFIG_KEYS.items():
        for key in keys:
            if data.get(key) is not None:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InvalidInput(f"model.{key}", "must be a whole number")
                values[name] = value
                break
    for name in ("layers", "hidden", "heads"):
        if name not in values:
            raise InvalidInput(f"model.{name}", f"missing: give one of {', '.join(_CONFIG_KEYS[name])}")
    glu = data.get("glu")
    if glu is None:
        glu = str(data.get("hidden_act", "")).lower() in ("silu", "swiglu", "swish") and "ffn_hidden" in values
    if not isinstance(glu, bool):
        raise InvalidInput("model.glu", "must be true or false")
    tied = data.get("tied_embeddings", data.get("tie_word_embeddings", False))
    if not isinstance(tied, bool):
        raise InvalidInput("model.tied_embeddings", "must be true or false")
    return ModelShape(glu=glu, tied_embeddings=tied, **values)
