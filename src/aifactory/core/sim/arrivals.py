"""Arrivals generated in chunks, in submission order, so that a run of millions of jobs never holds them twice.

`RaisedArrivals` is the trace raised to a load (aifactory.core.sim.federation.raise_to_load) without building the
superposed trace: the same jobs in the same order with the same submission times as

    compress_time(superpose(trace, copies, limit), compression)

(aifactory.core.traces), chunk by chunk. Copy c of the trace is the trace with every submission shifted by
shifts[c] = c x span / copies and wrapped around within the span; its jobs' values are computed with the same
floating-point operations as `superpose`, so they are equal bit for bit. The superposed jobs are taken in windows
of submission time; in a window each copy contributes the jobs whose shifted time falls in it, found by a binary
search on the trace's own (sorted) times with a margin and then checked exactly, and a stable sort of the window
in (copy, job) order gives `superpose`'s order, whose ties go to the lower copy, then the earlier job.

The compression needs the head's span and work before the first job can be given out, so a first pass over the
windows finds them (the work summed window by window, so it may differ from the one-array sum of the materialised
trace in its last bits), and the chunks are generated in a second pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aifactory.core.exceptions import InvalidInput
from aifactory.core.traces import Trace

CHUNK_JOBS = 1 << 18
"""About this many jobs per window of submission time (the last window of a head is cut at the limit)."""


@dataclass(frozen=True, eq=False)
class Chunk:
    """Consecutive jobs in submission order: seconds from the first submission, A100 seconds, GPUs, project index."""

    submit_s: npt.NDArray[np.float64]
    duration_s: npt.NDArray[np.float64]
    gpus: npt.NDArray[np.int64]
    project: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.submit_s.shape[0])


def trace_chunks(trace: Trace, size: int = CHUNK_JOBS) -> Iterator[Chunk]:
    """A trace as chunks of at most `size` jobs (views, no copy)."""
    for lo in range(0, len(trace), size):
        hi = lo + size
        yield Chunk(trace.submit_s[lo:hi], trace.duration_s[lo:hi], trace.gpus[lo:hi], trace.project[lo:hi])


class RaisedArrivals:
    """The trace superposed `copies` times, its first `limit` jobs (all without a limit), submission times divided
    by the factor that makes them offer `target` A100-GPUs busy on average (module docstring)."""

    def __init__(self, trace: Trace, copies: int, target: float, limit: int | None = None,
                 chunk_jobs: int = CHUNK_JOBS) -> None:
        if copies < 1:
            raise InvalidInput("copies", f"must be at least 1, got {copies}")
        if limit is not None and limit < 0:
            raise InvalidInput("limit", f"must be >= 0, got {limit}")
        if not (target > 0 and math.isfinite(target)):
            raise InvalidInput("load", "the load asked for must be a positive number of GPUs")
        if chunk_jobs < 1:
            raise InvalidInput("chunk_jobs", f"must be at least 1, got {chunk_jobs}")
        self.trace = trace
        self.copies = copies
        self.source_jobs = len(trace)
        total = self.source_jobs * copies
        self.jobs = total if limit is None else min(limit, total)
        self.projects = copies * len(trace.projects)
        span = trace.span_s
        self.source_span_s = span
        self.shifts = np.arange(copies, dtype=np.float64) * (span / copies)
        self.widths = sorted({int(g) for g in np.unique(trace.gpus)}) if self.jobs else []
        # how many windows: about chunk_jobs superposed jobs each, at the trace's average rate
        self.windows = max(1, math.ceil(total / chunk_jobs)) if span > 0 else 1
        head_span, work = self._head()
        if not (head_span > 0):
            raise InvalidInput("limit", "the jobs kept are all submitted at once, so their load is undefined")
        self.span_s = head_span
        self.gpu_seconds = work
        self.compression = target / (work / head_span)
        if not (self.compression > 0 and math.isfinite(self.compression)):
            raise InvalidInput("trace", "the trace demands no GPU time over a positive span")

    def __len__(self) -> int:
        return self.jobs

    @property
    def offered_gpus(self) -> float:
        """A100-GPUs busy on average that the arrivals offer: their work over their span once compressed."""
        return self.gpu_seconds / (self.span_s / self.compression)

    # --- the superposed jobs, window by window ------------------------------------------------------------

    def _window(self, lo: float, hi: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64],
                                                      npt.NDArray[np.int64]]:
        """The superposed jobs with lo <= submission < hi, in `superpose`'s order: (submission, job, copy)."""
        s = self.trace.submit_s
        span = self.source_span_s
        margin = 1e-6 * span + 1.0  # far beyond the rounding of one addition and one subtraction
        values: list[npt.NDArray[np.float64]] = []
        jobs: list[npt.NDArray[np.int64]] = []
        copies: list[npt.NDArray[np.int64]] = []
        for c in range(self.copies):
            shift = self.shifts[c]
            # unwrapped: s + shift in [lo, hi); wrapped: s + shift - span in [lo, hi), i.e. s in [lo - shift + span, ..)
            a0, b0 = np.searchsorted(s, [lo - shift - margin, hi - shift + margin])
            a1, b1 = np.searchsorted(s, [lo - shift + span - margin, hi - shift + span + margin])
            if a0 >= b0 and a1 >= b1:
                continue
            if b0 >= a1:  # the ranges meet: one range
                idx = np.arange(min(a0, a1), max(b0, b1), dtype=np.int64)
            else:
                idx = np.concatenate([np.arange(a0, b0, dtype=np.int64), np.arange(a1, b1, dtype=np.int64)])
            v = s[idx] + shift
            if span > 0:
                np.subtract(v, span, out=v, where=v > span)
            keep = (v >= lo) & (v < hi)
            if not keep.any():
                continue
            values.append(v[keep])
            jobs.append(idx[keep])
            copies.append(np.full(int(np.count_nonzero(keep)), c, dtype=np.int64))
        if not values:
            empty = np.zeros(0, dtype=np.int64)
            return np.zeros(0), empty, empty
        v = np.concatenate(values)
        order = np.argsort(v, kind="stable")
        return v[order], np.concatenate(jobs)[order], np.concatenate(copies)[order]

    def _edges(self) -> npt.NDArray[np.float64]:
        """Window edges over [0, span]; the last window is closed above by infinity."""
        span = self.source_span_s
        edges = np.linspace(0.0, span, self.windows + 1) if span > 0 else np.array([0.0, 0.0])
        edges[-1] = math.inf
        return edges

    def _superposed(self) -> Iterator[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """The head's jobs, window by window: (submission before compression, job, copy)."""
        left = self.jobs
        edges = self._edges()
        for k in range(len(edges) - 1):
            if left <= 0:
                return
            v, job, copy = self._window(float(edges[k]), float(edges[k + 1]))
            if v.shape[0] > left:
                v, job, copy = v[:left], job[:left], copy[:left]
            left -= v.shape[0]
            if v.shape[0]:
                yield v, job, copy

    def _head(self) -> tuple[float, float]:
        """The head's span (last submission; the first is 0) and its work in A100 GPU-seconds."""
        work = 0.0
        last = 0.0
        done = 0
        weight = self.trace.duration_s * self.trace.gpus.astype(np.float64)
        for v, job, _ in self._superposed():
            work += float(np.sum(weight[job]))
            last = float(v[-1])
            done += v.shape[0]
        if done != self.jobs:
            raise RuntimeError(f"raised arrivals: {done} jobs generated, {self.jobs} expected")
        return last, work

    def chunks(self) -> Iterator[Chunk]:
        """The jobs in submission order, compressed, as chunks of about CHUNK_JOBS jobs."""
        t = self.trace
        n_projects = len(t.projects)
        for v, job, copy in self._superposed():
            submit = v / self.compression if self.compression != 1.0 else v
            yield Chunk(submit, t.duration_s[job], t.gpus[job], t.project[job] + copy * n_projects)
