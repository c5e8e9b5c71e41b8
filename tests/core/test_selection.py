import itertools
import math
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifactory.core import selection
from aifactory.core.exceptions import InvalidInput, SolverError
from aifactory.core.selection import (
    Objective,
    Proposal,
    SelectionCall,
    compare,
    estimate,
    evaluate,
    greedy,
    report,
    solve,
    value_of,
)

# --- hand-worked cases ---------------------------------------------------------------------------------------------


def knapsack_trap():
    """Budget 10: the best-ranked proposal (6 h) blocks the two next ones (5 h each) that fit together."""
    proposals = [
        Proposal("p1", 5.0, {"LUMI": 6}),
        Proposal("p2", 4.0, {"LUMI": 5}),
        Proposal("p3", 4.0, {"LUMI": 5}),
    ]
    return proposals, SelectionCall(budgets={"LUMI": 10})


def test_the_optimum_funds_the_pair_the_greedy_misses():
    proposals, call = knapsack_trap()
    opt = solve(proposals, call)
    base = greedy(proposals, call)
    assert opt.funded == ("p2", "p3")
    assert opt.value == pytest.approx(8.0)
    assert opt.use["LUMI"] == pytest.approx(10.0)
    assert opt.proven_optimal and opt.status == "optimal" and opt.gap == pytest.approx(0.0, abs=1e-9)
    assert base.funded == ("p1",)
    assert base.value == pytest.approx(5.0)
    assert base.gap is None and base.bound is None and not base.proven_optimal and base.status == "greedy"
    both = compare(proposals, call)
    assert both.ratio == pytest.approx(8.0 / 5.0)
    assert both.difference == pytest.approx(3.0)


def test_winner_limit_of_one_funds_the_best_single_proposal():
    proposals, call = knapsack_trap()
    call = SelectionCall(budgets=call.budgets, winner_limit=1)
    assert solve(proposals, call).funded == ("p1",)
    assert greedy(proposals, call).funded == ("p1",)


def test_threshold_is_never_crossed_even_when_budget_is_left():
    proposals, _ = knapsack_trap()
    call = SelectionCall(budgets={"LUMI": 100}, threshold=4.5)
    assert solve(proposals, call).funded == ("p1",)
    assert greedy(proposals, call).funded == ("p1",)
    assert estimate(proposals, call).below_threshold == 2


def test_a_proposal_on_two_machines_is_funded_for_both_or_neither():
    proposals = [
        Proposal("both", 5.0, {"LUMI": 6, "Leonardo": 6}),
        Proposal("lumi", 3.0, {"LUMI": 5}),
        Proposal("leo", 3.0, {"Leonardo": 5}),
    ]
    call = SelectionCall(budgets={"LUMI": 10, "Leonardo": 10})
    # "both" (5) blocks the two others (3 + 3 = 6): the optimum funds the two single-machine proposals.
    opt = solve(proposals, call)
    assert opt.funded == ("lumi", "leo")
    assert dict(opt.use) == {"LUMI": 5.0, "Leonardo": 5.0}
    assert greedy(proposals, call).funded == ("both",)


def test_score_times_gpu_hours_prefers_the_large_proposal():
    proposals = [Proposal("small", 5.0, {"LUMI": 2}), Proposal("large", 4.0, {"LUMI": 9})]
    call = SelectionCall(budgets={"LUMI": 10}, objective=Objective.SCORE_GPU_HOURS)
    opt = solve(proposals, call)
    assert opt.funded == ("large",)
    assert opt.value == pytest.approx(36.0)
    assert solve(proposals, SelectionCall(budgets={"LUMI": 10})).funded == ("small",)


def test_weight_tips_the_choice():
    proposals = [Proposal("a", 4.0, {"LUMI": 8}), Proposal("b", 3.5, {"LUMI": 8}, weight=1.2)]
    call = SelectionCall(budgets={"LUMI": 10})
    assert solve(proposals, call).funded == ("b",)  # 3.5 * 1.2 = 4.2 > 4.0
    assert greedy(proposals, call).funded == ("a",)  # panels walk by score


def test_requests_that_fill_the_budget_exactly_are_funded():
    proposals = [Proposal("a", 3.0, {"LUMI": 60.0}), Proposal("b", 3.0, {"LUMI": 40.0})]
    call = SelectionCall(budgets={"LUMI": 100.0})
    assert solve(proposals, call).funded == ("a", "b")
    assert greedy(proposals, call).funded == ("a", "b")


