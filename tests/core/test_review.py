import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput, SolverError
from aifactory.core.review import (
    SCORE_DECIMALS,
    Candidate,
    ConflictRules,
    Criterion,
    InfeasibleAssignment,
    ProposalProfile,
    Review,
    Reviewer,
    Rubric,
    assign,
    conflicts,
    estimate_assignment,
    evaluate_assignment,
    jaccard,
    rank,
    report_assignment,
    report_ranking,
    score_proposals,
    score_review,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUBRIC = Rubric((Criterion("excellence", 2.0), Criterion("impact", 1.0)))

# --- rubric and scores ---------------------------------------------------------------------------------------------


def test_a_review_score_is_the_weighted_mean_of_its_marks():
    rubric = Rubric((Criterion("excellence", 0.5), Criterion("impact", 0.3), Criterion("implementation", 0.2)))
    review = Review("p1", "r1", {"excellence": 4, "impact": 3, "implementation": 5})
    assert score_review(rubric, review) == pytest.approx(0.5 * 4 + 0.3 * 3 + 0.2 * 5)  # 3.9


def test_a_proposal_score_is_the_mean_over_its_reviews():
    reviews = [Review("p1", "r1", {"excellence": 4, "impact": 1}), Review("p1", "r2", {"excellence": 2, "impact": 4})]
    scores = score_proposals(RUBRIC, reviews)
    # review 1: (8 + 1) / 3 = 3; review 2: (4 + 4) / 3 = 8/3; mean 17/6
    assert scores["p1"].score == pytest.approx(17 / 6)
    assert dict(scores["p1"].criteria) == {"excellence": 3.0, "impact": 2.5}
    assert scores["p1"].reviews == 2


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Criterion("x", 0), "criterion x.weight"),
        (lambda: Criterion("x", -1), "criterion x.weight"),
        (lambda: Criterion("x", math.nan), "criterion x.weight"),
        (lambda: Criterion("x", 1, low=5, high=5), "criterion x"),
        (lambda: Criterion("", 1), "criterion.name"),
        (lambda: Rubric(()), "rubric.criteria"),
        (lambda: Rubric((Criterion("x", 1), Criterion("x", 2))), "rubric.criteria"),
    ],
)
def test_bad_rubrics_are_refused(build, field):
    with pytest.raises(InvalidInput) as info:
        build()
    assert info.value.field == field


@pytest.mark.parametrize(
    ("marks", "field", "words"),
    [
        ({"excellence": 6, "impact": 3}, "review r1/p1.marks[excellence]", "outside the scale 0..5"),
        ({"excellence": -0.5, "impact": 3}, "review r1/p1.marks[excellence]", "outside"),
        ({"excellence": 4, "impact": math.nan}, "review r1/p1.marks[impact]", "finite"),
        ({"excellence": 4}, "review r1/p1.marks", "no mark for 'impact'"),
        ({"excellence": 4, "impact": 3, "style": 1}, "review r1/p1.marks", "unknown criteria 'style'"),
    ],
)
def test_marks_must_fit_the_rubric(marks, field, words):
    with pytest.raises(InvalidInput) as info:
        score_review(RUBRIC, Review("p1", "r1", marks))
    assert info.value.field == field
    assert words in info.value.message


def test_a_reviewer_reviews_a_proposal_once():
    review = Review("p1", "r1", {"excellence": 4, "impact": 3})
    with pytest.raises(InvalidInput, match="twice"):
        score_proposals(RUBRIC, [review, review])


# --- ranking -------------------------------------------------------------------------------------------------------


def review(pid, reviewer, excellence, impact):
    return Review(pid, reviewer, {"excellence": excellence, "impact": impact})


