"""The machines the simulator runs: catalog GPU machines, scaled down so that a trace loads them as asked.

A trace from one cluster would barely touch the federation's real machines, so each machine's node count is scaled
by one common factor s, keeping the machines' relative sizes:

    nodes_m(s)  = max(1, floor(s * real_nodes_m + 1/2))           whole nodes, at least one per machine
    capacity(s) = sum over m of nodes_m(s) * gpus_per_node_m * speed_m     (A100-equivalent GPUs)
    offered     = sum over jobs of gpus * duration / (last submission - first submission)   (A100 GPUs, busy on average)

s is chosen so that capacity(s) is as close as whole nodes allow to offered / load; the load achieved,
offered / capacity(s), is reported beside the one asked for. speed_m is the machine's peak dense BF16 per GPU
over the A100's 312 TFLOP/s: a trace duration is taken as measured on an A100, and runs duration / speed_m there.

A machine whose GPUs per node, node count (or total GPUs) or peak is unknown cannot be simulated; it is left out,
with the reason, in `Federation.left_out`.

At real size (`at_real_size`) the machines keep their catalog node counts (about 63,000 GPUs) and the trace is
raised to the load instead (`raise_to_load`): it is superposed on itself, `copies` copies each shifted in time by
a fraction of its span (aifactory.core.traces.superpose), and its submission times are then compressed by the
factor left (aifactory.core.traces.compress_time, between 1 and 2, or below 1 when the trace alone offers more
than asked). Neither changes a job: the replayed jobs are the trace's own, each taken `copies` times, so the mix
of GPUs and durations is the trace's (`JobMix` shows it side by side). The same raising is applied when scaled
machines cannot bring a small trace to the load asked (one node per machine is already too much): a trace is
never run at another load than the one asked without saying so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

import numpy as np
import numpy.typing as npt

from aifactory.core.exceptions import InvalidInput
from aifactory.core.placement import MachineView, speed_from_peak
from aifactory.core.sim.arrivals import RaisedArrivals
from aifactory.core.traces import Trace, compress_time, superpose

LOAD_TOLERANCE = 0.05
"""Scaled machines that miss the load asked by more than this share get the trace raised to it instead."""


class CatalogMachine(Protocol):
    """What the simulator reads of a catalog machine (aifactory.core.catalog.Machine has these fields)."""

    @property
    def key(self) -> str: ...
    @property
    def gpu_model(self) -> str | None: ...
    @property
    def gpu_memory_gb(self) -> float | None: ...
    @property
    def gpus_per_node(self) -> int | None: ...
    @property
    def nodes(self) -> int | None: ...
    @property
    def total_gpus(self) -> int | None: ...
    @property
    def peak_bf16_tflops(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class SimMachine:
    """A simulated machine: `nodes` nodes of `gpus_per_node` GPUs, each `speed` times an A100."""

    key: str
    gpus_per_node: int
    nodes: int
    speed: float
    gpu_model: str | None = None
    gpu_memory_gb: float | None = None
    real_nodes: int = 0
    """Nodes of the real machine (0 when it is not a scaled copy)."""

    @property
    def total_gpus(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def capacity(self) -> float:
        """A100-equivalent GPUs."""
        return self.total_gpus * self.speed

    def view(self, expected_wait_s: float = 0.0) -> MachineView:
        """The machine as the placement rules see it (alive, no allocation limit)."""
        return MachineView(key=self.key, gpu_model=self.gpu_model, gpu_memory_gb=self.gpu_memory_gb,
                           gpus_per_node=self.gpus_per_node, total_gpus=self.total_gpus, speed=self.speed,
                           expected_wait_s=expected_wait_s)


@dataclass(frozen=True)
class Federation:
    """The scaled machines and how they were sized."""

    machines: tuple[SimMachine, ...]
    scale: float
    offered_gpus: float
    load: float
    """The load asked for."""
    capacity: float
    left_out: Mapping[str, str]
    copies: int = 1
    """Copies of the trace superposed to reach the load (1: the trace as it is)."""
    compression: float = 1.0
    """The factor the submission times were divided by after superposing (1: none)."""

    @property
    def achieved_load(self) -> float:
        return self.offered_gpus / self.capacity if self.capacity > 0 else math.inf


def simulable(machines: Iterable[CatalogMachine]) -> tuple[list[SimMachine], dict[str, str]]:
    """Catalog machines at their real size, and those left out with the reason."""
    kept: list[SimMachine] = []
    left_out: dict[str, str] = {}
    for m in machines:
        speed = speed_from_peak(m.peak_bf16_tflops)
        gpn = m.gpus_per_node
        nodes = m.nodes
        if nodes is None and m.total_gpus is not None and gpn:
            nodes = m.total_gpus // gpn
        if not gpn or not nodes:
            left_out[m.key] = "GPU count unknown"
        elif speed is None:
            left_out[m.key] = "peak BF16 unknown"
        else:
            kept.append(SimMachine(key=m.key, gpus_per_node=gpn, nodes=nodes, speed=speed, gpu_model=m.gpu_model,
                                   gpu_memory_gb=m.gpu_memory_gb, real_nodes=nodes))
    return kept, left_out


def _sized(machines: Sequence[SimMachine], s: float) -> list[int]:
    return [max(1, math.floor(s * m.real_nodes + 0.5)) for m in machines]


def _capacity(machines: Sequence[SimMachine], nodes: Sequence[int]) -> float:
    return sum(n * m.gpus_per_node * m.speed for m, n in zip(machines, nodes, strict=True))


def scale_to_load(machines: Sequence[SimMachine], offered_gpus: float, load: float,
                  left_out: Mapping[str, str] | None = None) -> Federation:
    """Scale the machines' node counts by one factor so that offered_gpus / capacity is as close to `load` as whole
    nodes allow (see the module docstring)."""
    if not (0 < load <= 1):
        raise InvalidInput("load", f"must be in (0, 1], got {load}")
    if not machines:
        raise InvalidInput("machines", "no machine can be simulated")
    if not (offered_gpus > 0 and math.isfinite(offered_gpus)):
        raise InvalidInput("trace", "the trace demands no GPU time over a positive span")
    for m in machines:
        if m.real_nodes < 1:
            raise InvalidInput("machines", f"{m.key}: real node count unknown")
    target = offered_gpus / load
    lo, hi = 0.0, 1.0
    while _capacity(machines, _sized(machines, hi)) < target:
        hi *= 2.0
        if hi > 1e12:
            raise InvalidInput("load", "the machines cannot be scaled to this load")
    for _ in range(200):  # smallest s with capacity(s) >= target
        mid = (lo + hi) / 2
        if _capacity(machines, _sized(machines, mid)) >= target:
            hi = mid
        else:
            lo = mid
    above, below = _sized(machines, hi), _sized(machines, lo)
    cap_above, cap_below = _capacity(machines, above), _capacity(machines, below)
    s, nodes, cap = (lo, below, cap_below) if target - cap_below < cap_above - target else (hi, above, cap_above)
    scaled = tuple(SimMachine(key=m.key, gpus_per_node=m.gpus_per_node, nodes=n, speed=m.speed, gpu_model=m.gpu_model,
                              gpu_memory_gb=m.gpu_memory_gb, real_nodes=m.real_nodes)
                   for m, n in zip(machines, nodes, strict=True))
    return Federation(machines=scaled, scale=s, offered_gpus=offered_gpus, load=load, capacity=cap,
                      left_out=MappingProxyType(dict(left_out or {})))


def at_real_size(machines: Sequence[SimMachine], left_out: Mapping[str, str] | None = None) -> list[SimMachine]:
    """The machines at their catalog node counts (as `simulable` returns them), checked."""
    if not machines:
        raise InvalidInput("machines", "no machine can be simulated")
    for m in machines:
        if m.real_nodes < 1 or m.nodes != m.real_nodes:
            raise InvalidInput("machines", f"{m.key}: not at its real node count")
    return list(machines)


def raise_to_load(trace: Trace, capacity: float, load: float, *, limit: int | None = None) -> tuple[Trace, int, float]:
    """The trace raised to offer `load` x `capacity` (A100-GPUs busy on average): superposed `copies` times, the
    whole number of copies that stays at or below the load, then its submission times compressed by what is
    left (module docstring). With `limit`, the first `limit` jobs of the superposed trace, compressed so that they
    alone offer the load. Returns (trace, copies, compression)."""
    if not (0 < load <= 1):
        raise InvalidInput("load", f"must be in (0, 1], got {load}")
    offered = trace.gpu_seconds / trace.span_s if trace.span_s > 0 else 0.0
    if not (offered > 0 and math.isfinite(offered)):
        raise InvalidInput("trace", "the trace demands no GPU time over a positive span")
    target = load * capacity
    copies = max(1, math.floor(target / offered))
    raised = superpose(trace, copies, limit)
    if raised.span_s <= 0:
        raise InvalidInput("limit", "the jobs kept are all submitted at once, so their load is undefined")
    compression = target / (raised.gpu_seconds / raised.span_s)
    return compress_time(raised, compression), copies, compression


def real_size_arrivals(trace: Trace, machines: Sequence[SimMachine], load: float, *,
                       left_out: Mapping[str, str] | None = None,
                       limit: int | None = None) -> tuple[Federation, RaisedArrivals]:
    """`federation_at_load` at real size with the raised trace generated chunk by chunk instead of built
    (aifactory.core.sim.arrivals): the same machines, copies, jobs and submission times."""
    if not (0 < load <= 1):
        raise InvalidInput("load", f"must be in (0, 1], got {load}")
    if limit is not None and limit < 1:
        raise InvalidInput("limit", f"must be at least 1, got {limit}")
    real = at_real_size(machines, left_out)
    capacity = _capacity(real, [m.nodes for m in real])
    offered = trace.gpu_seconds / trace.span_s if trace.span_s > 0 else 0.0
    if not (offered > 0 and math.isfinite(offered)):
        raise InvalidInput("trace", "the trace demands no GPU time over a positive span")
    target = load * capacity
    copies = max(1, math.floor(target / offered))
    arrivals = RaisedArrivals(trace, copies, target, limit)
    return Federation(machines=tuple(real), scale=1.0, offered_gpus=arrivals.offered_gpus,
                      load=load, capacity=capacity, left_out=MappingProxyType(dict(left_out or {})),
                      copies=copies, compression=arrivals.compression), arrivals


def federation_at_load(trace: Trace, machines: Sequence[SimMachine], load: float, *, real_size: bool,
                       left_out: Mapping[str, str] | None = None,
                       limit: int | None = None) -> tuple[Federation, Trace]:
    """The federation the trace is replayed on at `load`, and the trace as replayed.

    Scaled (`real_size` False): the machines scaled to the trace (`scale_to_load`); if whole nodes miss the load
    by more than LOAD_TOLERANCE, the trace is raised to it on the scaled machines. Real size: the machines as they
    are, the trace raised to the load (`raise_to_load`)."""
    if real_size:
        real = at_real_size(machines, left_out)
        capacity = _capacity(real, [m.nodes for m in real])
        raised, copies, compression = raise_to_load(trace, capacity, load, limit=limit)
        return Federation(machines=tuple(real), scale=1.0, offered_gpus=raised.gpu_seconds / raised.span_s,
                          load=load, capacity=capacity, left_out=MappingProxyType(dict(left_out or {})),
                          copies=copies, compression=compression), raised
    if limit is not None:
        trace = trace.head(limit)
    if trace.span_s <= 0:
        raise InvalidInput("trace", "the submissions span no time, so the offered load is undefined")
    fed = scale_to_load(machines, trace.gpu_seconds / trace.span_s, load, left_out)
    if abs(fed.achieved_load - load) <= LOAD_TOLERANCE * load:
        return fed, trace
    raised, copies, compression = raise_to_load(trace, fed.capacity, load)
    return Federation(machines=fed.machines, scale=fed.scale, offered_gpus=raised.gpu_seconds / raised.span_s,
                      load=load, capacity=fed.capacity, left_out=fed.left_out, copies=copies,
                      compression=compression), raised


@dataclass(frozen=True)
class JobMix:
    """What a trace asks for, to compare a raised trace with its source: jobs, the share of jobs at each GPU count,
    and duration quantiles (A100 seconds)."""

    jobs: int
    width_share: Mapping[int, float]
    duration_quantiles: Mapping[str, float]
    mean_gpu_seconds: float

    @classmethod
    def of(cls, trace: Trace) -> JobMix:
        return cls.of_jobs(trace.duration_s, trace.gpus)

    @classmethod
    def of_jobs(cls, duration_s: npt.NDArray[np.float64], gpus: npt.NDArray[np.int64]) -> JobMix:
        """The mix of jobs given by their durations and GPUs (as a run's result holds them)."""
        jobs = int(duration_s.shape[0])
        widths, counts = np.unique(gpus, return_counts=True)
        n = max(jobs, 1)
        qs = (np.quantile(duration_s, [0.5, 0.9, 0.99], method="inverted_cdf") if jobs
              else np.zeros(3))  # a sample quantile, so that k copies of a trace have the trace's quantiles
        return cls(jobs=jobs,
                   width_share=MappingProxyType({int(w): float(c) / n for w, c in zip(widths, counts, strict=True)}),
                   duration_quantiles=MappingProxyType({"p50": float(qs[0]), "p90": float(qs[1]),
                                                        "p99": float(qs[2])}),
                   mean_gpu_seconds=float(np.dot(duration_s, gpus.astype(np.float64))) / n)
