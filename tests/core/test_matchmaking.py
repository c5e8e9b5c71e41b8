from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput
from aifactory.core.matchmaking import (
    DATA_KINDS,
    MODEL_TYPES,
    SECTORS,
    Challenge,
    Startup,
    evaluate,
    fit,
    match,
)


def _c(i, sector="health", models=("vision",), data=("images",), team=1):
    return Challenge(id=f"c{i}", sector=sector, models=frozenset(models), data=frozenset(data), min_team=team)


def _s(i, sectors=("health",), models=("vision",), data=("images",), team=5):
    return Startup(id=f"s{i}", sectors=frozenset(sectors), models=frozenset(models), data=frozenset(data), team=team)


def test_fit_parts_and_reasons():
    f = fit(_c(1, models=("vision", "language"), team=10), _s(1, team=3))
    assert f.parts == {"sector": 1.0, "models": 0.5, "data": 1.0, "team": 0.0}
    assert f.score == 3 + 1 + 1.5
    assert "builds 1 of 2 model types wanted (vision)" in f.reasons
    assert "team of 3 is below the 10 asked" in f.reasons


def test_unknown_vocabulary_is_refused_naming_the_field():
    with pytest.raises(InvalidInput) as exc:
        _c(1, sector="mining")
    assert exc.value.field == "sector"
    with pytest.raises(InvalidInput) as exc:
        _s(1, models=("quantum",))
    assert exc.value.field == "model_types"
    with pytest.raises(InvalidInput):
        _s(1, sectors=())


def test_the_startup_limit_spreads_a_strong_profile():
    challenges = [_c(1), _c(2)]
    star, weaker = _s(1), _s(2, data=())
    free = match(challenges, [star, weaker], per_challenge=1, per_startup=2)
    assert [f.startup for f in free.shortlists["c1"]] == ["s1"] and [f.startup for f in free.shortlists["c2"]] == ["s1"]
    spread = match(challenges, [star, weaker], per_challenge=1, per_startup=1)
    assert sorted(f.startup for v in spread.shortlists.values() for f in v) == ["s1", "s2"]
    assert spread.total < free.total


def test_a_pair_without_common_ground_is_never_proposed():
    result = match([_c(1, sector="aerospace", models=("graph",))], [_s(1, models=("speech",), data=())])
    assert result.shortlists["c1"] == ()


def test_evaluate_against_a_known_ranking():
    q = evaluate({"c": ["a", "x", "b"]}, {"c": frozenset({"a", "b"})}, k=2)
    assert (q.precision, q.recall, q.mrr) == (0.5, 0.5, 1.0)
    assert q.ndcg == pytest.approx(1 / (1 + 1 / 1.5849625007211562))


pick = st.sets(st.sampled_from(MODEL_TYPES), max_size=3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SECTORS), pick, st.sets(st.sampled_from(DATA_KINDS), max_size=3)),
                min_size=1, max_size=5),
       st.lists(st.tuples(st.sets(st.sampled_from(SECTORS), min_size=1, max_size=3), pick, st.integers(1, 20)),
                min_size=1, max_size=8),
       st.integers(1, 3), st.integers(1, 3))
def test_limits_hold_and_shortlists_are_ranked(cs, ss, k, limit):
    challenges = [Challenge(id=f"c{i}", sector=s, models=frozenset(m), data=frozenset(d)) for i, (s, m, d) in
                  enumerate(cs)]
    startups = [Startup(id=f"s{i}", sectors=frozenset(s), models=frozenset(m), data=frozenset(), team=t)
                for i, (s, m, t) in enumerate(ss)]
    result = match(challenges, startups, per_challenge=k, per_startup=limit)
    for fits in result.shortlists.values():
        assert len(fits) <= k
        assert [f.score for f in fits] == sorted((f.score for f in fits), reverse=True)
        assert all(f.possible for f in fits)
    for fits in result.proposals.values():
        assert len(fits) <= limit
