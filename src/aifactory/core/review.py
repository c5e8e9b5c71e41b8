"""Peer review of a call: rubric scoring, ranking with explained tie-breaks, and reviewer assignment.

Scoring
    A rubric is a list of criteria c, each with a weight w_c > 0 and a scale [low_c, high_c]. A review gives every
    criterion a mark within its scale; the review's score is sum_c w_c * mark_c / sum_c w_c, and a proposal's score
    is the mean of its reviews' scores (equal to the weighted mean of its per-criterion means).

Ranking (rank)
    Proposals are ordered by score, highest first. Scores, and the per-criterion means below, are compared after
    rounding to SCORE_DECIMALS decimals, so that the same marks added up in another order still tie. A tie is
    broken by the first of these rules that separates the two proposals:
        1. the higher mean on each criterion in turn, heaviest criterion first (the order of the rubric between
           criteria of equal weight);
        2. fewer GPU-hours requested;
        3. earlier submission;
        4. the proposal id, in alphabetical order (only when everything else is equal).
    Each entry whose score ties with the one above it carries the rule that placed it and a sentence saying so.

Reviewer assignment (assign)
    Data: proposals p (keywords K_p, organisation, named people, country), reviewers r (keywords K_r,
    organisation, name, country, load cap u_r), k reviews per proposal. A pair (p, r) is in conflict when they
    share an organisation, when r is named in p, when they share a country and the call says that is a conflict,
    or when the conflict was declared. J_pr = |K_p & K_r| / |K_p | K_r| (Jaccard; 0 when both are empty).
    Integer program, over the pairs E free of conflict, solved with HiGHS (scipy.optimize.milp):
        minimise    lambda * L - sum_{(p,r) in E} J_pr * x_pr
        subject to  sum_r x_pr = k                  for every proposal p
                    sum_p x_pr <= u_r               for every reviewer r
                    sum_p x_pr - L <= 0             for every reviewer r   (L >= the largest load)
                    x_pr in {0, 1},  L integer,  L >= L*
    With lambda = k * |P| + 1 (the default) one more unit of largest load costs more than any total match can
    gain: the program first minimises the largest load, then maximises the match among those assignments. A
    smaller lambda (load_weight) trades balance for expertise. Before solving, a maximum flow (source -> p with
    capacity k -> r with capacity 1 per free pair -> sink with capacity u_r) checks that every proposal can get
    its k reviewers; when not, the source side of the minimum cut names the proposals that cannot, and
    InfeasibleAssignment is raised. L*, the smallest largest load with which every proposal still gets its k
    reviewers, is found by bisection on the same maximum flow with sink capacities min(u_r, L). The bound
    L >= L* removes no feasible assignment; when balance comes first it fixes L = L* in the relaxation, where the
    remaining constraint matrix (a transportation problem) is totally unimodular, so the root relaxation is
    already integral. HiGHS presolve is off: it removes nothing from this program and costs seconds at scale.

Functions: score_review, score_proposals, rank, report_ranking; conflicts, estimate_assignment, assign,
evaluate_assignment, report_assignment.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import maximum_flow

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


# --- scoring and ranking -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    name: str
    weight: float
    low: float = 0.0
    high: float = 5.0

    def __post_init__(self) -> None:
        _text("criterion.name", self.name)
        weight = _number(f"criterion {self.name}.weight", self.weight)
        if weight <= 0:
            raise InvalidInput(f"criterion {self.name}.weight", f"must be positive, got {weight:g}")
        low, high = _number(f"criterion {self.name}.low", self.low), _number(f"criterion {self.name}.high", self.high)
        if low >= high:
            raise InvalidInput(f"criterion {self.name}", f"scale low {low:g} must be below high {high:g}")
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True)
class Rubric:
    criteria: tuple[Criterion, ...]

    def __post_init__(self) -> None:
        criteria = tuple(self.criteria)
        if not criteria:
            raise InvalidInput("rubric.criteria", "a rubric needs at least one criterion")
        names = [c.name for c in criteria]
        if len(set(names)) != len(names):
            raise InvalidInput("rubric.criteria", "criterion names must be unique")
        object.__setattr__(self, "criteria", criteria)

    @property
    def total_weight(self) -> float:
        return sum(c.weight for c in self.criteria)

    @property
    def by_weight(self) -> tuple[Criterion, ...]:
        """Heaviest first; the rubric's order between criteria of equal weight."""
        return tuple(sorted(self.criteria, key=lambda c: -c.weight))


