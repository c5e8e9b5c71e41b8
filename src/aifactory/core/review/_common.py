"""Shared pieces of the review package: input checks and the assignment's infeasibility error."""

from __future__ import annotations

import math
from collections.abc import Sequence

from aifactory.core.exceptions import InvalidInput, SolverError

SCORE_DECIMALS = 9


class InfeasibleAssignment(SolverError):
    """Some proposals cannot get their k reviewers free of conflict; `proposals` names them."""

    def __init__(self, proposals: Sequence[str], message: str) -> None:
        super().__init__("infeasible", message)
        self.proposals = tuple(proposals)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise InvalidInput(name, f"{value!r} is not a finite number")
    return float(value)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(name, f"{value!r} is not a non-empty string")
    return value


def _norm(value: str) -> str:
    return " ".join(value.split()).casefold()
