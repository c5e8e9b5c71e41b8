"""The eligibility and ethics gate: where an organisation is established, its SME category, and the AI Act.

Establishment
    An organisation is eligible on a date when it is established in a country that, on that date, is an EU
    member state or is associated to Horizon Europe or to the Digital Europe Programme. The records (with the
    date each holds from, a source, and whether the date is confirmed) ship in data/countries.json.

SME category (Commission Recommendation 2003/361/EC)
    The enterprise's own figures plus, for each partner enterprise (25 % to 50 % held, either way), its
    figures times the share held, and, for each linked enterprise (control), 100 % of its figures:
        staff  S = own headcount + sum share_p * headcount_p + sum headcount_l     (annual work units)
        turnover T and balance-sheet total B likewise (EUR)
    Headcounts are annual work units and may be fractional (part-time and seasonal staff), the organisation's own
    too. The sums are exact (fractions, each figure read from its decimal writing: 0.35 is 35/100, not the binary
    float nearest to it), so a firm at exactly a ceiling is on the side the Recommendation puts it.
    then, from the smallest class up:
        micro   S < 10   and (T <= 2 M  or B <= 2 M)
        small   S < 50   and (T <= 10 M or B <= 10 M)
        medium  S < 250  and (T <= 50 M or B <= 43 M)
        large   otherwise

AI Act screening (Regulation (EU) 2024/1689)
    Article 5 practices are prohibited: a project naming one is refused. Annex III areas make an AI system
    high-risk: the project may proceed and is marked. A general-purpose model trained with more than 10^25
    FLOP is presumed to have systemic risk (Art. 51); its provider notifies the Commission within two weeks
    (Art. 52): recorded as a notice, not a refusal.

Gate (evaluate_gate)
    Refuses when the organisation is not established in an eligible country, when the use is not civil, or
    when an Article 5 practice is named; every refusal and notice comes with a sentence saying why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from aifactory.core.exceptions import Ineligible, InvalidInput

SYSTEMIC_RISK_FLOPS = 1e25  # AI Act Art. 51(2): cumulative training compute above which systemic risk is presumed

ELIGIBLE_STATUSES = frozenset({"member", "associated"})
STATUSES = frozenset({"member", "associated", "transitional"})

ARTICLE5_PRACTICES: Mapping[str, str] = MappingProxyType(
    {
        "subliminal_manipulation": "subliminal, manipulative or deceptive techniques that distort behaviour",
        "exploiting_vulnerabilities": "exploiting the vulnerabilities of people due to age, disability or "
        "social or economic situation",
        "social_scoring": "social scoring",
        "predictive_policing": "predicting criminal offences from profiling or personality traits alone",
        "facial_scraping": "untargeted scraping of facial images to build facial recognition databases",
        "emotion_recognition": "emotion recognition at the workplace or in education",
        "biometric_categorisation": "biometric categorisation by sensitive traits",
        "realtime_remote_biometric_identification": "real-time remote biometric identification in publicly "
        "accessible spaces for law enforcement",
    }
)

ANNEX3_AREAS: Mapping[str, str] = MappingProxyType(
    {
        "biometrics": "biometrics",
        "critical_infrastructure": "critical infrastructure",
        "education": "education and vocational training",
        "employment": "employment and management of workers",
        "essential_services": "access to essential private and public services (such as credit scoring and insurance)",
        "law_enforcement": "law enforcement",
        "migration": "migration, asylum and border control",
        "justice_democracy": "administration of justice and democratic processes",
    }
)


# --- countries -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    """One period during which a country is a member state of, or associated to, a programme."""

    country: str
    status: str  # member | associated | transitional
    programme: str
    start: date
    until: date | None
    scope: str
    confirmed: bool
    source: str
    note: str | None = None

    def covers(self, on: date) -> bool:
        return self.start <= on and (self.until is None or on <= self.until)

    @property
    def eligible(self) -> bool:
        return self.status in ELIGIBLE_STATUSES


@dataclass(frozen=True)
class Countries:
    names: Mapping[str, str]  # code -> name
    aliases: Mapping[str, str]
    memberships: tuple[Membership, ...]

    def code(self, country: str) -> str:
        """The canonical code for an ISO 3166-1 alpha-2 code (any case, EU aliases EL and UK accepted)."""
        if not isinstance(country, str):
            raise InvalidInput("country", "must be an ISO 3166-1 alpha-2 code such as 'FR'")
        code = country.strip().upper()
        code = self.aliases.get(code, code)
        if code not in self.names:
            raise InvalidInput("country", f"{country!r} is not an ISO 3166-1 alpha-2 country code")
        return code

    def name(self, country: str) -> str:
        return self.names[self.code(country)]

    def records(self, country: str) -> tuple[Membership, ...]:
        code = self.code(country)
        return tuple(m for m in self.memberships if m.country == code)

    def basis(self, country: str, on: date) -> Membership | None:
        """The record that makes the country eligible on the date (a membership before an association)."""
        covering = [m for m in self.records(country) if m.eligible and m.covers(on)]
        covering.sort(key=lambda m: (m.status != "member", m.start))
        return covering[0] if covering else None


@cache
def load_countries() -> Countries:
    """The country records shipped with the package, read and validated once."""
    text = resources.files("aifactory.core").joinpath("data/countries.json").read_text(encoding="utf-8")
    return parse_countries(json.loads(text))


def parse_countries(data: Any) -> Countries:
    if not isinstance(data, Mapping):
        raise InvalidInput("countries", "the document must be a JSON object")
    names = data.get("countries")
    aliases = data.get("aliases", {})
    if not isinstance(names, Mapping) or not all(
        isinstance(k, str) and len(k) == 2 and k.isupper() and isinstance(v, str) and v for k, v in names.items()
    ):
        raise InvalidInput("countries.countries", "must map two-letter upper-case codes to names")
    if not isinstance(aliases, Mapping) or not all(isinstance(v, str) and v in names for v in aliases.values()):
        raise InvalidInput("countries.aliases", "must map codes to known codes")
    rows = data.get("memberships")
    if not isinstance(rows, list):
        raise InvalidInput("countries.memberships", "must be a list")
    memberships = tuple(_membership(row, i, names) for i, row in enumerate(rows))
    return Countries(
        names=MappingProxyType(dict(names)), aliases=MappingProxyType(dict(aliases)), memberships=memberships
    )


def _membership(row: Any, index: int, names: Mapping[str, str]) -> Membership:
    where = f"countries.memberships[{index}]"
    if not isinstance(row, Mapping):
        raise InvalidInput(where, "must be a JSON object")
    country = row.get("country")
    if country not in names:
        raise InvalidInput(f"{where}.country", f"{country!r} is not a known country code")
    status = row.get("status")
    if status not in STATUSES:
        raise InvalidInput(f"{where}.status", f"{status!r} is not one of {', '.join(sorted(STATUSES))}")
    start = _date(row.get("from"), f"{where}.from")
    until = None if row.get("until") is None else _date(row.get("until"), f"{where}.until")
    if until is not None and until < start:
        raise InvalidInput(f"{where}.until", "is before 'from'")
    for name in ("programme", "scope", "source"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            raise InvalidInput(f"{where}.{name}", "must be a non-empty string")
    if not isinstance(row.get("confirmed"), bool):
        raise InvalidInput(f"{where}.confirmed", "must be true or false")
    note = row.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidInput(f"{where}.note", "must be a string or null")
    return Membership(
        country=str(country),
        status=str(status),
        programme=row["programme"],
        start=start,
        until=until,
        scope=row["scope"],
        confirmed=row["confirmed"],
        source=row["source"],
        note=note,
    )


def _date(value: Any, where: str) -> date:
    if not isinstance(value, str):
        raise InvalidInput(where, "must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(where, f"{value!r} is not a date YYYY-MM-DD") from exc


def is_established_eligible(country: str, on: date) -> bool:
    """Whether an organisation established in `country` (ISO 3166-1 alpha-2) is eligible on the date."""
    return load_countries().basis(country, _day(on)) is not None


def _day(on: object) -> date:
    if isinstance(on, datetime):
        return on.date()
    if not isinstance(on, date):
        raise InvalidInput("on", "must be a date")
    return on


# --- SME category ------------------------------------------------------------------------------------------------


class SmeCategory(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Relation(StrEnum):
    PARTNER = "partner"  # 25 % to 50 % held, either way, and not linked
    LINKED = "linked"  # control: majority of voting rights, or dominant influence


Figure = int | float | Decimal | Fraction
"""A figure as the caller has it; the arithmetic reads it exactly (`exact`)."""


@dataclass(frozen=True)
class Enterprise:
    """An enterprise related to the applicant, with its own figures and how it is related."""

    relation: Relation
    headcount: Figure
    turnover_eur: Figure
    balance_sheet_eur: Figure
    share: Figure = 1  # for a partner: the larger of the capital and voting-rights shares held, 0.25..0.5

    def weight(self) -> Fraction:
        return Fraction(1) if self.relation is Relation.LINKED else exact(self.share, "share")


# (category, staff below, turnover at most, balance sheet at most), smallest first; exact whole numbers
SME_CEILINGS: tuple[tuple[SmeCategory, int, int, int], ...] = (
    (SmeCategory.MICRO, 10, 2_000_000, 2_000_000),
    (SmeCategory.SMALL, 50, 10_000_000, 10_000_000),
    (SmeCategory.MEDIUM, 250, 50_000_000, 43_000_000),
)


def exact(value: object, field: str) -> Fraction:
    """A finite figure as an exact fraction: an int or a Fraction as it is, a Decimal exactly, a float as the
    decimal it is written as (repr: 0.35 -> 35/100). InvalidInput naming `field` for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | Fraction):
        raise InvalidInput(field, "must be a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(field, "must be a finite number")
        return Fraction(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInput(field, "must be a finite number")
        return Fraction(value)
    return Fraction(value)


def sme_category(
    headcount: Figure, turnover_eur: Figure, balance_sheet_eur: Figure, partners: Sequence[Enterprise] = ()
) -> SmeCategory:
    """The SME category of an enterprise with its partner and linked enterprises (formulas in the module doc),
    computed exactly."""
    staff = _non_negative(headcount, "headcount", "must be a number of staff in annual work units, 0 or more")
    turnover = _non_negative(turnover_eur, "turnover_eur", "must be a number of euros, 0 or more")
    balance = _non_negative(balance_sheet_eur, "balance_sheet_eur", "must be a number of euros, 0 or more")
    for i, other in enumerate(partners):
        where = f"partners[{i}]"
        if not isinstance(other, Enterprise):
            raise InvalidInput(where, "must be an Enterprise")
        if not isinstance(other.relation, Relation):
            raise InvalidInput(f"{where}.relation", "must be 'partner' or 'linked'")
        other_staff = _non_negative(other.headcount, f"{where}.headcount", "must be 0 or more")
        other_turnover = _non_negative(other.turnover_eur, f"{where}.turnover_eur", "must be 0 or more")
        other_balance = _non_negative(other.balance_sheet_eur, f"{where}.balance_sheet_eur", "must be 0 or more")
        if other.relation is Relation.PARTNER:
            share = exact(other.share, f"{where}.share")
            if share < Fraction(1, 4):
                raise InvalidInput(f"{where}.share", "below 25 % the enterprise is autonomous: leave it out")
            if share > Fraction(1, 2):
                raise InvalidInput(f"{where}.share", "above 50 % the enterprise is linked, not a partner")
        weight = other.weight()
        staff += weight * other_staff
        turnover += weight * other_turnover
        balance += weight * other_balance
    for category, staff_below, turnover_max, balance_max in SME_CEILINGS:
        if staff < staff_below and (turnover <= turnover_max or balance <= balance_max):
            return category
    return SmeCategory.LARGE


def _non_negative(value: object, field: str, message: str) -> Fraction:
    number = exact(value, field)
    if number < 0:
        raise InvalidInput(field, message)
    return number


@dataclass(frozen=True)
class Screening:
    prohibited: tuple[str, ...]  # Article 5 practice keys named
    high_risk_areas: tuple[str, ...]  # Annex III area keys named
    systemic_risk: bool
    flops: float | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prohibited": list(self.prohibited),
            "high_risk_areas": list(self.high_risk_areas),
            "systemic_risk": self.systemic_risk,
            "flops": self.flops,
            "reasons": list(self.reasons),
        }


def screen(*, practices: Collection[str], areas: Collection[str], flops: float | None) -> Screening:
    """Screen a project against the AI Act: prohibited practices, high-risk areas, systemic-risk compute."""
    prohibited = _keys(practices, ARTICLE5_PRACTICES, "practices")
    high_risk = _keys(areas, ANNEX3_AREAS, "areas")
    if flops is not None:
        if isinstance(flops, bool) or not isinstance(flops, int | float) or not math.isfinite(flops) or flops < 0:
            raise InvalidInput("flops", "must be a finite number of FLOP, 0 or more")
        flops = float(flops)
    systemic = flops is not None and flops > SYSTEMIC_RISK_FLOPS
    reasons = [prohibited_reason(key) for key in prohibited] + [high_risk_reason(key) for key in high_risk]
    if systemic and flops is not None:
        reasons.append(systemic_risk_notice(flops))
    return Screening(
        prohibited=prohibited, high_risk_areas=high_risk, systemic_risk=systemic, flops=flops, reasons=tuple(reasons)
    )


def prohibited_reason(key: str) -> str:
    return f"The project involves a practice prohibited by Article 5 of the AI Act: {ARTICLE5_PRACTICES[key]}."


def high_risk_reason(key: str) -> str:
    return (
        f"The project falls in a high-risk area of Annex III of the AI Act ({ANNEX3_AREAS[key]}): "
        "the obligations for high-risk AI systems apply."
    )


def systemic_risk_notice(flops: float) -> str:
    return (
        f"Training compute of {flops:.3g} FLOP exceeds 10^25 FLOP: a general-purpose model trained with it is "
        "presumed to have systemic risk (AI Act Article 51), and its provider must notify the Commission within "
        "two weeks (Article 52)."
    )


def _keys(given: Collection[str], known: Mapping[str, str], name: str) -> tuple[str, ...]:
    if isinstance(given, str):
        raise InvalidInput(name, "must be a collection of keys, not a single string")
    out: list[str] = []
    for key in given:
        if key not in known:
            raise InvalidInput(name, f"unknown key {key!r} (known: {', '.join(known)})")
        if key not in out:
            out.append(key)
    order = list(known)
    return tuple(sorted(out, key=order.index))


# --- gate ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateDecision:
    eligible: bool
    high_risk: bool
    systemic_risk: bool
    reasons: tuple[str, ...]  # refusals first, then notices

    def check(self) -> None:
        """Raise Ineligible with the reasons when the gate refused."""
        if not self.eligible:
            raise Ineligible(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "high_risk": self.high_risk,
            "systemic_risk": self.systemic_risk,
            "reasons": list(self.reasons),
        }


def evaluate_gate(*, country: str, on: date, civil_use: bool, screening: Screening) -> GateDecision:
    """Decide whether a project may pass the gate (rules in the module doc)."""
    on = _day(on)
    if not isinstance(civil_use, bool):
        raise InvalidInput("civil_use", "must be true or false")
    if not isinstance(screening, Screening):
        raise InvalidInput("screening", "must be the result of screen()")
    countries = load_countries()
    code = countries.code(country)
    refusals: list[str] = []
    if countries.basis(code, on) is None:
        refusals.append(
            f"Organisations established in {countries.names[code]} ({code}) are not eligible on {on.isoformat()}: "
            "access is open to organisations established in an EU member state or in a country associated to "
            "Horizon Europe or the Digital Europe Programme."
        )
    if not civil_use:
        refusals.append("The project is not for civil use: the AI Factories serve civil uses only.")
    refusals += [prohibited_reason(key) for key in screening.prohibited]
    notices = [high_risk_reason(key) for key in screening.high_risk_areas]
    if screening.systemic_risk and screening.flops is not None:
        notices.append(systemic_risk_notice(screening.flops))
    return GateDecision(
        eligible=not refusals,
        high_risk=bool(screening.high_risk_areas),
        systemic_risk=screening.systemic_risk,
        reasons=tuple(refusals + notices),
    )
