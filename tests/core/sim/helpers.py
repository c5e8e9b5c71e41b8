from __future__ import annotations

from collections.abc import Sequence

from aifactory.core.traces import Trace, trace_from_arrays


def make_trace(jobs: Sequence[tuple[float, float, int]], projects: Sequence[int] | None = None) -> Trace:
    """A trace from (submit, duration, gpus) rows; the project of each job defaults to 0."""
    project = list(projects) if projects is not None else [0] * len(jobs)
    names = tuple(f"p{i}" for i in range(max(project, default=0) + 1))
    return trace_from_arrays("hand-made", [j[0] for j in jobs], [j[1] for j in jobs], [j[2] for j in jobs],
                             project, names)
