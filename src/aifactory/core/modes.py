"""Access modes as data: who each is for, its size limits, durations, promised decision time and evaluation.

The modes ship in data/modes.json, every value with its source; a value that is this portal's own policy (where
the public pages say only "limited") is listed in the mode's `policy`.

Size
    A request of H GPU-hours fits a mode when H > gpu_hours_above (when set) and H <= gpu_hours_at_most (when
    set); a competition's size is bounded by its call's budgets instead. The duration must be one of `months`.

Promised decision (promised_by)
    decision_from = "submission": the day of submission plus decision_working_days working days;
    decision_from = "cutoff":     the call's cut-off day plus decision_working_days working days;
    decision_from = "deadline":   the decision date the call promises (the mode itself promises none).
    Working days are Monday to Friday. Public holidays differ by country and are not counted out, so a promise
    is never later than the one the access pages make.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from aifactory.core.exceptions import InvalidInput

DECISION_FROM = ("submission", "cutoff", "deadline")
_FLAGS = ("technical_assessment", "peer_review", "call", "competition")


@dataclass(frozen=True)
class AccessMode:
    key: str
    name: str
    audience: str
    evaluation: str
    gpu_hours_above: float | None  # a request must be above this (exclusive)
    gpu_hours_at_most: float | None  # and at most this
    months: tuple[int, ...]
    decision_working_days: int | None
    decision_from: str  # submission | cutoff | deadline
    technical_assessment: bool
    peer_review: bool
    call: bool  # applications go to a call (cut-off or deadline)
    competition: bool
    policy: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def limits_text(self) -> str:
        if self.gpu_hours_above is not None and self.gpu_hours_at_most is not None:
            return f"more than {self.gpu_hours_above:,.0f} and at most {self.gpu_hours_at_most:,.0f} GPU-hours"
        if self.gpu_hours_above is not None:
            return f"more than {self.gpu_hours_above:,.0f} GPU-hours"
        if self.gpu_hours_at_most is not None:
            return f"at most {self.gpu_hours_at_most:,.0f} GPU-hours"
        return "GPU-hours within the call's budgets"

    def decision_text(self) -> str:
        if self.decision_from == "deadline" or self.decision_working_days is None:
            return "by the date its call promises"
        after = {"submission": "of submission", "cutoff": "of the call's cut-off"}[self.decision_from]
        return f"within {self.decision_working_days} working days {after}"

    def check_request(self, *, gpu_hours: float, months: int) -> None:
        """Raise InvalidInput naming the field when the request is outside the mode's size or duration."""
        if isinstance(gpu_hours, bool) or not isinstance(gpu_hours, int | float) or not math.isfinite(gpu_hours):
            raise InvalidInput("requested_gpu_hours", f"{self.name} needs a finite number of GPU-hours")
        too_small = self.gpu_hours_above is not None and gpu_hours <= self.gpu_hours_above
        too_large = self.gpu_hours_at_most is not None and gpu_hours > self.gpu_hours_at_most
        if gpu_hours <= 0 or too_small or too_large:
            raise InvalidInput(
                "requested_gpu_hours",
                f"{self.name} grants {self.limits_text()}; {gpu_hours:,.6g} requested",
            )
        if months not in self.months:
            allowed = ", ".join(str(m) for m in self.months)
            raise InvalidInput("months", f"{self.name} lasts {allowed} months; {months!r} requested")

    def promised_by(
        self, *, submitted: date, cutoff: date | None = None, decision_by: date | None = None
    ) -> date | None:
        """The day a decision is promised by (rules in the module doc); None when nothing is promised yet."""
        if self.decision_from == "deadline" or self.decision_working_days is None:
            return decision_by
        start = submitted if self.decision_from == "submission" else cutoff
        if start is None:
            return None
        return add_working_days(start, self.decision_working_days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "audience": self.audience,
            "evaluation": self.evaluation,
            "gpu_hours_above": self.gpu_hours_above,
            "gpu_hours_at_most": self.gpu_hours_at_most,
            "limits": self.limits_text(),
            "months": list(self.months),
            "decision_working_days": self.decision_working_days,
            "decision_from": self.decision_from,
            "decision": self.decision_text(),
            "technical_assessment": self.technical_assessment,
            "peer_review": self.peer_review,
            "call": self.call,
            "competition": self.competition,
            "policy": list(self.policy),
            "sources": dict(self.sources),
        }


