"""Reviewer assignment as one integer program (see the package docstring)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import maximum_flow

from aifactory.core.eligibility import load_countries
from aifactory.core.exceptions import InvalidInput, SolverError
from aifactory.core.review._common import InfeasibleAssignment, _norm, _number, _text

# --- reviewer assignment -----------------------------------------------------------------------------------------


def _keywords(name: str, values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise InvalidInput(name, "must be a collection of keywords, not one string")
    out = set()
    for value in values:
        if not isinstance(value, str):
            raise InvalidInput(name, f"{value!r} is not a string")
        if value.strip():
            out.add(_norm(value))
    return frozenset(out)


@dataclass(frozen=True)
class Reviewer:
    id: str
    name: str
    organisation: str
    country: str
    keywords: frozenset[str]
    max_load: int

    def __post_init__(self) -> None:
        _text("reviewer.id", self.id)
        _text(f"reviewer {self.id}.name", self.name)
        for name in ("organisation", "country"):
            if not isinstance(getattr(self, name), str):
                raise InvalidInput(f"reviewer {self.id}.{name}", f"{getattr(self, name)!r} is not a string")
        object.__setattr__(self, "keywords", _keywords(f"reviewer {self.id}.keywords", self.keywords))
        if isinstance(self.max_load, bool) or not isinstance(self.max_load, int) or self.max_load < 0:
            raise InvalidInput(f"reviewer {self.id}.max_load", f"must be a whole number >= 0, got {self.max_load!r}")


@dataclass(frozen=True)
class ProposalProfile:
    """What assignment needs of a proposal: its keywords, organisation, the people it names and its country."""

    id: str
    keywords: frozenset[str]
    organisation: str
    people: frozenset[str]
    country: str

    def __post_init__(self) -> None:
        _text("proposal.id", self.id)
        for name in ("organisation", "country"):
            if not isinstance(getattr(self, name), str):
                raise InvalidInput(f"proposal {self.id}.{name}", f"{getattr(self, name)!r} is not a string")
        object.__setattr__(self, "keywords", _keywords(f"proposal {self.id}.keywords", self.keywords))
        object.__setattr__(self, "people", _keywords(f"proposal {self.id}.people", self.people))


@dataclass(frozen=True)
class ConflictRules:
    same_country: bool = False  # a reviewer from the proposal's country is in conflict
    declared: frozenset[tuple[str, str]] = frozenset()  # (reviewer id, proposal id) declared in conflict

    def __post_init__(self) -> None:
        declared = set()
        for pair in self.declared:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                raise InvalidInput("rules.declared", f"{pair!r} is not a (reviewer id, proposal id) pair")
            declared.add(pair)
        object.__setattr__(self, "declared", frozenset(declared))


NO_RULES = ConflictRules()


def _same_country(a: str, b: str) -> bool:
    """Whether two country codes name one country, read canonically (UK and GB, EL and GR are one)."""
    countries = load_countries()
    try:
        return countries.code(a) == countries.code(b)
    except InvalidInput:
        return _norm(a) == _norm(b)


def conflicts(proposal: ProposalProfile, reviewer: Reviewer, rules: ConflictRules = NO_RULES) -> tuple[str, ...]:
    """Every reason the reviewer may not review the proposal (empty: free of conflict)."""
    reasons = []
    if proposal.organisation.strip() and _norm(proposal.organisation) == _norm(reviewer.organisation):
        reasons.append(f"same organisation ({reviewer.organisation})")
    if _norm(reviewer.name) in proposal.people or _norm(reviewer.id) in proposal.people:
        reasons.append(f"{reviewer.name} is named in the proposal")
    if rules.same_country and proposal.country.strip() and _same_country(proposal.country, reviewer.country):
        reasons.append(f"same country ({reviewer.country})")
    if (reviewer.id, proposal.id) in rules.declared:
        reasons.append("conflict declared")
    return tuple(reasons)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


@dataclass(frozen=True)
class Conflict:
    proposal_id: str
    reviewer_id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Assignment:
    proposal_id: str
    reviewer_id: str
    match: float  # Jaccard of their keywords
    reason: str


@dataclass(frozen=True)
class AssignmentResult:
    assignments: tuple[Assignment, ...]  # by proposal in the order given, then by reviewer in the order given
    reviewers_of: Mapping[str, tuple[str, ...]]
    load: Mapping[str, int]  # every reviewer, 0 included
    max_load: int
    total_match: float
    conflicts: tuple[Conflict, ...]  # every pair kept apart, with its reasons
    load_weight: float
    status: str
    seconds: float


@dataclass(frozen=True)
class AssignmentEstimate:
    proposals: int
    reviewers: int
    pairs: int  # variables of the program: pairs free of conflict with a reviewer able to take work
    conflicts: int
    reviews_needed: int
    capacity: int
    load_lower_bound: int  # no assignment has a smaller largest load


@dataclass(frozen=True)
class AssignmentEvaluation:
    total_match: float
    load: Mapping[str, int]
    max_load: int
    violations: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        return not self.violations


def _check_people(proposals: Sequence[ProposalProfile], reviewers: Sequence[Reviewer], k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInput("k", f"reviewers per proposal must be a whole number >= 1, got {k!r}")
    for label, items, kind in (("proposals", proposals, ProposalProfile), ("reviewers", reviewers, Reviewer)):
        ids = []
        for item in items:
            if not isinstance(item, kind):
                raise InvalidInput(label, f"{item!r} is not a {kind.__name__}")
            ids.append(item.id)
        if len(set(ids)) != len(ids):
            raise InvalidInput(label, "ids must be unique")


def _pairs(
    proposals: Sequence[ProposalProfile], reviewers: Sequence[Reviewer], rules: ConflictRules
) -> tuple[list[tuple[int, int]], list[Conflict]]:
    free: list[tuple[int, int]] = []
    kept_apart: list[Conflict] = []
    for i, p in enumerate(proposals):
        for j, r in enumerate(reviewers):
            reasons = conflicts(p, r, rules)
            if reasons:
                kept_apart.append(Conflict(p.id, r.id, reasons))
            elif r.max_load > 0:
                free.append((i, j))
    return free, kept_apart


def estimate_assignment(
    proposals: Sequence[ProposalProfile], reviewers: Sequence[Reviewer], *, k: int, rules: ConflictRules = NO_RULES
) -> AssignmentEstimate:
    """Size of the program and the smallest largest load any assignment can have."""
    _check_people(proposals, reviewers, k)
    free, kept_apart = _pairs(proposals, reviewers, rules)
    active = sum(1 for r in reviewers if r.max_load > 0)
    needed = k * len(proposals)
    return AssignmentEstimate(
        proposals=len(proposals),
        reviewers=len(reviewers),
        pairs=len(free),
        conflicts=len(kept_apart),
        reviews_needed=needed,
        capacity=sum(r.max_load for r in reviewers),
        load_lower_bound=math.ceil(needed / active) if active else 0,
    )


def _flow_graph(
    n_p: int, reviewers: Sequence[Reviewer], free: list[tuple[int, int]], k: int, largest: int | None
) -> csr_array:
    """source -> proposal (k) -> free reviewer (1) -> sink (min(cap, largest)); nodes 0, 1..P, P+1..P+R, P+R+1."""
    n_r = len(reviewers)
    sink = n_p + n_r + 1
    rows = [0] * n_p + [1 + i for i, _ in free] + [1 + n_p + j for j in range(n_r)]
    cols = [1 + i for i in range(n_p)] + [1 + n_p + j for _, j in free] + [sink] * n_r
    caps = (
        [k] * n_p + [1] * len(free) + [r.max_load if largest is None else min(r.max_load, largest) for r in reviewers]
    )
    return csr_array(coo_array((np.array(caps, dtype=np.int32), (rows, cols)), shape=(sink + 1, sink + 1)))


def _check_feasible(
    proposals: Sequence[ProposalProfile], reviewers: Sequence[Reviewer], free: list[tuple[int, int]], k: int
) -> None:
    """Raise InfeasibleAssignment naming the proposals that cannot get k reviewers (maximum flow, minimum cut)."""
    n_p = len(proposals)
    available = [0] * n_p
    for i, _ in free:
        available[i] += 1
    short = [p.id for i, p in enumerate(proposals) if available[i] < k]
    if short:
        raise InfeasibleAssignment(
            short, f"fewer than {k} reviewers free of conflict and able to take work for: {', '.join(short)}"
        )
    graph = _flow_graph(n_p, reviewers, free, k, None)
    flow = maximum_flow(graph, 0, graph.shape[0] - 1)
    if flow.flow_value >= k * n_p:
        return
    residual = (graph - flow.flow).tocsr()
    seen = {0}
    queue = deque([0])
    while queue:
        node = queue.popleft()
        start, end = residual.indptr[node], residual.indptr[node + 1]
        for nxt, cap in zip(residual.indices[start:end], residual.data[start:end], strict=True):
            if cap > 0 and int(nxt) not in seen:
                seen.add(int(nxt))
                queue.append(int(nxt))
    stuck = [p.id for i, p in enumerate(proposals) if 1 + i in seen]
    got = sum(int(flow.flow[0, 1 + i]) for i in range(n_p) if 1 + i in seen)
    raise InfeasibleAssignment(
        stuck,
        f"proposals {', '.join(stuck)} need {k * len(stuck)} reviews together, but the reviewers free of conflict "
        f"with them can give at most {got} within their load caps",
    )


def _smallest_largest_load(n_p: int, reviewers: Sequence[Reviewer], free: list[tuple[int, int]], k: int) -> int:
    """L*: the smallest largest load that still gives every proposal k reviewers (bisection on maximum flows)."""
    active = sum(1 for r in reviewers if r.max_load > 0)
    low, high = math.ceil(k * n_p / active), max(r.max_load for r in reviewers)
    while low < high:
        middle = (low + high) // 2
        graph = _flow_graph(n_p, reviewers, free, k, middle)
        if maximum_flow(graph, 0, graph.shape[0] - 1).flow_value >= k * n_p:
            high = middle
        else:
            low = middle + 1
    return low


def assign(
    proposals: Sequence[ProposalProfile],
    reviewers: Sequence[Reviewer],
    *,
    k: int,
    rules: ConflictRules = NO_RULES,
    load_weight: float | None = None,
    time_limit: float | None = None,
) -> AssignmentResult:
    """Assign k reviewers to every proposal with the integer program of the module's docstring.

    load_weight: lambda, the match a unit of largest load is worth (None: balance first, then match).
    Raises InfeasibleAssignment when some proposals cannot get k reviewers, SolverError when HiGHS gives no answer.
    """
    started = time.perf_counter()
    _check_people(proposals, reviewers, k)
    if load_weight is not None and _number("load_weight", load_weight) < 0:
        raise InvalidInput("load_weight", f"must be >= 0, got {load_weight!r}")
    if time_limit is not None and _number("time_limit", time_limit) <= 0:
        raise InvalidInput("time_limit", f"must be positive, got {time_limit!r}")
    lam = float(k * len(proposals) + 1) if load_weight is None else float(load_weight)
    free, kept_apart = _pairs(proposals, reviewers, rules)
    if proposals:
        _check_feasible(proposals, reviewers, free, k)
    chosen: list[tuple[int, int]] = []
    status = "optimal"
    if proposals:
        floor = _smallest_largest_load(len(proposals), reviewers, free, k)
        chosen, status = _solve_program(proposals, reviewers, free, k, lam, floor, time_limit)
    ev = evaluate_assignment(
        proposals, reviewers, [(proposals[i].id, reviewers[j].id) for i, j in chosen], k=k, rules=rules
    )
    if ev.violations:
        raise SolverError(status, "the assignment found breaks the rules: " + "; ".join(ev.violations))
    chosen.sort()
    assignments = tuple(_explain(proposals[i], reviewers[j]) for i, j in chosen)
    reviewers_of: dict[str, list[str]] = {p.id: [] for p in proposals}
    for a in assignments:
        reviewers_of[a.proposal_id].append(a.reviewer_id)
    return AssignmentResult(
        assignments=assignments,
        reviewers_of=MappingProxyType({pid: tuple(rids) for pid, rids in reviewers_of.items()}),
        load=ev.load,
        max_load=ev.max_load,
        total_match=ev.total_match,
        conflicts=tuple(kept_apart),
        load_weight=lam,
        status=status,
        seconds=time.perf_counter() - started,
    )


def _solve_program(
    proposals: Sequence[ProposalProfile],
    reviewers: Sequence[Reviewer],
    free: list[tuple[int, int]],
    k: int,
    lam: float,
    floor: int,
    time_limit: float | None,
) -> tuple[list[tuple[int, int]], str]:
    """The integer program of the module's docstring over the free pairs; returns the chosen pairs and the status."""
    n_x, n_p, n_r = len(free), len(proposals), len(reviewers)
    match = np.array([jaccard(proposals[i].keywords, reviewers[j].keywords) for i, j in free])
    pi = np.array([i for i, _ in free], dtype=int)
    rj = np.array([j for _, j in free], dtype=int)
    xs = np.arange(n_x)
    per_proposal = coo_array((np.ones(n_x), (pi, xs)), shape=(n_p, n_x + 1))
    per_reviewer = coo_array((np.ones(n_x), (rj, xs)), shape=(n_r, n_x + 1))
    values = np.concatenate([np.ones(n_x), -np.ones(n_r)])
    largest = coo_array((values, (np.r_[rj, np.arange(n_r)], np.r_[xs, [n_x] * n_r])), shape=(n_r, n_x + 1))
    options: dict[str, float | bool] = {"disp": False, "mip_rel_gap": 0.0, "presolve": False}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(
        np.concatenate([-match, [lam]]),
        integrality=np.ones(n_x + 1),
        bounds=Bounds(np.r_[np.zeros(n_x), [floor]], np.r_[np.ones(n_x), [np.inf]]),
        constraints=[
            LinearConstraint(csr_array(per_proposal), k, k),
            LinearConstraint(csr_array(per_reviewer), -np.inf, np.array([r.max_load for r in reviewers], dtype=float)),
            LinearConstraint(csr_array(largest), -np.inf, 0),
        ],
        options=options,
    )
    status = {0: "optimal", 1: "time_limit", 2: "infeasible"}.get(int(res.status), "error")
    if res.x is None:
        raise SolverError(status, str(res.message))
    return [pair for pair, x in zip(free, res.x[:n_x], strict=True) if x > 0.5], status


