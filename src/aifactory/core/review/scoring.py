"""Rubric scoring and ranking with explained tie-breaks (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from aifactory.core.exceptions import InvalidInput
from aifactory.core.review._common import SCORE_DECIMALS, _number, _text

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
