"""`aifactory bench selection`: a small random call, solved and compared with the greedy."""

import json

import pytest

from aifactory.cli.bench_selection import generate
from aifactory.cli.main import main
from aifactory.core.selection import Objective, evaluate


def run_json(capsys, *args):
    rc = main(["bench", "selection", *args, "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


@pytest.mark.parametrize("objective", ["score", "score_gpu_hours"])
def test_json_report_is_complete_and_consistent(capsys, objective):
    report = run_json(capsys, "--proposals", "60", "--machines", "5", "--seed", "7", "--objective", objective)
    assert report["proposals"] == 60 and report["machines"] == 5 and report["objective"] == objective
    opt, base = report["optimum"], report["greedy"]
    for field in ("value", "winners", "status", "proven_optimal", "gap", "bound", "seconds", "use", "funded"):
        assert field in opt and field in base
    assert opt["status"] == "optimal" and opt["proven_optimal"] is True and opt["gap"] <= 1e-6
    assert opt["bound"] >= opt["value"] - 1e-6
    assert base["gap"] is None and base["status"] == "greedy"
    assert opt["value"] >= base["value"] - 1e-9
    assert report["ratio"] == pytest.approx(opt["value"] / base["value"])
    assert report["difference"] == pytest.approx(opt["value"] - base["value"])
    for result in (opt, base):
        assert result["winners"] == len(result["funded"]) <= report["winner_limit"]
        for machine, used in result["use"].items():
            assert used <= report["budgets"][machine] + 1e-6
    # the funded sets are feasible and worth what the report says on the regenerated instance
    proposals, call = generate(60, 5, 7, Objective(objective))
    for result in (opt, base):
        ev = evaluate(proposals, call, result["funded"])
        assert ev.feasible and ev.value == pytest.approx(result["value"])


def test_same_seed_same_instance_and_answer(capsys):
    first = run_json(capsys, "--proposals", "40", "--seed", "3")
    again = run_json(capsys, "--proposals", "40", "--seed", "3")
    other = run_json(capsys, "--proposals", "40", "--seed", "4")
    assert first["optimum"]["funded"] == again["optimum"]["funded"]
    assert first["budgets"] == again["budgets"]
    assert first["budgets"] != other["budgets"]


def test_generated_instance_is_realistic():
    proposals, call = generate(2000, 20, 1)
    sizes = [len(p.hours) for p in proposals]
    assert sum(1 for s in sizes if s <= 2) / len(sizes) > 0.8
    hours = [h for p in proposals for h in p.hours.values()]
    assert 1e3 <= min(hours) and max(hours) <= 2e6
    demand = sum(hours)
    assert sum(call.budgets.values()) < 0.5 * demand  # only a fraction fits
    assert call.winner_limit == 400 and call.threshold == 3.0


def test_text_report(capsys):
    assert main(["bench", "selection", "--proposals", "30", "--machines", "3"]) == 0
    out = capsys.readouterr().out
    assert "optimum:" in out and "greedy:" in out and "optimum / greedy" in out and "machine-01" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--proposals", "0"], "--proposals must be at least 1"),
        (["--proposals", "-3"], "--proposals must be at least 1"),
        (["--proposals", "10", "--machines", "0"], "--machines must be at least 1"),
        (["--proposals", "10", "--gap", "-1"], "--gap must be >= 0"),
        (["--proposals", "10", "--time-limit", "0"], "--time-limit > 0"),
    ],
)
def test_refusals_exit_2_with_a_message(capsys, args, words):
    assert main(["bench", "selection", *args]) == 2
    out = capsys.readouterr()
    assert words in out.err and out.out == ""


def test_unknown_objective_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", "selection", "--proposals", "10", "--objective", "gpu"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
