"""GenAI4EU matchmaking: established companies' challenges, startups' capability profiles, ranked matches.

Data
    challenges c   sector (one of SECTORS), model types M_c and data kinds D_c wanted, a smallest team T_c
    startups s     sectors S_s, model types M_s, data kinds D_s, team size t_s

Fit of a pair (fit), each part in [0, 1] and said as a sentence:
    w_sc = 3 * sector + 2 * models + 1.5 * data + 0.5 * team
    sector   1 when c's sector is one of S_s
    models   |M_c & M_s| / |M_c|   the share of the model types wanted that the startup builds (1 if none wanted)
    data     |D_c & D_s| / |D_c|   the same for data kinds
    team     1 when t_s >= T_c
A pair is possible when w_sc >= MIN_FIT (some sector or model-type ground in common).

One assignment problem (match), a b-matching solved with HiGHS (scipy.optimize.milp; its constraint matrix is
totally unimodular, so the linear relaxation's vertex optimum is already whole, with the integer program as a
fallback):
    maximise    sum_sc w_sc x_sc
    subject to  sum_s x_sc <= k        every challenge gets a shortlist of at most k startups
                sum_c x_sc <= l        no startup is proposed to more than l challenges at once
                x_sc in {0, 1}, only for possible pairs
Each challenge's shortlist is ranked by w_sc (ties by the startup's id); so is each startup's list of challenges.
With l >= number of challenges it is each challenge's top k; the startup limit spreads proposals so that a few
strong profiles do not take every shortlist. Functions: fit, estimate, match, evaluate (ranking quality of any
shortlist against a ground truth: precision@k, recall@k, NDCG@k, MRR), report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from aifactory.core.exceptions import InvalidInput, SolverError

# The strategic sectors named for GenAI4EU in the Commission's AI innovation package (January 2024).
SECTORS: tuple[str, ...] = (
    "robotics", "health", "biotechnology", "chemicals", "new materials", "batteries", "manufacturing",
    "engineering", "mobility", "climate", "virtual worlds", "digital twins", "cybersecurity", "aerospace",
    "agri-food", "science", "public sector",
)
MODEL_TYPES: tuple[str, ...] = (
    "language", "vision", "multimodal", "speech", "time series", "graph", "reinforcement learning",
    "generative design", "tabular", "simulation surrogate",
)
DATA_KINDS: tuple[str, ...] = (
    "text", "images", "video", "audio", "sensor", "genomic", "molecular", "geospatial", "tabular", "simulation",
    "code",
)
WEIGHTS: Mapping[str, float] = MappingProxyType({"sector": 3.0, "models": 2.0, "data": 1.5, "team": 0.5})
MAX_FIT = sum(WEIGHTS.values())
MIN_FIT = 2.0


def _subset(name: str, values: Sequence[str], allowed: Sequence[str]) -> frozenset[str]:
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(name, "must be a list of names")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidInput(name, f"unknown {', '.join(unknown)} (known: {', '.join(allowed)})")
    return frozenset(values)


def _count(name: str, value: object, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(name, f"must be a whole number from {low} to {high}")
    return value


@dataclass(frozen=True)
class Challenge:
    id: str
    sector: str
    models: frozenset[str]
    data: frozenset[str]
    min_team: int = 1

    def __post_init__(self) -> None:
        if self.sector not in SECTORS:
            raise InvalidInput("sector", f"unknown sector {self.sector!r} (known: {', '.join(SECTORS)})")
        object.__setattr__(self, "models", _subset("model_types", tuple(self.models), MODEL_TYPES))
        object.__setattr__(self, "data", _subset("data", tuple(self.data), DATA_KINDS))
        _count("min_team", self.min_team, low=1, high=10_000)


@dataclass(frozen=True)
class Startup:
    id: str
    sectors: frozenset[str]
    models: frozenset[str]
    data: frozenset[str]
    team: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "sectors", _subset("sectors", tuple(self.sectors), SECTORS))
        if not self.sectors:
            raise InvalidInput("sectors", "name at least one sector")
        object.__setattr__(self, "models", _subset("model_types", tuple(self.models), MODEL_TYPES))
        object.__setattr__(self, "data", _subset("data", tuple(self.data), DATA_KINDS))
        _count("team", self.team, low=1, high=10_000)


@dataclass(frozen=True)
class Fit:
    challenge: str
    startup: str
    score: float
    parts: Mapping[str, float]
    reasons: tuple[str, ...]

    @property
    def possible(self) -> bool:
        return self.score >= MIN_FIT


def _share(wanted: frozenset[str], has: frozenset[str]) -> float:
    return 1.0 if not wanted else len(wanted & has) / len(wanted)


def fit(challenge: Challenge, startup: Startup) -> Fit:
    """The fit of one pair and the sentences behind it (rule in the module doc)."""
    parts = {
        "sector": 1.0 if challenge.sector in startup.sectors else 0.0,
        "models": _share(challenge.models, startup.models),
        "data": _share(challenge.data, startup.data),
        "team": 1.0 if startup.team >= challenge.min_team else 0.0,
    }
    reasons: list[str] = []
    if parts["sector"]:
        reasons.append(f"works in {challenge.sector}")
    if challenge.models:
        both = sorted(challenge.models & startup.models)
        reasons.append(f"builds {len(both)} of {len(challenge.models)} model types wanted"
                       + (f" ({', '.join(both)})" if both else ""))
    if challenge.data:
        both = sorted(challenge.data & startup.data)
        reasons.append(f"handles {len(both)} of {len(challenge.data)} data kinds wanted"
                       + (f" ({', '.join(both)})" if both else ""))
    reasons.append(f"team of {startup.team} {'meets' if parts['team'] else 'is below'} the {challenge.min_team} asked")
    score = sum(WEIGHTS[k] * v for k, v in parts.items())
    return Fit(challenge.id, startup.id, round(score, 9), MappingProxyType(parts), tuple(reasons))


@dataclass(frozen=True)
class MatchEstimate:
    challenges: int
    startups: int
    possible_pairs: int


def estimate(challenges: Sequence[Challenge], startups: Sequence[Startup]) -> MatchEstimate:
    pairs = sum(1 for c in challenges for s in startups if fit(c, s).possible)
    return MatchEstimate(len(challenges), len(startups), pairs)


@dataclass(frozen=True)
class MatchResult:
    shortlists: Mapping[str, tuple[Fit, ...]]  # challenge -> ranked startups
    proposals: Mapping[str, tuple[Fit, ...]]  # startup -> ranked challenges
    total: float
    status: str
    seconds: float


def match(challenges: Sequence[Challenge], startups: Sequence[Startup], *, per_challenge: int = 5,
          per_startup: int = 3, time_limit: float | None = 10.0) -> MatchResult:
    """Solve the b-matching of the module doc; empty lists where nothing is possible."""
    _count("per_challenge", per_challenge, low=1, high=1000)
    _count("per_startup", per_startup, low=1, high=1000)
    for name, ids in (("challenges", [c.id for c in challenges]), ("startups", [s.id for s in startups])):
        if len(set(ids)) != len(ids):
            raise InvalidInput(name, "ids must be unique")
    started = time.perf_counter()
    pairs = [f for c in challenges for s in startups if (f := fit(c, s)).possible]
    shortlists: dict[str, list[Fit]] = {c.id: [] for c in challenges}
    proposals: dict[str, list[Fit]] = {s.id: [] for s in startups}
    status = "empty"
    if pairs:
        c_index = {c.id: i for i, c in enumerate(challenges)}
        s_index = {s.id: i for i, s in enumerate(startups)}
        n = len(pairs)
        cols = np.arange(n)
        rows_c = np.array([c_index[p.challenge] for p in pairs])
        rows_s = np.array([s_index[p.startup] for p in pairs]) + len(challenges)
        a = coo_array((np.ones(2 * n), (np.concatenate([rows_c, rows_s]), np.concatenate([cols, cols]))),
                      shape=(len(challenges) + len(startups), n))
        upper = np.concatenate([np.full(len(challenges), per_challenge), np.full(len(startups), per_startup)])
        # Ties between equal fits go to the smaller ids: a tiny tie-break keeps the solution reproducible.
        rank = {s.id: i for i, s in enumerate(sorted(startups, key=lambda s: s.id))}
        eps = 1e-6 / (len(startups) + 1)
        cost = -np.array([p.score + eps * (len(startups) - rank[p.startup]) for p in pairs])
        options = {"time_limit": time_limit} if time_limit is not None else {}
        constraint = LinearConstraint(a.tocsr(), -np.inf, upper)
        # The constraint matrix of a bipartite b-matching is totally unimodular: the LP's vertex optimum is whole.
        result = milp(cost, constraints=constraint, integrality=np.zeros(n), bounds=Bounds(0, 1), options=options)
        if result.x is not None and np.any(np.abs(result.x - np.round(result.x)) > 1e-6):
            result = milp(cost, constraints=constraint, integrality=np.ones(n), bounds=Bounds(0, 1), options=options)
        if result.x is None:
            raise SolverError(str(result.status), result.message)
        status = "optimal" if result.status == 0 else "time limit"
        for p, x in zip(pairs, result.x, strict=True):
            if x > 0.5:
                shortlists[p.challenge].append(p)
                proposals[p.startup].append(p)
    ranked = MappingProxyType({k: tuple(sorted(v, key=lambda f: (-f.score, f.startup))) for k, v in shortlists.items()})
    offered = MappingProxyType({k: tuple(sorted(v, key=lambda f: (-f.score, f.challenge)))
                                for k, v in proposals.items()})
    total = sum(f.score for v in ranked.values() for f in v)
    return MatchResult(ranked, offered, round(total, 9), status, time.perf_counter() - started)


# --- ranking quality -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quality:
    k: int
    precision: float
    recall: float
    ndcg: float
    mrr: float
    challenges: int


def evaluate(ranked: Mapping[str, Sequence[str]], truth: Mapping[str, frozenset[str]], k: int) -> Quality:
    """Mean precision@k, recall@k, NDCG@k (binary relevance) and mean reciprocal rank of the first true partner,
    over the challenges that have a ground truth."""
    _count("k", k, low=1, high=10_000)
    keys = [c for c in truth if truth[c]]
    if not keys:
        raise InvalidInput("truth", "no challenge has a true partner")
    p = r = nd = rr = 0.0
    for c in keys:
        top = list(ranked.get(c, ()))[:k]
        hits = [1.0 if s in truth[c] else 0.0 for s in top]
        p += sum(hits) / k
        r += sum(hits) / len(truth[c])
        dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(truth[c]))))
        nd += dcg / ideal
        full = list(ranked.get(c, ()))
        first = next((i for i, s in enumerate(full) if s in truth[c]), None)
        rr += 0.0 if first is None else 1.0 / (first + 1)
    n = len(keys)
    return Quality(k, p / n, r / n, nd / n, rr / n, n)


def report(result: MatchResult) -> list[str]:
    lines = [f"{result.status}: total fit {result.total:.2f} in {result.seconds:.3f} s"]
    for c, fits in result.shortlists.items():
        lines.append(f"{c}: " + (", ".join(f"{f.startup} ({f.score:.2f})" for f in fits) or "nobody"))
    return lines
