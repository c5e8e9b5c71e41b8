from __future__ import annotations

from collections.abc import Sequence

import pytest

from aifactory.core.sim.native import is_compiled
from aifactory.core.traces import Trace, trace_from_arrays

interpreted_only = pytest.mark.skipif(
    is_compiled(), reason="it patches the engine's methods, which the compiled engine calls directly")
"""For tests that compare the engine against a patched copy of itself: they can only run on the sources (the
compiled simulator's own tier runs the rest, and compares its schedules with the sources', test_native)."""


def make_trace(jobs: Sequence[tuple[float, float, int]], projects: Sequence[int] | None = None) -> Trace:
    """A trace from (submit, duration, gpus) rows; the project of each job defaults to 0."""
    project = list(projects) if projects is not None else [0] * len(jobs)
    names = tuple(f"p{i}" for i in range(max(project, default=0) + 1))
    return trace_from_arrays("hand-made", [j[0] for j in jobs], [j[1] for j in jobs], [j[2] for j in jobs],
                             project, names)