def _explain(proposal: ProposalProfile, reviewer: Reviewer) -> Assignment:
    shared = sorted(proposal.keywords & reviewer.keywords)
    score = jaccard(proposal.keywords, reviewer.keywords)
    if shared:
        reason = f"{reviewer.id} shares {', '.join(map(repr, shared))} with {proposal.id} (Jaccard {score:.2f})"
    else:
        reason = f"{reviewer.id} shares no keyword with {proposal.id}; assigned to complete {proposal.id}'s reviews"
    return Assignment(proposal.id, reviewer.id, score, reason + "; no conflict of interest")


def evaluate_assignment(
    proposals: Sequence[ProposalProfile],
    reviewers: Sequence[Reviewer],
    pairs: Iterable[tuple[str, str]],
    *,
    k: int,
    rules: ConflictRules = NO_RULES,
) -> AssignmentEvaluation:
    """Total match, loads and broken rules of an assignment given as (proposal id, reviewer id) pairs."""
    _check_people(proposals, reviewers, k)
    by_p = {p.id: p for p in proposals}
    by_r = {r.id: r for r in reviewers}
    load = dict.fromkeys(by_r, 0)
    count = dict.fromkeys(by_p, 0)
    violations: list[str] = []
    total = 0.0
    seen: set[tuple[str, str]] = set()
    for pid, rid in pairs:
        if pid not in by_p or rid not in by_r:
            violations.append(f"({pid}, {rid}) names an unknown proposal or reviewer")
            continue
        if (pid, rid) in seen:
            violations.append(f"{rid} is assigned to {pid} twice")
            continue
        seen.add((pid, rid))
        reasons = conflicts(by_p[pid], by_r[rid], rules)
        if reasons:
            violations.append(f"{rid} may not review {pid}: {'; '.join(reasons)}")
        load[rid] += 1
        count[pid] += 1
        total += jaccard(by_p[pid].keywords, by_r[rid].keywords)
    violations += [f"{pid} has {n} reviewers, not {k}" for pid, n in count.items() if n != k]
    violations += [
        f"{rid} has {n} reviews, above the cap {by_r[rid].max_load}"
        for rid, n in load.items()
        if n > by_r[rid].max_load
    ]
    return AssignmentEvaluation(total, MappingProxyType(load), max(load.values(), default=0), tuple(violations))


def report_assignment(result: AssignmentResult) -> list[str]:
    lines = [
        f"{len(result.assignments)} reviews assigned ({result.status}, {result.seconds:.3f} s): largest load "
        f"{result.max_load}, total match {result.total_match:.3f}, {len(result.conflicts)} pairs kept apart",
    ]
    lines += [f"  {a.proposal_id} <- {a.reviewer_id}: {a.reason}" for a in result.assignments]
    lines += [f"  load {rid}: {n}" for rid, n in result.load.items()]
    return lines