@dataclass(frozen=True)
class Review:
    proposal_id: str
    reviewer_id: str
    marks: Mapping[str, float]

    def __post_init__(self) -> None:
        _text("review.proposal_id", self.proposal_id)
        _text("review.reviewer_id", self.reviewer_id)
        if not isinstance(self.marks, Mapping):
            raise InvalidInput(f"review {self.reviewer_id}/{self.proposal_id}.marks", "must map criteria to marks")
        object.__setattr__(self, "marks", MappingProxyType(dict(self.marks)))


def score_review(rubric: Rubric, review: Review) -> float:
    """The review's weighted mean mark, after checking that it marks every criterion within its scale."""
    where = f"review {review.reviewer_id}/{review.proposal_id}.marks"
    unknown = sorted(set(review.marks) - {c.name for c in rubric.criteria})
    if unknown:
        raise InvalidInput(where, f"unknown criteria {', '.join(map(repr, unknown))}")
    total = 0.0
    for criterion in rubric.criteria:
        if criterion.name not in review.marks:
            raise InvalidInput(where, f"no mark for {criterion.name!r}")
        mark = _number(f"{where}[{criterion.name}]", review.marks[criterion.name])
        if not criterion.low <= mark <= criterion.high:
            raise InvalidInput(
                f"{where}[{criterion.name}]", f"{mark:g} is outside the scale {criterion.low:g}..{criterion.high:g}"
            )
        total += criterion.weight * mark
    return total / rubric.total_weight


@dataclass(frozen=True)
class ProposalScore:
    proposal_id: str
    score: float
    criteria: Mapping[str, float]  # mean mark per criterion
    reviews: int


def score_proposals(rubric: Rubric, reviews: Iterable[Review]) -> dict[str, ProposalScore]:
    """Each reviewed proposal's score (mean of its reviews' scores) and per-criterion means."""
    per: dict[str, list[Review]] = {}
    pairs: set[tuple[str, str]] = set()
    scores: dict[str, list[float]] = {}
    for review in reviews:
        if not isinstance(review, Review):
            raise InvalidInput("reviews", f"{review!r} is not a Review")
        key = (review.proposal_id, review.reviewer_id)
        if key in pairs:
            raise InvalidInput("reviews", f"reviewer {key[1]} reviewed {key[0]} twice")
        pairs.add(key)
        scores.setdefault(review.proposal_id, []).append(score_review(rubric, review))
        per.setdefault(review.proposal_id, []).append(review)
    out: dict[str, ProposalScore] = {}
    for pid, its in per.items():
        means = {c.name: sum(float(r.marks[c.name]) for r in its) / len(its) for c in rubric.criteria}
        out[pid] = ProposalScore(pid, sum(scores[pid]) / len(its), MappingProxyType(means), len(its))
    return out


@dataclass(frozen=True)
class Candidate:
    """What ranking needs besides the reviews: GPU-hours requested and when the proposal was submitted."""

    id: str
    gpu_hours: float
    submitted: datetime

    def __post_init__(self) -> None:
        _text("candidate.id", self.id)
        hours = _number(f"candidate {self.id}.gpu_hours", self.gpu_hours)
        if hours < 0:
            raise InvalidInput(f"candidate {self.id}.gpu_hours", f"negative GPU-hours ({hours:g})")
        object.__setattr__(self, "gpu_hours", hours)
        if not isinstance(self.submitted, datetime) or self.submitted.utcoffset() is None:
            raise InvalidInput(f"candidate {self.id}.submitted", "must be a datetime with a time zone")


@dataclass(frozen=True)
class RankedProposal:
    position: int  # 1 for the first
    proposal_id: str
    score: float
    criteria: Mapping[str, float]
    reviews: int
    gpu_hours: float
    submitted: datetime
    decided_by: str | None  # rule that placed it below the previous entry when their scores tie
    explanation: str | None  # the same in one sentence


@dataclass(frozen=True)
class Ranking:
    entries: tuple[RankedProposal, ...]
    rules: tuple[str, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e.proposal_id for e in self.entries)


def _rules(rubric: Rubric) -> tuple[str, ...]:
    return (
        "higher score",
        *(f"higher mean on {c.name!r} (weight {c.weight:g})" for c in rubric.by_weight),
        "fewer GPU-hours requested",
        "earlier submission",
        "proposal id in alphabetical order",
    )


