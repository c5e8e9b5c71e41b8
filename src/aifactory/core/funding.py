"""Funding pathways: which EU instruments fit an organisation, with the reasons (data/funding.json, with sources).

An instrument fits when the organisation's SME category is one it names (or, for a small mid-cap, the components
open to small mid-caps), when its stage (technology readiness level) is within the instrument's stated range, and
when its sector is open to it. A condition the sources do not state is said to be unstated, never assumed: such an
instrument is shown with the note, not ruled out. Reasons: stage, SME category, sector.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from aifactory.core.exceptions import InvalidInput

STAGES: dict[int, str] = {
    1: "TRL 1-4: research, not yet validated",
    5: "TRL 5: validated in a relevant environment",
    6: "TRL 6: demonstrated in a relevant environment",
    7: "TRL 7-8: prototype in operation, system complete",
    9: "TRL 9: on the market",
}


@dataclass(frozen=True)
class Instrument:
    key: str
    name: str
    raw: dict[str, Any]

    @property
    def sources(self) -> list[str]:
        return list(self.raw["sources"])


@dataclass(frozen=True)
class Pathway:
    instrument: str
    name: str
    fits: bool
    components: tuple[str, ...]  # the component keys open to the organisation
    reasons: tuple[str, ...]  # why it fits or not: stage, SME category, sector
    unstated: tuple[str, ...]  # what the sources do not say
    sources: tuple[str, ...]


@cache
def load_instruments() -> tuple[Instrument, ...]:
    text = resources.files("aifactory.core").joinpath("data/funding.json").read_text(encoding="utf-8")
    out = []
    for raw in json.loads(text)["instruments"]:
        if not raw.get("sources"):
            raise InvalidInput(f"funding.{raw.get('key')}", "every instrument needs its sources")
        out.append(Instrument(str(raw["key"]), str(raw["name"]), raw))
    return tuple(out)


def pathway(instrument: Instrument, *, sme_category: str, headcount: int, sector: str,
            trl: int | None, established_eligible: bool = True) -> Pathway:
    """Whether the instrument fits, and the sentences that say why (rule in the module doc)."""
    if trl is not None and trl not in STAGES:
        raise InvalidInput("stage", f"unknown stage {trl!r} (known: {', '.join(map(str, STAGES))})")
    raw = instrument.raw
    who, stage, sectors = raw["who"], raw["stage"], raw["sectors"]
    reasons: list[str] = []
    unstated: list[str] = []
    fits = True
    all_components = [c["key"] for c in raw["components"]]
    components = all_components
    if who.get("established") and not established_eligible:
        fits = False
        reasons.append(f"establishment: it funds companies established in {who['established']}")
    if sme_category in who["sme_categories"]:
        reasons.append(f"SME category: a {sme_category} enterprise is among those it funds")
    elif who.get("small_midcap_max_headcount") and headcount <= who["small_midcap_max_headcount"] \
            and who.get("small_midcap_components"):
        components = [c for c in all_components if c in who["small_midcap_components"]]
        reasons.append(f"SME category: not an SME, but a small mid-cap ({headcount} staff, at most "
                       f"{who['small_midcap_max_headcount']}) may take the {', '.join(components)} component only")
    else:
        fits = False
        reasons.append(f"SME category: it funds {', '.join(who['sme_categories'])} enterprises"
                       + (f" and small mid-caps of up to {who['small_midcap_max_headcount']} staff"
                          if who.get("small_midcap_max_headcount") else "") + f", not a {sme_category} one")
    low, high = stage.get("min_trl"), stage.get("max_trl")
    if low is None and high is None:
        unstated.append("stage: the sources state no stage")
    elif trl is None:
        reasons.append(f"stage: it asks for {stage['text']}; give your stage to check")
    elif (low is not None and trl < low) or (high is not None and trl > high):
        fits = False
        reasons.append(f"stage: it asks for {stage['text']}; yours is {STAGES[trl]}")
    else:
        reasons.append(f"stage: {STAGES[trl]} meets {stage['text']}")
    if sectors.get("any"):
        reasons.append(f"sector: {sectors['text']}, so {sector or 'yours'} too")
    elif sectors.get("named"):
        if sector.casefold() in {s.casefold() for s in sectors["named"]}:
            reasons.append(f"sector: {sector} is one it names")
        else:
            fits = False
            reasons.append(f"sector: it names {', '.join(sectors['named'])}, not {sector}")
    else:
        unstated.append("sector: the sources state no sector")
    return Pathway(instrument.key, instrument.name, fits, tuple(components), tuple(reasons), tuple(unstated),
                   tuple(instrument.sources))


def pathways(*, sme_category: str, headcount: int, sector: str, trl: int | None,
             established_eligible: bool = True) -> tuple[Pathway, ...]:
    """Every instrument for the organisation, the fitting ones first."""
    out = [pathway(i, sme_category=sme_category, headcount=headcount, sector=sector, trl=trl,
                   established_eligible=established_eligible)
           for i in load_instruments()]
    return tuple(sorted(out, key=lambda p: (not p.fits, p.name)))
