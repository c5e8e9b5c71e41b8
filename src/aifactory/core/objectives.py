"""The AI Office's objectives: a KPI, a baseline at the start, a target by a deadline (data/objectives.json).

Progress is judged against the straight line from (start, baseline) to (deadline, target):
    expected(t) = baseline + (target - baseline) * clamp((t - start) / (deadline - start), 0, 1)
An objective whose KPI goes up is on track when value >= expected(t) (down: value <= expected(t)); once the
deadline has passed it is met or missed against the target. A KPI with no value yet (no records to compute it
from) is "no data".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from aifactory.core.exceptions import InvalidInput

DIRECTIONS = ("up", "down")


@dataclass(frozen=True)
class ObjectiveSpec:
    key: str
    title: str
    kpi: str
    unit: str
    direction: str
    baseline: float
    target: float
    start: date
    deadline: date

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise InvalidInput(f"objective {self.key}.direction", "must be up or down")
        for name in ("baseline", "target"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidInput(f"objective {self.key}.{name}", "must be a finite number")
        if self.deadline <= self.start:
            raise InvalidInput(f"objective {self.key}.deadline", "must come after the start")


def _spec(raw: dict[str, Any]) -> ObjectiveSpec:
    try:
        return ObjectiveSpec(key=str(raw["key"]), title=str(raw["title"]), kpi=str(raw["kpi"]),
                             unit=str(raw["unit"]), direction=str(raw["direction"]),
                             baseline=raw["baseline"], target=raw["target"],
                             start=date.fromisoformat(raw["start"]), deadline=date.fromisoformat(raw["deadline"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"objective {raw.get('key', '?')}", f"malformed: {exc}") from exc


@cache
def load_objectives() -> tuple[ObjectiveSpec, ...]:
    text = resources.files("aifactory.core").joinpath("data/objectives.json").read_text(encoding="utf-8")
    return tuple(_spec(r) for r in json.loads(text)["objectives"])


def expected(spec: ObjectiveSpec, on: date) -> float:
    span = (spec.deadline - spec.start).days
    share = min(1.0, max(0.0, (on - spec.start).days / span))
    return spec.baseline + (spec.target - spec.baseline) * share


def status(spec: ObjectiveSpec, value: float | None, on: date) -> str:
    """on track, behind, met, missed or no data (rule in the module doc)."""
    if value is None:
        return "no data"
    def ahead(v: float, e: float) -> bool:
        return v >= e if spec.direction == "up" else v <= e

    if on > spec.deadline:
        return "met" if ahead(value, spec.target) else "missed"
    if ahead(value, spec.target):
        return "met"
    return "on track" if ahead(value, expected(spec, on)) else "behind"
