"""Runtime estimates as a live broker gets them: from the user, at submission.

Users ask for more time than their jobs need, so that Slurm does not kill them at the limit. The model here
multiplies the true duration by an over-estimate factor

    f = exp(SIGMA * |Z|),   Z ~ Normal(0, 1),   SIGMA = 1

a half-log-normal: f >= 1 always, median exp(0.674) = 1.96, 90th percentile exp(1.645) = 5.2, 99th percentile
exp(2.576) = 13.1 -- in the range reported for production logs, where half the jobs ask for more than about twice
what they use and a tail asks for ten times more. Because f >= 1, no job outlives its estimate, so no job is killed
at its time limit. The oracle gives every job its true duration as estimate, to show what bad estimates cost.
Estimates, like trace durations, are in seconds on an A100.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

from aifactory.core.exceptions import InvalidInput

SIGMA = 1.0
ESTIMATES = ("user", "oracle")
Estimates = Literal["user", "oracle"]


def user_estimates(duration_s: npt.NDArray[np.float64], seed: int) -> npt.NDArray[np.float64]:
    """duration x f with f = exp(SIGMA |Z|), drawn from a generator seeded with `seed` (same seed, same estimates)."""
    return _user_draw(np.random.default_rng(seed), duration_s)


def _user_draw(rng: np.random.Generator, duration_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    factor = np.exp(SIGMA * np.abs(rng.standard_normal(duration_s.shape[0])))
    return np.asarray(duration_s * factor, dtype=np.float64)


def oracle_estimates(duration_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The true durations."""
    return np.array(duration_s, dtype=np.float64)


def estimate_stream(kind: str, seed: int) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """Estimates for a run's jobs given chunk by chunk, in order: the chunks' estimates put end to end are
    `estimates(kind, all the durations, seed)` (the generator's normal draws do not depend on how they are split)."""
    if kind == "user":
        rng = np.random.default_rng(seed)
        return lambda duration_s: _user_draw(rng, duration_s)
    if kind == "oracle":
        return oracle_estimates
    raise InvalidInput("estimates", f"unknown kind {kind!r}; expected one of {', '.join(ESTIMATES)}")


def estimates(kind: str, duration_s: npt.NDArray[np.float64], seed: int) -> npt.NDArray[np.float64]:
    if kind == "user":
        return user_estimates(duration_s, seed)
    if kind == "oracle":
        return oracle_estimates(duration_s)
    raise InvalidInput("estimates", f"unknown kind {kind!r}; expected one of {', '.join(ESTIMATES)}")