def test_every_tie_break_rule_in_turn():
    candidates = [
        Candidate("B", 100, T0),
        Candidate("A", 100, T0),
        Candidate("D", 500, T0),
        Candidate("C", 100, T0),
        Candidate("F", 100, T0 + timedelta(hours=1)),
        Candidate("E", 100, T0),
        Candidate("H", 100, T0),
        Candidate("G", 100, T0),
        Candidate("top", 10**6, T0 + timedelta(days=9)),
    ]
    reviews = [
        review("top", "r1", 5, 5),
        review("A", "r1", 4, 4),  # (8 + 4) / 3 = 4.0
        review("B", "r1", 3.5, 5),  # (7 + 5) / 3 = 4.0, lower on the heavier criterion
        review("C", "r1", 3, 3),
        review("D", "r1", 3, 3),  # same marks as C, more GPU-hours
        review("E", "r1", 2, 2),
        review("F", "r1", 2, 2),  # same as E, submitted later
        review("G", "r1", 1, 1),
        review("H", "r1", 1, 1),  # same as G in every way
    ]
    ranking = rank(RUBRIC, reviews, candidates)
    assert ranking.ids == ("top", "A", "B", "C", "D", "E", "F", "G", "H")
    by_id = {e.proposal_id: e for e in ranking.entries}
    assert [e.position for e in ranking.entries] == list(range(1, 10))
    assert by_id["top"].decided_by is None and by_id["A"].decided_by is None  # no tie with the entry above
    assert by_id["C"].decided_by is None and by_id["E"].decided_by is None and by_id["G"].decided_by is None
    assert by_id["B"].decided_by == "criterion:excellence"
    assert "A ranks above B" in by_id["B"].explanation and "'excellence'" in by_id["B"].explanation
    assert by_id["D"].decided_by == "gpu_hours" and "fewer GPU-hours" in by_id["D"].explanation
    assert by_id["F"].decided_by == "submitted" and "earlier" in by_id["F"].explanation
    assert by_id["H"].decided_by == "id" and "proposal id" in by_id["H"].explanation
    assert ranking.rules[0] == "higher score" and ranking.rules[-1] == "proposal id in alphabetical order"
    text = "\n".join(report_ranking(ranking))
    assert "A ranks above B" in text


def test_scores_equal_up_to_rounding_tie():
    rubric = Rubric((Criterion("a", 1), Criterion("b", 1), Criterion("c", 1)))
    first = Review("x", "r", {"a": 0.1, "b": 0.3, "c": 0.7})
    second = Review("y", "r", {"a": 0.1, "b": 0.7, "c": 0.3})
    assert score_review(rubric, first) != score_review(rubric, second)  # 0.36666666666666670 and ...664
    ranking = rank(rubric, [first, second], [Candidate("x", 1, T0), Candidate("y", 1, T0)])
    assert ranking.ids == ("y", "x")  # the tie goes to criterion b, where y is higher
    assert ranking.entries[1].decided_by == "criterion:b"


def test_ranking_refuses_unreviewed_candidates_and_strangers():
    with pytest.raises(InvalidInput, match="no review for B"):
        rank(RUBRIC, [review("A", "r1", 1, 1)], [Candidate("A", 1, T0), Candidate("B", 1, T0)])
    with pytest.raises(InvalidInput, match="not candidates: Z"):
        rank(RUBRIC, [review("A", "r1", 1, 1), review("Z", "r1", 1, 1)], [Candidate("A", 1, T0)])
    with pytest.raises(InvalidInput) as info:
        Candidate("A", 1, datetime(2026, 1, 1))  # no time zone
    assert info.value.field == "candidate A.submitted"
    with pytest.raises(InvalidInput) as info:
        Candidate("A", -1, T0)
    assert info.value.field == "candidate A.gpu_hours"


@st.composite
def panels(draw):
    weights = draw(st.lists(st.sampled_from([1.0, 2.0, 3.0]), min_size=1, max_size=3))
    rubric = Rubric(tuple(Criterion(f"c{i}", w) for i, w in enumerate(weights)))
    n = draw(st.integers(1, 8))
    marks = st.sampled_from([0, 1, 2, 3, 4, 5, 2.5])
    candidates, reviews = [], []
    for i in range(n):
        candidates.append(
            Candidate(f"p{i}", draw(st.sampled_from([10, 20])), T0 + timedelta(days=draw(st.integers(0, 1))))
        )
        for r in range(draw(st.integers(1, 3))):
            reviews.append(Review(f"p{i}", f"r{r}", {c.name: draw(marks) for c in rubric.criteria}))
    return rubric, reviews, candidates


