"""Call templates: a competition's rules as its announcement states them (data/call_templates.json, with sources).

A template gives the winner limit, the prize (euros, GPU-hours per winner, or a share of the federation's capacity
for a year), the open-science rule for the winners' releases (core/openscience.LicenceRule) and the entry rules
(smallest model, a lead established and controlled in the EU, a record of large models). Unstated values are null.

capacity_prize: a share s of the federation's capacity for `months` is s * sum(total GPUs) * 24 * days; machines
whose GPU count no source gives are left out and named, so the figure is a lower bound.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from aifactory.core.catalog import Machine
from aifactory.core.exceptions import InvalidInput
from aifactory.core.openscience import LicenceRule

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class EntryRules:
    min_params: float | None
    lead_eu_established: bool
    lead_eu_controlled: bool | None
    record_min_params: float | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallTemplate:
    key: str
    title: str
    mode: str
    winner_limit: int | None
    prize_eur: float | None
    prize_note: str
    gpu_hours_per_winner: float | None
    capacity_share: float | None
    months: int
    machines: tuple[str, ...] | None
    rule: LicenceRule
    entry: EntryRules
    source: str
    raw: dict[str, Any]


def _template(raw: dict[str, Any]) -> CallTemplate:
    try:
        os_ = raw["open_science"]
        entry = raw["entry"]
        return CallTemplate(
            key=str(raw["key"]), title=str(raw["title"]), mode=str(raw["mode"]), winner_limit=raw["winner_limit"],
            prize_eur=raw["prize_eur"], prize_note=str(raw["prize_note"]),
            gpu_hours_per_winner=raw["gpu_hours_per_winner"], capacity_share=raw["capacity_share"],
            months=int(raw["months"]), machines=None if raw["machines"] is None else tuple(raw["machines"]),
            rule=LicenceRule(key=str(raw["key"]), text=str(os_["text"]), release_required=bool(os_["release_required"]),
                             categories=tuple(os_["categories"]), also=tuple(os_["also"]),
                             any_known=bool(os_["any_known"])),
            entry=EntryRules(min_params=entry["min_params"], lead_eu_established=bool(entry["lead_eu_established"]),
                             lead_eu_controlled=entry["lead_eu_controlled"],
                             record_min_params=entry["record_min_params"],
                             notes=tuple(str(entry[k]) for k in ("architecture_note", "ai_act") if k in entry)),
            source=str(raw["source"]), raw=raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"call_templates.{raw.get('key', '?')}", f"malformed: {exc}") from exc


@cache
def load_templates() -> tuple[CallTemplate, ...]:
    text = resources.files("aifactory.core").joinpath("data/call_templates.json").read_text(encoding="utf-8")
    return tuple(_template(t) for t in json.loads(text)["templates"])


def template(key: str) -> CallTemplate:
    for t in load_templates():
        if t.key == key:
            return t
    raise InvalidInput("template", f"unknown call template {key!r} (known: "
                                   f"{', '.join(t.key for t in load_templates())})")


def check_entry(t: CallTemplate, *, params: float, lead_eu_established: bool, lead_eu_controlled: bool | None,
                record_params: float | None) -> tuple[str, ...]:
    """The template's entry rules the entry does not meet (empty: it meets them all)."""
    unmet: list[str] = []
    e = t.entry
    if e.min_params is not None and params < e.min_params:
        unmet.append(f"the model has {params:.3g} parameters; {t.title} asks for at least {e.min_params:.3g}")
    if e.lead_eu_established and not lead_eu_established:
        unmet.append("the lead must be established in the EU")
    if e.lead_eu_controlled and not lead_eu_controlled:
        unmet.append("the lead must be EU-controlled")
    if e.record_min_params is not None and (record_params is None or record_params < e.record_min_params):
        unmet.append(f"the lead needs a record of models of {e.record_min_params:.3g}+ parameters")
    return tuple(unmet)


@dataclass(frozen=True)
class CapacityPrize:
    gpu_hours: float
    gpus_counted: int
    machines_left_out: tuple[str, ...]


def capacity_prize(t: CallTemplate, machines: Sequence[Machine]) -> CapacityPrize | None:
    if t.capacity_share is None:
        return None
    known = [m for m in machines if m.total_gpus is not None]
    gpus = sum(m.total_gpus or 0 for m in known)
    left = tuple(m.key for m in machines if m.total_gpus is None)
    return CapacityPrize(t.capacity_share * gpus * HOURS_PER_YEAR * t.months / 12, gpus, left)
