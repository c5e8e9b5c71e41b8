"""The planner against published training runs that state their GPU-hours and hardware.

For each run of data/published_runs.json: its model FLOPs C = F_tok D (attention included, aifactory.core.training),
the planned GPU-hours C / (P u0) / 3600 with the GPU's peak dense BF16 P and the MFU prior u0 of its family, and the
ratio planned / published. The layout's own overheads (bubbles, recomputation) are left out here, as the papers do
not give the layouts; the published GPU-hours include restarts, evaluation and idle time, so a ratio below 1 is
expected. For contrast, the former estimate: 6 N D at a fixed MFU of 0.4.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from aifactory.core.exceptions import InvalidInput
from aifactory.core.training import MFU_PRIORS, ModelShape

PEAK_BF16 = {"A100": 312.0, "H100": 989.0, "GH200": 989.0, "MI250X": 191.5}  # as the catalog, per GPU
FIXED_MFU = 0.4


@dataclass(frozen=True)
class PublishedRun:
    key: str
    name: str
    gpu: str
    gpu_hours: float
    tokens: float
    shape: ModelShape
    source: str


@dataclass(frozen=True)
class Comparison:
    run: PublishedRun
    params: int
    flops: float
    planned_gpu_hours: float
    ratio: float
    six_nd_gpu_hours: float
    six_nd_ratio: float

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run.key, "name": self.run.name, "gpu": self.run.gpu, "params": self.params,
                "tokens": self.run.tokens, "flops": self.flops, "published_gpu_hours": self.run.gpu_hours,
                "planned_gpu_hours": self.planned_gpu_hours, "ratio": self.ratio,
                "six_nd_gpu_hours": self.six_nd_gpu_hours, "six_nd_ratio": self.six_nd_ratio,
                "source": self.run.source}


@cache
def published_runs() -> tuple[PublishedRun, ...]:
    text = resources.files("aifactory.core").joinpath("data/published_runs.json").read_text(encoding="utf-8")
    data = json.loads(text)
    runs = []
    for raw in data["runs"]:
        if raw["gpu"] not in PEAK_BF16:
            raise InvalidInput(f"runs.{raw['key']}.gpu", f"no peak throughput known for {raw['gpu']}")
        runs.append(PublishedRun(key=raw["key"], name=raw["name"], gpu=raw["gpu"], gpu_hours=float(raw["gpu_hours"]),
                                 tokens=float(raw["tokens"]), shape=ModelShape(**raw["shape"]), source=raw["source"]))
    return tuple(runs)


def compare(run: PublishedRun) -> Comparison:
    peak = PEAK_BF16[run.gpu] * 1e12
    flops = run.shape.flops_per_token() * run.tokens
    planned = flops / (peak * MFU_PRIORS[run.gpu].value) / 3600
    six_nd = 6.0 * run.shape.params() * run.tokens / (peak * FIXED_MFU) / 3600
    return Comparison(run=run, params=run.shape.params(), flops=flops, planned_gpu_hours=planned,
                      ratio=planned / run.gpu_hours, six_nd_gpu_hours=six_nd, six_nd_ratio=six_nd / run.gpu_hours)


def comparisons() -> tuple[Comparison, ...]:
    return tuple(compare(run) for run in published_runs())


def markdown_table() -> str:
    rows = ["| run | GPU | params | tokens | model FLOPs | published GPU-hours | planned GPU-hours | ratio | "
            "6ND at 0.4: GPU-hours | ratio |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in comparisons():
        rows.append(f"| {c.run.name} | {c.run.gpu} | {c.params / 1e9:.1f}B | {c.run.tokens / 1e12:g}T | "
                    f"{c.flops:.3g} | {c.run.gpu_hours:,.0f} | {c.planned_gpu_hours:,.0f} | {c.ratio:.2f} | "
                    f"{c.six_nd_gpu_hours:,.0f} | {c.six_nd_ratio:.2f} |")
    return "\n".join(rows)