@settings(max_examples=150, deadline=None)
@given(panels())
def test_ranking_is_a_permutation_ordered_by_the_documented_rules(panel):
    rubric, reviews, candidates = panel
    ranking = rank(rubric, reviews, candidates)
    assert sorted(ranking.ids) == sorted(c.id for c in candidates)
    by_id = {c.id: c for c in candidates}
    heaviest = sorted(rubric.criteria, key=lambda c: -c.weight)
    for above, below in itertools.pairwise(ranking.entries):
        sa, sb = round(above.score, SCORE_DECIMALS), round(below.score, SCORE_DECIMALS)
        assert sa >= sb
        if sa > sb:
            assert below.decided_by is None and below.explanation is None
            continue
        assert below.explanation.startswith(f"{above.proposal_id} ranks above {below.proposal_id}")
        # every rule before the deciding one is equal, and the deciding one favours the entry above
        pairs = [
            (f"criterion:{c.name}", -round(above.criteria[c.name], 9), -round(below.criteria[c.name], 9))
            for c in heaviest
        ]
        ca, cb = by_id[above.proposal_id], by_id[below.proposal_id]
        pairs += [("gpu_hours", ca.gpu_hours, cb.gpu_hours), ("submitted", ca.submitted, cb.submitted)]
        pairs += [("id", ca.id, cb.id)]
        decided = next((rule, a, b) for rule, a, b in pairs if a != b)
        assert below.decided_by == decided[0]
        assert decided[1] < decided[2]


# --- conflicts -----------------------------------------------------------------------------------------------------


def reviewer(rid, keywords, org="Univ", country="IT", cap=5, name=None):
    return Reviewer(rid, name or f"Dr {rid}", org, country, frozenset(keywords), cap)


def proposal(pid, keywords, org="Startup", country="FR", people=()):
    return ProposalProfile(pid, frozenset(keywords), org, frozenset(people), country)


def test_every_kind_of_conflict_is_found_with_its_reason():
    p = proposal("P", ["nlp"], org="Aleph Labs", country="DE", people=["ada lovelace"])
    assert conflicts(p, reviewer("r1", [], org=" aleph  LABS")) == ("same organisation ( aleph  LABS)",)
    assert conflicts(p, reviewer("r2", [], name="Ada  Lovelace")) == ("Ada  Lovelace is named in the proposal",)
    assert conflicts(p, reviewer("r3", [], country="DE")) == ()
    assert conflicts(p, reviewer("r3", [], country="de"), ConflictRules(same_country=True)) == ("same country (de)",)
    uk = proposal("U", [], country="UK")  # the EU's alias and the ISO code name one country
    assert conflicts(uk, reviewer("r6", [], country="GB"), ConflictRules(same_country=True)) == ("same country (GB)",)
    el = proposal("E", [], country="gr")
    assert conflicts(el, reviewer("r7", [], country="EL"), ConflictRules(same_country=True)) == ("same country (EL)",)
    assert conflicts(p, reviewer("r4", []), ConflictRules(declared=frozenset({("r4", "P")}))) == ("conflict declared",)
    assert conflicts(proposal("Q", [], org=""), reviewer("r5", [], org="")) == ()  # unknown organisations never match


def test_jaccard():
    assert jaccard(frozenset({"a", "b"}), frozenset({"b", "c"})) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset()) == 0.0


# --- assignment ----------------------------------------------------------------------------------------------------