def rank(rubric: Rubric, reviews: Iterable[Review], candidates: Sequence[Candidate]) -> Ranking:
    """Rank the candidates by score with the tie-break rules of the module's docstring.

    Every candidate needs at least one review, and every review must be of a candidate.
    """
    ids = [c.id for c in candidates]
    if len(set(ids)) != len(ids):
        raise InvalidInput("candidates", "candidate ids must be unique")
    scores = score_proposals(rubric, reviews)
    strangers = sorted(set(scores) - set(ids))
    if strangers:
        raise InvalidInput("reviews", f"reviews of proposals that are not candidates: {', '.join(strangers)}")
    unreviewed = [c.id for c in candidates if c.id not in scores]
    if unreviewed:
        raise InvalidInput("reviews", f"no review for {', '.join(unreviewed)}")
    heaviest = rubric.by_weight

    def key(c: Candidate) -> tuple[object, ...]:
        s = scores[c.id]
        return (
            -round(s.score, SCORE_DECIMALS),
            *(-round(s.criteria[k.name], SCORE_DECIMALS) for k in heaviest),
            c.gpu_hours,
            c.submitted,
            c.id,
        )

    ordered = sorted(candidates, key=key)
    entries: list[RankedProposal] = []
    for position, c in enumerate(ordered, start=1):
        rule: str | None = None
        sentence: str | None = None
        if entries and round(scores[c.id].score, SCORE_DECIMALS) == round(entries[-1].score, SCORE_DECIMALS):
            rule, sentence = _tie_break(rubric, ordered[position - 2], c, scores)
        s = scores[c.id]
        entries.append(
            RankedProposal(position, c.id, s.score, s.criteria, s.reviews, c.gpu_hours, c.submitted, rule, sentence)
        )
    return Ranking(tuple(entries), _rules(rubric))


def _tie_break(
    rubric: Rubric, above: Candidate, below: Candidate, scores: Mapping[str, ProposalScore]
) -> tuple[str, str]:
    a, b = scores[above.id], scores[below.id]
    head = f"{above.id} ranks above {below.id}: both score {round(a.score, 6):g}"
    for criterion in rubric.by_weight:
        ma, mb = round(a.criteria[criterion.name], SCORE_DECIMALS), round(b.criteria[criterion.name], SCORE_DECIMALS)
        if ma != mb:
            return (
                f"criterion:{criterion.name}",
                f"{head}, and {above.id} has the higher mean on {criterion.name!r} ({ma:.6g} against {mb:.6g}).",
            )
    if above.gpu_hours != below.gpu_hours:
        return (
            "gpu_hours",
            f"{head} with equal means on every criterion, and {above.id} requests fewer GPU-hours "
            f"({above.gpu_hours:.6g} against {below.gpu_hours:.6g}).",
        )
    if above.submitted != below.submitted:
        return (
            "submitted",
            f"{head} with equal means on every criterion and the same GPU-hours, and {above.id} was submitted "
            f"earlier ({above.submitted.isoformat()} against {below.submitted.isoformat()}).",
        )
    return ("id", f"{head} and are equal on every rule; they are ordered by proposal id.")


def report_ranking(ranking: Ranking) -> list[str]:
    lines = ["tie-break rules: " + "; then ".join(ranking.rules)]
    for e in ranking.entries:
        lines.append(f"{e.position:>4}. {e.proposal_id}  {e.score:.3f}  ({e.reviews} reviews, {e.gpu_hours:.6g} h)")
        if e.explanation:
            lines.append(f"      {e.explanation}")
    return lines


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


def conflicts(proposal: ProposalProfile, reviewer: Reviewer, rules: ConflictRules = NO_RULES) -> tuple[str, ...]:
    """Every reason the reviewer may not review the proposal (empty: free of conflict)."""
    reasons = []
    if proposal.organisation.strip() and _norm(proposal.organisation) == _norm(reviewer.organisation):
        reasons.append(f"same organisation ({reviewer.organisation})")
    if _norm(reviewer.name) in proposal.people or _norm(reviewer.id) in proposal.people:
        reasons.append(f"{reviewer.name} is named in the proposal")
    if rules.same_country and proposal.country.strip() and _norm(proposal.country) == _norm(reviewer.country):
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