def test_a_proposal_larger_than_the_budget_is_left_out_before_solving():
    proposals = [Proposal("huge", 5.0, {"LUMI": 11}), Proposal("ok", 1.0, {"LUMI": 3})]
    call = SelectionCall(budgets={"LUMI": 10})
    est = estimate(proposals, call)
    assert est.too_large == 1 and est.candidates == 1 and est.binding_budgets == () and not est.limit_binds
    assert est.upper_bound == pytest.approx(1.0)
    assert solve(proposals, call).funded == ("ok",)


def test_no_proposal_gives_an_empty_proven_selection():
    res = solve([], SelectionCall(budgets={"LUMI": 10}))
    assert res.funded == () and res.value == 0 and res.proven_optimal and res.use["LUMI"] == 0


def test_evaluate_names_every_broken_rule():
    proposals, _ = knapsack_trap()
    call = SelectionCall(budgets={"LUMI": 10}, winner_limit=2, threshold=4.5)
    ev = evaluate(proposals, call, ["p1", "p2", "p3", "ghost"])
    assert not ev.feasible
    text = " | ".join(ev.violations)
    assert "ghost" in text and "under the threshold" in text and "LUMI" in text and "winner limit 2" in text
    assert evaluate(proposals, call, ["p1"]).feasible


def test_report_gives_both_totals_and_the_ratio():
    proposals, call = knapsack_trap()
    lines = report(compare(proposals, call))
    text = "\n".join(lines)
    assert "optimum: 8" in text and "greedy:  5" in text and "1.600000" in text and "proven optimal" in text


def test_solver_without_an_answer_raises_solver_error(monkeypatch):
    fake = SimpleNamespace(status=4, x=None, message="numerical trouble", mip_dual_bound=None)
    monkeypatch.setattr(selection, "milp", lambda *a, **k: fake)
    proposals, call = knapsack_trap()
    with pytest.raises(SolverError) as info:
        solve(proposals, call)
    assert info.value.status == "error"


def test_a_budget_overrun_within_solver_tolerance_is_repaired(monkeypatch):
    proposals = [Proposal("a", 3.0, {"LUMI": 6.0}), Proposal("b", 2.0, {"LUMI": 4.00001})]
    call = SelectionCall(budgets={"LUMI": 10.0})
    fake = SimpleNamespace(status=0, x=[1.0, 1.0], message="", mip_dual_bound=-1.0)  # scaled: 5/3 really
    monkeypatch.setattr(selection, "milp", lambda *a, **k: fake)
    res = solve(proposals, call)
    assert res.funded == ("a",) and evaluate(proposals, call, res.funded).feasible


# --- validation ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Proposal("p", 4.0, {"LUMI": -1}), "proposal p.hours[LUMI]"),
        (lambda: Proposal("p", math.nan, {"LUMI": 1}), "proposal p.score"),
        (lambda: Proposal("p", math.inf, {"LUMI": 1}), "proposal p.score"),
        (lambda: Proposal("p", 4.0, {"LUMI": math.nan}), "proposal p.hours[LUMI]"),
        (lambda: Proposal("p", 4.0, {}), "proposal p.hours"),
        (lambda: Proposal("p", 4.0, {"LUMI": 1}, weight=0), "proposal p.weight"),
        (lambda: Proposal("", 4.0, {"LUMI": 1}), "proposal.id"),
        (lambda: Proposal("p", "4", {"LUMI": 1}), "proposal p.score"),
        (lambda: SelectionCall(budgets={"LUMI": -5}), "call.budgets[LUMI]"),
        (lambda: SelectionCall(budgets={"LUMI": 5}, winner_limit=-1), "call.winner_limit"),
        (lambda: SelectionCall(budgets={"LUMI": 5}, winner_limit=True), "call.winner_limit"),
        (lambda: SelectionCall(budgets={"LUMI": 5}, threshold=math.nan), "call.threshold"),
        (lambda: SelectionCall(budgets={"LUMI": 5}, objective="gpu"), "call.objective"),
    ],
)
def test_bad_values_are_refused_naming_the_field(build, field):
    with pytest.raises(InvalidInput) as info:
        build()
    assert info.value.field == field