def test_balance_first_then_expertise_and_the_trade_off_when_asked():
    proposals = [proposal("P1", ["nlp"]), proposal("P2", ["nlp"])]
    reviewers = [reviewer("R1", ["nlp"], cap=2), reviewer("R2", ["vision"], cap=2)]
    balanced = assign(proposals, reviewers, k=1)
    assert balanced.max_load == 1 and dict(balanced.load) == {"R1": 1, "R2": 1}
    assert balanced.total_match == pytest.approx(1.0)
    assert balanced.status == "optimal"
    # with a unit of largest load worth only 0.1 of match, both go to the expert
    expert = assign(proposals, reviewers, k=1, load_weight=0.1)
    assert expert.reviewers_of == {"P1": ("R1",), "P2": ("R1",)}
    assert expert.max_load == 2 and expert.total_match == pytest.approx(2.0)
    assert dict(expert.load) == {"R1": 2, "R2": 0}
    reasons = {a.reviewer_id: a.reason for a in balanced.assignments}
    assert "shares 'nlp'" in reasons["R1"] and "shares no keyword" in reasons["R2"]
    assert "largest load 1" in report_assignment(balanced)[0]


def test_conflicted_reviewers_are_never_assigned_and_caps_hold():
    proposals = [
        proposal("P1", ["llm", "nlp"], org="Mistral", people=["Dr R1"]),
        proposal("P2", ["llm"], org="Aleph"),
        proposal("P3", ["vision"], country="DE"),
    ]
    reviewers = [
        reviewer("R1", ["llm", "nlp"]),  # named in P1
        reviewer("R2", ["llm"], org="Aleph"),  # same organisation as P2
        reviewer("R3", ["vision"], country="DE"),  # same country as P3
        reviewer("R4", ["llm"]),
        reviewer("R5", ["vision", "llm"], cap=1),
    ]
    rules = ConflictRules(same_country=True, declared=frozenset({("R4", "P3")}))
    res = assign(proposals, reviewers, k=2, rules=rules)
    pairs = {(a.proposal_id, a.reviewer_id) for a in res.assignments}
    assert not pairs & {("P1", "R1"), ("P2", "R2"), ("P3", "R3"), ("P3", "R4")}
    assert all(len(v) == 2 for v in res.reviewers_of.values())
    assert res.load["R5"] <= 1
    kept_apart = {(c.proposal_id, c.reviewer_id): c.reasons for c in res.conflicts}
    assert kept_apart[("P3", "R4")] == ("conflict declared",)
    assert kept_apart[("P3", "R3")] == ("same country (DE)",)
    assert evaluate_assignment(proposals, reviewers, pairs, k=2, rules=rules).feasible


def test_a_proposal_short_of_reviewers_is_named():
    proposals = [proposal("P1", [], org="Acme"), proposal("P2", [])]
    reviewers = [reviewer("R1", [], org="Acme"), reviewer("R2", []), reviewer("R3", [], cap=0)]
    with pytest.raises(InfeasibleAssignment) as info:
        assign(proposals, reviewers, k=2)
    assert info.value.proposals == ("P1",)
    assert isinstance(info.value, SolverError) and info.value.status == "infeasible"
    assert "P1" in info.value.message


def test_a_group_that_shares_too_few_reviewers_is_named_by_the_minimum_cut():
    proposals = [proposal("P1", [], org="Acme"), proposal("P2", [], org="Acme"), proposal("P3", [])]
    reviewers = [reviewer("R1", [], cap=1), reviewer("R2", [], org="Acme", cap=1)]
    with pytest.raises(InfeasibleAssignment) as info:
        assign(proposals, reviewers, k=1)
    assert info.value.proposals == ("P1", "P2")
    assert "need 2 reviews together" in info.value.message and "at most 1" in info.value.message


def test_estimate_and_evaluate():
    proposals = [proposal("P1", ["a"]), proposal("P2", ["b"])]
    reviewers = [reviewer("R1", ["a"], cap=2), reviewer("R2", ["b"], cap=1), reviewer("R3", [], cap=0)]
    est = estimate_assignment(proposals, reviewers, k=1)
    assert (est.pairs, est.reviews_needed, est.capacity, est.load_lower_bound) == (4, 2, 3, 1)
    ev = evaluate_assignment(proposals, reviewers, [("P1", "R2"), ("P2", "R2"), ("P2", "R9")], k=1)
    assert not ev.feasible
    assert ev.violations == (
        "(P2, R9) names an unknown proposal or reviewer",
        "R2 has 2 reviews, above the cap 1",
    )
    assert ev.max_load == 2 and ev.total_match == pytest.approx(1.0)


