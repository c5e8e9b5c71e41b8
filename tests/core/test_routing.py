"""Routing accepted projects to factories and machines: the fit of a pair, the program, its proofs by brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput
from aifactory.core.routing import MAX_FIT, Project, Target, evaluate, fit, report, route, sector_match
from aifactory.core.routing import estimate as routing_estimate


def target(machine, *, gpu="A100", memory=64.0, capacity=1e6, sectors=None, country="IT", partners=(), total=1000,
           factory=None):
    return Target(machine=machine, name=machine.capitalize(), factory=factory or f"{machine}-aif",
                  factory_name=f"{machine.capitalize()} AIF", sectors=sectors, gpu_model=gpu, gpu_memory_gb=memory,
                  total_gpus=total, capacity_gpu_hours=capacity, country=country, partner_countries=partners)


def project(pid, *, sector="health", gpu="A100", gpus=8, unsharded=16.0, sharded=2.0, hours=1000.0, country="DE",
            preferred=None, allowed=None):
    return Project(id=pid, sector=sector, gpu_model=gpu, gpus=gpus, memory_unsharded_gb=unsharded,
                   memory_sharded_gb=sharded, gpu_hours=hours, country=country, preferred=preferred, allowed=allowed)


@pytest.mark.parametrize(("mine", "theirs", "matched"), [
    ("health", ["health and life sciences"], "health and life sciences"),
    ("Digital Health", ["health"], "health"),
    ("agrifood", ["agriculture", "agrifood"], "agrifood"),
    ("finance", ["manufacturing"], None),
    ("", ["health"], None),
    ("IT", ["IT and cybersecurity"], "IT and cybersecurity"),
])
def test_sector_match(mine, theirs, matched):
    assert sector_match(mine, theirs) == matched


def test_the_fit_of_a_pair_and_its_reasons():
    pf = fit(project("p", preferred="leonardo", country="IT"), target("leonardo", sectors=("health",)))
    assert pf.possible
    assert pf.parts["sector"] == 1 and pf.parts["memory"] == 1 and pf.parts["country"] == 1
    assert pf.parts["preferred"] == 1 and 0 < pf.parts["room"] < 1
    assert any("specialises in 'health'" in r for r in pf.reasons)
    sharded = fit(project("p", unsharded=100.0, sharded=20.0), target("vega", memory=40.0))
    assert sharded.parts["memory"] == 0.5 and "only fully sharded" in " ".join(sharded.reasons)
    partner = fit(project("p", country="PT"), target("mn5", country="ES", partners=("PT",)))
    assert partner.parts["country"] == 0.5


@pytest.mark.parametrize(("change", "words"), [
    ({"gpu": "H100"}, "offers the A100, not the H100"),
    ({"sharded": 80.0}, "even fully sharded"),
    ({"hours": 2e6}, "can take"),
    ({"gpus": 5000}, "GPUs, 5,000 asked for"),
    ({"allowed": frozenset({"lumi"})}, "not one of the machines"),
])
def test_a_pair_that_cannot_be_says_why(change, words):
    pf = fit(project("p", **change), target("leonardo"))
    assert not pf.possible
    assert any(words in b for b in pf.blocks), pf.blocks


def test_sector_specialisation_decides_between_equal_machines():
    projects = [project("clinic", sector="health"), project("farm", sector="agrifood")]
    targets = [target("leonardo", sectors=("agrifood", "manufacturing")), target("jupiter", sectors=("health",),
                                                                                  country="DE")]
    result = route(projects, targets)
    assert result.machine_of("clinic") == "jupiter" and result.machine_of("farm") == "leonardo"
    assert result.status == "optimal" and not result.unrouted
    assert "specialises in 'health'" in " ".join(result.routes[0].reasons)
    assert any("->" in line for line in report(result))


def test_capacity_is_shared_and_as_many_as_possible_are_routed():
    # a greedy by fit would give the big machine to 'a' (better fit) and leave 'b' out
    projects = [project("a", hours=600, sector="health"), project("b", hours=900, sector="energy")]
    targets = [target("big", capacity=1000, sectors=("health",)), target("small", capacity=700)]
    result = route(projects, targets)
    assert {r.project: r.machine for r in result.routes} == {"a": "small", "b": "big"}
    assert result.use == {"big": 900, "small": 600}


def test_a_project_left_out_carries_the_reason_per_machine():
    projects = [project("a", hours=800), project("b", hours=800)]
    result = route(projects, [target("only", capacity=1000)])
    assert len(result.routes) == 1
    (left, why), = result.unrouted.items()
    assert "remaining capacity went to" in why[0]
    alone = route([project("x", gpu="GH200")], [target("only")])
    assert "offers the A100" in alone.unrouted["x"][0]


def test_evaluate_checks_an_override():
    projects = [project("a", hours=600), project("b", hours=600)]
    targets = [target("m1", capacity=1000), target("m2", capacity=1000, gpu="H100")]
    assert evaluate(projects, targets, {"a": "m1"}).feasible
    both = evaluate(projects, targets, {"a": "m1", "b": "m1"})
    assert not both.feasible and "capacity 1,000" in both.violations[0]
    wrong = evaluate(projects, targets, {"a": "m2"})
    assert "offers the H100" in wrong.violations[0]
    assert not evaluate(projects, targets, {"zz": "m1"}).feasible


def test_bad_input():
    with pytest.raises(InvalidInput):
        project("p", hours=0)
    with pytest.raises(InvalidInput):
        project("p", gpus=0)
    with pytest.raises(InvalidInput):
        route([project("p"), project("p")], [target("m")])
    with pytest.raises(InvalidInput):
        target("m", capacity=-1)
    assert routing_estimate([project("p"), project("q", gpu="MI250X")], [target("m")]).without_pair == ("q",)


def _brute_force(projects, targets):
    """Best (count, fit) over every routing, by enumeration."""
    best = (0, 0.0)
    options = [None] + [t.machine for t in targets]
    for choice in itertools.product(options, repeat=len(projects)):
        mapping = {p.id: m for p, m in zip(projects, choice, strict=True) if m is not None}
        ev = evaluate(projects, targets, mapping)
        if ev.feasible:
            best = max(best, (len(mapping), round(ev.total_fit, 9)))
    return best


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_the_program_routes_as_many_as_possible_with_the_best_fit(data):
    n_p = data.draw(st.integers(1, 5))
    n_t = data.draw(st.integers(1, 3))
    sectors = ["health", "energy", "agrifood"]
    targets = [
        target(f"m{j}", capacity=data.draw(st.sampled_from([500.0, 1000.0, 2000.0])),
               gpu=data.draw(st.sampled_from(["A100", "H100"])), memory=data.draw(st.sampled_from([40.0, 80.0])),
               sectors=(data.draw(st.sampled_from(sectors)),), country=data.draw(st.sampled_from(["DE", "IT"])))
        for j in range(n_t)
    ]
    projects = [
        project(f"p{i}", hours=data.draw(st.sampled_from([300.0, 600.0, 900.0])),
                gpu=data.draw(st.sampled_from(["A100", "H100"])), sector=data.draw(st.sampled_from(sectors)),
                unsharded=data.draw(st.sampled_from([16.0, 60.0])), sharded=data.draw(st.sampled_from([8.0, 50.0])),
                country=data.draw(st.sampled_from(["DE", "IT", "FR"])))
        for i in range(n_p)
    ]
    result = route(projects, targets)
    mapping = {r.project: r.machine for r in result.routes}
    ev = evaluate(projects, targets, mapping)
    assert ev.feasible
    assert ev.total_fit <= MAX_FIT * len(mapping) + 1e-9
    assert (len(mapping), round(ev.total_fit, 9)) == pytest.approx(_brute_force(projects, targets), abs=1e-6)