def test_a_request_for_a_machine_without_budget_is_refused():
    proposals = [Proposal("p", 4.0, {"JUPITER": 5})]
    for run in (solve, greedy, estimate):
        with pytest.raises(InvalidInput) as info:
            run(proposals, SelectionCall(budgets={"LUMI": 10}))
        assert info.value.field == "proposal p.hours[JUPITER]"


def test_duplicate_ids_and_bad_solver_options_are_refused():
    proposals = [Proposal("p", 4.0, {"LUMI": 5}), Proposal("p", 3.0, {"LUMI": 5})]
    with pytest.raises(InvalidInput, match="twice"):
        solve(proposals, SelectionCall(budgets={"LUMI": 10}))
    with pytest.raises(InvalidInput) as info:
        solve([], SelectionCall(budgets={"LUMI": 10}), rel_gap=-0.1)
    assert info.value.field == "rel_gap"
    with pytest.raises(InvalidInput) as info:
        solve([], SelectionCall(budgets={"LUMI": 10}), time_limit=0)
    assert info.value.field == "time_limit"


# --- invariants: brute force on small random instances -------------------------------------------------------------

MACHINES = ("LUMI", "Leonardo", "JUPITER")


@st.composite
def instances(draw):
    machines = MACHINES[: draw(st.integers(1, 3))]
    n = draw(st.integers(0, 9))
    proposals = []
    for i in range(n):
        asked = draw(st.lists(st.sampled_from(machines), min_size=1, max_size=len(machines), unique=True))
        hours = {m: float(draw(st.integers(0, 40))) for m in asked}
        score = draw(st.floats(0, 5, allow_nan=False).map(lambda x: round(x, 2)))
        weight = draw(st.sampled_from([1.0, 1.0, 1.2, 0.5]))
        proposals.append(Proposal(f"p{i}", score, hours, weight))
    budgets = {m: float(draw(st.integers(0, 80))) for m in machines}
    call = SelectionCall(
        budgets=budgets,
        winner_limit=draw(st.none() | st.integers(0, 6)),
        threshold=draw(st.none() | st.sampled_from([1.0, 2.5, 3.0])),
        objective=draw(st.sampled_from(list(Objective))),
    )
    return proposals, call


def brute_force(proposals, call):
    best = 0.0
    for size in range(len(proposals) + 1):
        for subset in itertools.combinations(proposals, size):
            ev = evaluate(proposals, call, [p.id for p in subset])
            if ev.feasible:
                best = max(best, ev.value)
    return best


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_milp_equals_brute_force_and_beats_greedy(instance):
    proposals, call = instance
    opt = solve(proposals, call)
    base = greedy(proposals, call)
    best = brute_force(proposals, call)
    # HiGHS proves optimality to its absolute gap ABS_GAP on the objective scaled to the largest value
    slack = selection.ABS_GAP * max((value_of(p, call.objective) for p in proposals), default=0.0) + 1e-9
    assert best - slack <= opt.value <= best + 1e-9
    assert opt.proven_optimal
    assert evaluate(proposals, call, opt.funded).feasible
    assert evaluate(proposals, call, base.funded).feasible
    assert opt.value >= base.value - 1e-9
    for result in (opt, base):
        if call.winner_limit is not None:
            assert result.winners <= call.winner_limit
        for pid in result.funded:
            proposal = next(p for p in proposals if p.id == pid)
            assert call.threshold is None or proposal.score >= call.threshold
        for machine, used in result.use.items():
            assert used <= call.budgets[machine] + selection.BUDGET_TOLERANCE
        assert result.value == pytest.approx(
            sum(value_of(p, call.objective) for p in proposals if p.id in result.funded)
        )


@settings(max_examples=40, deadline=None)
@given(instances())
def test_greedy_walks_by_score_and_stops_only_for_a_reason(instance):
    """Every eligible proposal the greedy leaves out either did not fit when its turn came or came after the limit."""
    proposals, call = instance
    base = greedy(proposals, call)
    remaining = dict(call.budgets)
    funded = set(base.funded)
    count = 0
    for p in sorted(proposals, key=lambda p: -p.score):
        if call.threshold is not None and p.score < call.threshold:
            assert p.id not in funded
            continue
        fits = all(h <= remaining[m] + selection.BUDGET_TOLERANCE for m, h in p.hours.items())
        room = call.winner_limit is None or count < call.winner_limit
        assert (p.id in funded) == (fits and room)
        if p.id in funded:
            count += 1
            for m, h in p.hours.items():
                remaining[m] -= h