def test_assignment_refuses_bad_input():
    with pytest.raises(InvalidInput) as info:
        assign([], [], k=0)
    assert info.value.field == "k"
    with pytest.raises(InvalidInput) as info:
        Reviewer("R1", "Dr R1", "Org", "DE", frozenset(), -1)
    assert info.value.field == "reviewer R1.max_load"
    with pytest.raises(InvalidInput) as info:
        ProposalProfile("P1", "nlp", "Org", frozenset(), "DE")
    assert info.value.field == "proposal P1.keywords"
    with pytest.raises(InvalidInput, match="unique"):
        assign([proposal("P", []), proposal("P", [])], [reviewer("R", [])], k=1)
    with pytest.raises(InvalidInput) as info:
        assign([proposal("P", [])], [reviewer("R", [])], k=1, load_weight=-1)
    assert info.value.field == "load_weight"


VOCAB = ["llm", "nlp", "vision", "robotics", "health"]


@st.composite
def review_panels(draw):
    n_p, n_r = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    k = draw(st.integers(1, 2))
    orgs = ["A", "B", "C"]
    proposals = [
        ProposalProfile(
            f"P{i}",
            frozenset(draw(st.lists(st.sampled_from(VOCAB), max_size=3))),
            draw(st.sampled_from(orgs)),
            frozenset(draw(st.lists(st.sampled_from([f"Dr R{j}" for j in range(n_r)]), max_size=1))),
            draw(st.sampled_from(["DE", "FR"])),
        )
        for i in range(n_p)
    ]
    reviewers = [
        Reviewer(
            f"R{j}",
            f"Dr R{j}",
            draw(st.sampled_from(orgs)),
            draw(st.sampled_from(["DE", "FR", "IT"])),
            frozenset(draw(st.lists(st.sampled_from(VOCAB), max_size=3))),
            draw(st.integers(0, 3)),
        )
        for j in range(n_r)
    ]
    rules = ConflictRules(same_country=draw(st.booleans()))
    load_weight = draw(st.sampled_from([None, 0.0, 0.3, 2.0]))
    return proposals, reviewers, k, rules, load_weight


def brute_force_assignment(proposals, reviewers, k, rules, lam):
    """Best lam * largest load - total match over every feasible assignment (None if there is none)."""
    options = []
    for p in proposals:
        free = [r for r in reviewers if not conflicts(p, r, rules)]
        options.append([[(p.id, r.id) for r in combo] for combo in itertools.combinations(free, k)])
    best = None
    for choice in itertools.product(*options):
        pairs = [pair for group in choice for pair in group]
        ev = evaluate_assignment(proposals, reviewers, pairs, k=k, rules=rules)
        if ev.feasible:
            value = lam * ev.max_load - ev.total_match
            best = value if best is None else min(best, value)
    return best


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(review_panels())
def test_assignment_equals_brute_force(panel):
    proposals, reviewers, k, rules, load_weight = panel
    lam = k * len(proposals) + 1 if load_weight is None else load_weight
    best = brute_force_assignment(proposals, reviewers, k, rules, lam)
    try:
        res = assign(proposals, reviewers, k=k, rules=rules, load_weight=load_weight)
    except InfeasibleAssignment as exc:
        assert best is None
        # the proposals it names cannot be served even on their own
        named = [p for p in proposals if p.id in exc.proposals]
        assert named and brute_force_assignment(named, reviewers, k, rules, lam) is None
        return
    assert best is not None
    assert res.load_weight == lam
    assert lam * res.max_load - res.total_match == pytest.approx(best, abs=2e-6)  # HiGHS's absolute gap is 1e-6
    pairs = [(a.proposal_id, a.reviewer_id) for a in res.assignments]
    assert evaluate_assignment(proposals, reviewers, pairs, k=k, rules=rules).feasible
    assert sum(res.load.values()) == k * len(proposals)