def add_working_days(start: date, days: int) -> date:
    """The day `days` working days (Monday to Friday) after `start`."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise InvalidInput("days", "must be a whole number of working days, 0 or more")
    day = start
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (negative when `end` is before `start`)."""
    if end < start:
        return -working_days_between(end, start)
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count += 1
    return count


@dataclass(frozen=True)
class Modes:
    modes: tuple[AccessMode, ...]
    notes: tuple[str, ...] = ()

    def get(self, key: str) -> AccessMode:
        for mode in self.modes:
            if mode.key == key:
                return mode
        known = ", ".join(m.key for m in self.modes)
        raise InvalidInput("mode", f"unknown access mode {key!r} (known: {known})")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(m.key for m in self.modes)


@cache
def load_modes() -> Modes:
    """The access modes shipped with the package, read and validated once."""
    text = resources.files("aifactory.core").joinpath("data/modes.json").read_text(encoding="utf-8")
    return parse_modes(json.loads(text))


def parse_modes(data: Any) -> Modes:
    if not isinstance(data, Mapping) or not isinstance(data.get("modes"), list):
        raise InvalidInput("modes", "the document must be a JSON object with a list 'modes'")
    modes = tuple(_mode(raw, i) for i, raw in enumerate(data["modes"]))
    keys = [m.key for m in modes]
    if len(set(keys)) != len(keys):
        raise InvalidInput("modes", "mode keys must be unique")
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise InvalidInput("modes.notes", "must be a list of strings")
    return Modes(modes=modes, notes=tuple(notes))


def _mode(raw: Any, index: int) -> AccessMode:
    where = f"modes[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidInput(where, "must be a JSON object")
    texts = {}
    for name in ("key", "name", "audience", "evaluation"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{where}.{name}", "must be a non-empty string")
        texts[name] = value
    where = f"modes.{texts['key']}"
    limits: dict[str, float | None] = {}
    for name in ("gpu_hours_above", "gpu_hours_at_most"):
        value = raw.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0
        ):
            raise InvalidInput(f"{where}.{name}", "must be a number of GPU-hours, 0 or more, or null")
        limits[name] = None if value is None else float(value)
    above, at_most = limits["gpu_hours_above"], limits["gpu_hours_at_most"]
    if above is not None and at_most is not None and at_most <= above:
        raise InvalidInput(f"{where}.gpu_hours_at_most", "must be above gpu_hours_above")
    months = raw.get("months")
    if not isinstance(months, list) or not months or not all(
        isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 36 for m in months
    ):
        raise InvalidInput(f"{where}.months", "must be a non-empty list of whole months from 1 to 36")
    days = raw.get("decision_working_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
        raise InvalidInput(f"{where}.decision_working_days", "must be a whole number of days or null")
    decision_from = raw.get("decision_from")
    if decision_from not in DECISION_FROM:
        raise InvalidInput(f"{where}.decision_from", f"must be one of {', '.join(DECISION_FROM)}")
    if days is None and decision_from != "deadline":
        raise InvalidInput(f"{where}.decision_working_days", "only a mode decided by its call's date may omit it")
    flags = {}
    for name in _FLAGS:
        if not isinstance(raw.get(name), bool):
            raise InvalidInput(f"{where}.{name}", "must be true or false")
        flags[name] = bool(raw[name])
    policy = raw.get("policy", [])
    if not isinstance(policy, list) or not all(isinstance(p, str) and p in raw for p in policy):
        raise InvalidInput(f"{where}.policy", "must list fields of the mode")
    sources = raw.get("sources")
    if not isinstance(sources, Mapping) or not all(isinstance(v, str) and v.strip() for v in sources.values()):
        raise InvalidInput(f"{where}.sources", "must map fields to non-empty sources")
    for name in ("gpu_hours_above", "gpu_hours_at_most", "decision_working_days"):
        if raw.get(name) is not None and name not in sources:
            raise InvalidInput(f"{where}.{name}", "has a value but no source")
    return AccessMode(
        key=texts["key"],
        name=texts["name"],
        audience=texts["audience"],
        evaluation=texts["evaluation"],
        gpu_hours_above=above,
        gpu_hours_at_most=at_most,
        months=tuple(months),
        decision_working_days=days,
        decision_from=decision_from,
        technical_assessment=flags["technical_assessment"],
        peer_review=flags["peer_review"],
        call=flags["call"],
        competition=flags["competition"],
        policy=tuple(policy),
        sources=MappingProxyType(dict(sources)),
    )
