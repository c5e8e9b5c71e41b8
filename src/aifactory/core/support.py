"""Support centres of the AI Factories: what each offers, the single point of contact's routing, the service clock.

Data (data/support.json, one centre per AI Factory, each value with its source; unknown values are null):
    kinds     porting (supercomputer-friendly programming), algorithmic (training-run design and evaluation), data
              (data and storage), access (access and accounts), ai_act (AI Act compliance), domain (an application
              domain the factory names: robotics, manufacturing, health, ...)
    offers    per kind: true (a source says so), null (no source says), false (a source says it does not)
    domains   the sectors the factory names, from the federation catalog

Routing (route): a request r with a topic, optionally a sector and a machine or factory, goes to the centre c with
the largest score, ties broken by the centre's key:
    s_rc = 4 * place + 3 * topic + 2 * sector - load
    place   1 when r names c's factory, or a machine of c's factory
    topic   1 when c offers the topic by a source, 1/3 when no source says; a centre a source says does not offer
            it is never chosen. For the domain topic: 1 when the request's sector is one c's factory names, 1/3 when
            the factory names none, otherwise c is not competent
    sector  1 when the request's sector is one c's factory names (any topic but domain, which counts it above)
    load    min(2, 0.25 * n_c) with n_c the centre's requests still open (not answered or closed)
Every part is given as a sentence, so the person sees why their request went where it went.

Service clock (sla): a first answer is due `days` working days (Monday to Friday) after the day the request was
opened. Before it comes: "ok", "near" (due within one working day) or "overdue"; after: "met" or "missed".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from aifactory.core.exceptions import InvalidInput
from aifactory.core.modes import add_working_days, working_days_between
from aifactory.core.routing import sector_match

KINDS: Mapping[str, str] = MappingProxyType(
    {
        "porting": "Porting and performance (supercomputer-friendly programming)",
        "algorithmic": "Training-run design and evaluation (algorithmic support)",
        "data": "Data and storage",
        "access": "Access and accounts",
        "ai_act": "AI Act compliance",
        "domain": "An application domain (robotics, manufacturing, new materials, health, ...)",
    }
)
WEIGHTS: Mapping[str, float] = MappingProxyType({"place": 4.0, "topic": 3.0, "sector": 2.0})
UNKNOWN_SHARE = 1.0 / 3.0
LOAD_STEP = 0.25
LOAD_CAP = 2.0
NEAR_WORKING_DAYS = 1


@dataclass(frozen=True)
class Offer:
    kind: str
    offered: bool | None  # None: no source says
    source: str | None


@dataclass(frozen=True)
class Centre:
    key: str
    factory: str
    name: str
    offers: Mapping[str, Offer]
    domains: tuple[str, ...] | None
    domains_source: str | None
    contact: str | None
    first_answer_working_days: int | None
    first_answer_source: str | None

    def offer(self, kind: str) -> Offer:
        return self.offers.get(kind, Offer(kind, None, None))

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "factory": self.factory,
            "name": self.name,
            "offers": {k: {"offered": o.offered, "source": o.source} for k, o in self.offers.items()},
            "domains": None if self.domains is None else list(self.domains),
            "domains_source": self.domains_source,
            "contact": self.contact,
            "first_answer_working_days": self.first_answer_working_days,
            "first_answer_source": self.first_answer_source,
        }


def _opt_text(record: str, name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{record}.{name}", "must be a non-empty string or null")
    return value


def parse_centres(data: object) -> tuple[Centre, ...]:
    """Build and validate the centres from the decoded support.json document."""
    if not isinstance(data, Mapping) or not isinstance(data.get("centres"), list):
        raise InvalidInput("support", "must be a JSON object with a list of centres")
    centres: list[Centre] = []
    for i, raw in enumerate(data["centres"]):
        record = f"centres[{i}]"
        if not isinstance(raw, Mapping):
            raise InvalidInput(record, "must be an object")
        key = _opt_text(record, "key", raw.get("key"))
        factory = _opt_text(record, "factory", raw.get("factory"))
        name = _opt_text(record, "name", raw.get("name"))
        if key is None or factory is None or name is None:
            raise InvalidInput(record, "key, factory and name are required")
        offers_raw = raw.get("offers")
        if not isinstance(offers_raw, Mapping):
            raise InvalidInput(f"{record}.offers", "must be an object")
        offers: dict[str, Offer] = {}
        for kind, value in offers_raw.items():
            if kind not in KINDS or kind == "domain":
                raise InvalidInput(f"{record}.offers", f"unknown kind {kind!r}")
            if not isinstance(value, Mapping) or value.get("offered") not in (True, False, None):
                raise InvalidInput(f"{record}.offers.{kind}", "must be {offered: true|false|null, source}")
            source = _opt_text(record, f"offers.{kind}.source", value.get("source"))
            if value.get("offered") is not None and source is None:
                raise InvalidInput(f"{record}.offers.{kind}.source", "a known value needs its source")
            offers[kind] = Offer(kind, value.get("offered"), source)
        domains_raw = raw.get("domains")
        if domains_raw is not None and (
            not isinstance(domains_raw, list) or not all(isinstance(d, str) and d for d in domains_raw)
        ):
            raise InvalidInput(f"{record}.domains", "must be a list of sectors or null")
        days = raw.get("first_answer_working_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise InvalidInput(f"{record}.first_answer_working_days", "must be a whole number >= 1 or null")
        centres.append(
            Centre(
                key=key,
                factory=factory,
                name=name,
                offers=MappingProxyType(offers),
                domains=None if domains_raw is None else tuple(domains_raw),
                domains_source=_opt_text(record, "domains_source", raw.get("domains_source")),
                contact=_opt_text(record, "contact", raw.get("contact")),
                first_answer_working_days=days,
                first_answer_source=_opt_text(record, "first_answer_source", raw.get("first_answer_source")),
            )
        )
    keys = [c.key for c in centres]
    if len(set(keys)) != len(keys):
        raise InvalidInput("support.centres", "centre keys must be unique")
    return tuple(centres)


@cache
def load_centres() -> tuple[Centre, ...]:
    """The support centres shipped with the package, read and validated once."""
    text = resources.files("aifactory.core").joinpath("data/support.json").read_text(encoding="utf-8")
    return parse_centres(json.loads(text))


# --- routing ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """What the single point of contact routes on."""

    topic: str
    sector: str = ""
    factory: str | None = None  # the factory named, or the factory of the machine named
    machine: str | None = None  # the machine named, for the sentence

    def __post_init__(self) -> None:
        if self.topic not in KINDS:
            raise InvalidInput("topic", f"unknown topic {self.topic!r} (known: {', '.join(KINDS)})")


@dataclass(frozen=True)
class Choice:
    centre: str
    score: float
    parts: Mapping[str, float]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Refusal:
    centre: str
    reason: str


@dataclass(frozen=True)
class Routing:
    chosen: Choice | None
    ranked: tuple[Choice, ...]  # every competent centre, best first
    refused: tuple[Refusal, ...]  # centres that cannot take it, with why


def score(ask: Ask, centre: Centre, open_requests: int) -> Choice | Refusal:
    """One centre for one request: its score and the sentences behind it, or why it cannot take it."""
    parts: dict[str, float] = {}
    reasons: list[str] = []
    label = KINDS[ask.topic].split(" (")[0].lower()
    if ask.topic == "domain":
        if not ask.sector.strip():
            return Refusal(centre.key, "a domain question needs a sector")
        if centre.domains is None:
            parts["topic"] = UNKNOWN_SHARE
            reasons.append(f"{centre.name}'s factory names no application domains (unknown), so it may cover "
                           f"{ask.sector}")
        else:
            found = sector_match(ask.sector, centre.domains)
            if found is None:
                return Refusal(centre.key, f"its factory names {', '.join(centre.domains)}, not {ask.sector}")
            parts["topic"] = 1.0
            reasons.append(f"its factory names the domain {found!r} ({centre.domains_source})")
    else:
        offer = centre.offer(ask.topic)
        if offer.offered is False:
            return Refusal(centre.key, f"it does not offer {label} ({offer.source})")
        if offer.offered:
            parts["topic"] = 1.0
            reasons.append(f"it offers {label} ({offer.source})")
        else:
            parts["topic"] = UNKNOWN_SHARE
            reasons.append(f"no source says whether it offers {label} (unknown)")
        if ask.sector.strip() and centre.domains is not None:
            found = sector_match(ask.sector, centre.domains)
            if found is not None:
                parts["sector"] = 1.0
                reasons.append(f"its factory names the sector {found!r}")
    if ask.factory is not None and ask.factory == centre.factory:
        parts["place"] = 1.0
        reasons.append(f"the request names {ask.machine if ask.machine else 'its AI Factory'}, which it serves")
    load = min(LOAD_CAP, LOAD_STEP * max(0, open_requests))
    if load:
        reasons.append(f"{open_requests} request(s) open there (load -{load:g})")
    total = sum(WEIGHTS[k] * v for k, v in parts.items()) - load
    return Choice(centre.key, round(total, 6), MappingProxyType(dict(parts, load=-load)), tuple(reasons))


def route(ask: Ask, centres: Sequence[Centre], open_requests: Mapping[str, int]) -> Routing:
    """The centre with the largest score (rule in the module doc), every competent one ranked, the others' reasons."""
    ranked: list[Choice] = []
    refused: list[Refusal] = []
    for centre in centres:
        result = score(ask, centre, int(open_requests.get(centre.key, 0)))
        if isinstance(result, Choice):
            ranked.append(result)
        else:
            refused.append(result)
    ranked.sort(key=lambda c: (-c.score, c.centre))
    return Routing(ranked[0] if ranked else None, tuple(ranked), tuple(refused))


# --- service clock ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    due: date
    state: str  # ok, near, overdue, met, missed
    working_days_left: int  # negative: overdue by that many

    @property
    def escalated(self) -> bool:
        return self.state in ("near", "overdue", "missed")


def sla(opened: date, days: int, answered: date | None, today: date) -> Clock:
    """The service clock of one request (rule in the module doc)."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInput("first_answer_working_days", "must be a whole number >= 1")
    due = add_working_days(opened, days)
    if answered is not None:
        return Clock(due, "met" if answered <= due else "missed", working_days_between(answered, due))
    left = working_days_between(today, due)
    if today > due:
        state = "overdue"
    elif left <= NEAR_WORKING_DAYS:
        state = "near"
    else:
        state = "ok"
    return Clock(due, state, left)
