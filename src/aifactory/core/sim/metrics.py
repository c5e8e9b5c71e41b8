"""Figures of a simulation run. Over the jobs that ran (jobs wider than every machine are counted apart):

    queueing delay  start - submit                          mean, median, 99th percentile (linear interpolation)
    JCT             finish - submit                         mean
    bounded slowdown max(1, (finish - submit) / max(finish - start, 10 s))      mean
    utilisation     per machine: GPUs held x (finish - start), summed over its jobs, / (its GPUs x makespan)
    makespan        last finish - first submission
    lower bound     mean over jobs of duration / the fastest speed among the machines it fits on: each job alone
                    on the fastest GPU it can use, without waiting; no policy's mean JCT can be below it
    prediction error per machine and over all, for the jobs whose policy asked the chosen machine's site for an
                    expected start (SimResult.predicted_start_s): actual start - expected start, its mean, median,
                    10th and 90th percentiles, and the shares of those jobs that started more than an hour later
                    (late_1h) or earlier (early_1h) than expected; also over the jobs of fewer GPUs than a node
                    ("within a node") and over those that took whole nodes ("whole nodes"); none for a policy that
                    asks no site
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from aifactory.core.placement import fits
from aifactory.core.sim.engine import SimResult
from aifactory.core.sim.federation import SimMachine

BSLD_THRESHOLD_S = 10.0
LATE_S = 3600.0
"""A job that starts more than this later (earlier) than its expected start counts as late (early)."""
WITHIN_NODE = "within a node"
WHOLE_NODES = "whole nodes"
"""`prediction_error`'s keys for the jobs of fewer GPUs than a node of the machine they ran on, and for the jobs
that took whole nodes there (a node's GPUs or more)."""


@dataclass(frozen=True)
class RunMetrics:
    policy: str
    estimates: str
    jobs: int
    too_wide: int
    mean_wait_s: float
    median_wait_s: float
    p99_wait_s: float
    mean_jct_s: float
    mean_bounded_slowdown: float
    makespan_s: float
    utilisation: Mapping[str, float]
    lower_bound_mean_jct_s: float
    wall_s: float
    jobs_per_s: float
    cpu_s: float = math.nan
    """CPU seconds of the process during the simulation (wall_s counts time the machine gave to others)."""
    jobs_per_cpu_s: float = math.nan
    prediction_error: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))
    """By machine key, "within a node", "whole nodes" and "all": how far the jobs' starts fell from the start the
    policy expected (module docstring); only the keys with such jobs, empty for a policy that asks no site."""

    def to_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy, "estimates": self.estimates, "jobs": self.jobs, "too_wide": self.too_wide,
            "mean_wait_s": self.mean_wait_s, "median_wait_s": self.median_wait_s, "p99_wait_s": self.p99_wait_s,
            "mean_jct_s": self.mean_jct_s, "mean_bounded_slowdown": self.mean_bounded_slowdown,
            "makespan_s": self.makespan_s, "utilisation": dict(self.utilisation),
            "lower_bound_mean_jct_s": self.lower_bound_mean_jct_s, "wall_s": self.wall_s,
            "jobs_per_s": self.jobs_per_s, "cpu_s": self.cpu_s, "jobs_per_cpu_s": self.jobs_per_cpu_s,
            "prediction_error": {k: dict(v) for k, v in self.prediction_error.items()},
        }


def best_speed(gpus: npt.NDArray[np.int64], machines: Sequence[SimMachine]) -> npt.NDArray[np.float64]:
    """Per job, the fastest speed among the machines it fits on; NaN where it fits on none."""
    out = np.full(gpus.shape[0], math.nan)
    for g in np.unique(gpus).tolist():
        speeds = [m.speed for m in machines if fits(int(g), m.gpus_per_node, m.total_gpus)]
        if speeds:
            out[gpus == g] = max(speeds)
    return out


def lower_bound_mean_jct(duration_s: npt.NDArray[np.float64], gpus: npt.NDArray[np.int64],
                         machines: Sequence[SimMachine]) -> float:
    """Mean of duration / fastest fitting speed over the jobs that fit somewhere."""
    speed = best_speed(gpus, machines)
    ok = ~np.isnan(speed)
    return float(np.mean(duration_s[ok] / speed[ok])) if ok.any() else math.nan


def _error_figures(err: npt.NDArray[np.float64]) -> Mapping[str, float]:
    p10, median, p90 = (float(x) for x in np.percentile(err, [10, 50, 90]))
    return MappingProxyType({
        "jobs": float(err.shape[0]), "mean_s": float(err.mean()), "median_s": median, "p10_s": p10, "p90_s": p90,
        "late_1h": float(np.count_nonzero(err > LATE_S)) / err.shape[0],
        "early_1h": float(np.count_nonzero(err < -LATE_S)) / err.shape[0],
    })


def prediction_error(result: SimResult) -> Mapping[str, Mapping[str, float]]:
    """Actual start - the start the policy expected on the machine it chose, per machine key and over all (module
    docstring). Only the jobs that have an expected start are read: one array of their errors is made."""
    predicted = result.predicted_start_s
    if predicted is None:
        return MappingProxyType({})
    told = np.flatnonzero(np.isfinite(predicted) & (result.machine >= 0))
    if told.shape[0] == 0:
        return MappingProxyType({})
    err = result.start_s[told] - predicted[told]
    where = result.machine[told]
    whole = result.gpus[told] >= np.array([m.gpus_per_node for m in result.machines], dtype=np.int64)[where]
    del told
    out: dict[str, Mapping[str, float]] = {}
    for i, m in enumerate(result.machines):
        mine = err[where == i]
        if mine.shape[0]:
            out[m.key] = _error_figures(mine)
    for key, part in ((WITHIN_NODE, err[~whole]), (WHOLE_NODES, err[whole])):
        if part.shape[0]:
            out[key] = _error_figures(part)
    out["all"] = _error_figures(err)
    return MappingProxyType(out)


def measure(result: SimResult) -> RunMetrics:
    """The run's figures (module docstring). At millions of jobs every per-job temporary is 8 bytes a job, so
    each is dropped as soon as its figure is taken, and the jobs that ran are not copied when all of them did."""
    ran = result.machine >= 0
    every = bool(ran.all())

    def floats(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return a if every else a[ran]

    def ints(a: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return a if every else a[ran]

    submit = floats(result.submit_s)
    start = floats(result.start_s)
    finish = floats(result.finish_s)
    if submit.shape[0]:
        makespan = float(finish.max() - submit.min())
        wait = start - submit
        mean_wait, median_wait = float(wait.mean()), float(np.median(wait))
        p99 = float(np.percentile(wait, 99))
        del wait
        jct = finish - submit
        mean_jct = float(jct.mean())
        run = finish - start
        per_machine = np.asarray(np.bincount(ints(result.machine), weights=ints(result.allocated_gpus) * run,
                                             minlength=len(result.machines)), dtype=np.float64)
        np.maximum(run, BSLD_THRESHOLD_S, out=run)
        np.divide(jct, run, out=run)
        np.maximum(run, 1.0, out=run)
        mean_bsld = float(run.mean())
        del jct, run
    else:
        makespan = mean_wait = median_wait = p99 = mean_jct = mean_bsld = math.nan
        per_machine = np.zeros(len(result.machines))
    util = {m.key: (float(per_machine[i]) / (m.total_gpus * makespan) if makespan and makespan > 0 else math.nan)
            for i, m in enumerate(result.machines)}
    lb = lower_bound_mean_jct(floats(result.duration_s), ints(result.gpus), result.machines)
    return RunMetrics(policy=result.policy, estimates=result.estimates, jobs=int(np.count_nonzero(ran)),
                      too_wide=result.too_wide, mean_wait_s=mean_wait, median_wait_s=median_wait, p99_wait_s=p99,
                      mean_jct_s=mean_jct, mean_bounded_slowdown=mean_bsld, makespan_s=makespan,
                      utilisation=MappingProxyType(util), lower_bound_mean_jct_s=lb, wall_s=result.wall_s,
                      jobs_per_s=result.jobs_per_s, cpu_s=result.cpu_s, jobs_per_cpu_s=result.jobs_per_cpu_s,
                      prediction_error=prediction_error(result))


def delay_over_time(result: SimResult, bins: int = 200) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean queueing delay of the jobs submitted in each of `bins` equal slices of the trace's span:
    (slice midpoints in seconds, mean delay in seconds; NaN for a slice with no job)."""
    ran = result.machine >= 0
    submit = result.submit_s[ran]
    wait = result.start_s[ran] - submit
    if submit.shape[0] == 0:
        return np.zeros(0), np.zeros(0)
    lo, hi = float(submit.min()), float(submit.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, submit, side="right") - 1, 0, bins - 1)
    total = np.bincount(idx, weights=wait, minlength=bins)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), math.nan)
    return (edges[:-1] + edges[1:]) / 2, mean


def delay_by_machine_over_time(result: SimResult, bins: int = 200) -> tuple[npt.NDArray[np.float64],
                                                                             npt.NDArray[np.float64]]:
    """Mean queueing delay of the jobs each machine ran, by submission slice: (slice midpoints in seconds, an
    array of machines x slices in seconds, NaN where a machine got no job in a slice)."""
    ran = result.machine >= 0
    submit = result.submit_s[ran]
    if submit.shape[0] == 0:
        return np.zeros(0), np.zeros((len(result.machines), 0))
    wait = result.start_s[ran] - submit
    where = result.machine[ran]
    lo, hi = float(submit.min()), float(submit.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, submit, side="right") - 1, 0, bins - 1)
    cell = where * bins + idx
    size = len(result.machines) * bins
    total = np.bincount(cell, weights=wait, minlength=size).reshape(len(result.machines), bins)
    count = np.bincount(cell, minlength=size).reshape(len(result.machines), bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), math.nan)
    return (edges[:-1] + edges[1:]) / 2, mean
