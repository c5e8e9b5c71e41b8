"""A Grand Challenge round through the API: call opened, proposals in, reviewers assigned (never in conflict),
scores in, ranking with ties explained, winners selected (the optimum and the greedy, both with totals), routed,
accepted into allocations and provisioning orders; every move in the audit logs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aifactory.core.planner import estimate_for, plan_training
from aifactory.portal.access.models import Application, Route
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.models import Assignment, CallStateChange
from tests.conftest import OrganisationFactory, UserFactory, assert_refused

pytestmark = pytest.mark.django_db

HOURS = round(estimate_for(plan_training(1e9, 2e11, gpus=16), "leonardo").gpu_hours)  # about 2,671


def call_body(**change):
    now = timezone.now()
    return {
        "title": "Large AI Grand Challenge 2027", "mode": "grand_challenge",
        "deadline": (now + timedelta(days=1)).isoformat(), "decision_by": (now + timedelta(days=30)).date().isoformat(),
        "months": 12, "winner_limit": 2, "threshold": 2.5, "objective": "score", "reviewers_per_proposal": 2,
        "same_country_conflict": True, "prize_eur": "1000000", "open_science": True,
        "criteria": [{"name": "excellence", "weight": 0.5}, {"name": "impact", "weight": 0.3},
                     {"name": "feasibility", "weight": 0.2}],
        "budgets": {"leonardo": 3 * HOURS, "lumi": 3 * HOURS, "meluxina": HOURS},
        **change,
    }


@pytest.fixture
def federation(site, make_site):
    make_site(name="lumi-a", machine_key="lumi")
    make_site(name="meluxina-a", machine_key="meluxina")


@pytest.fixture
def manager(api_for):
    person = UserFactory(username="maria")
    role_grant(user=person, role="call_manager", granted_by=None)
    return api_for(person)


def proposal(org, call_id, **change):
    return {
        "organisation": org, "title": "Open weights model", "mode": "grand_challenge", "call": call_id,
        "machine": "leonardo", "params": 1e9, "tokens": 2e11, "gpus": 16, "requested_gpu_hours": HOURS, "months": 12,
        "civil_use": True, "open_science": True, "keywords": ["llm", "multilingual"], **change,
    }


@pytest.fixture
def round_(federation, manager, api_for):
    """A call with four proposals from four organisations, and five reviewers."""
    call = manager.post("/calls", call_body()).json()
    applicants = {}
    specs = [("Nordlicht AI", "DE", ["llm", "multilingual"]), ("Pixel Farm", "IT", ["vision", "agrifood"]),
             ("Helix Bio", "FR", ["biology", "protein"]), ("Voxa", "ES", ["speech", "multilingual"])]
    for i, (name, country, words) in enumerate(specs):
        person = UserFactory(username=f"founder{i}")
        org = OrganisationFactory(name=name, country=country, members=[person], sector="health")
        client = api_for(person)
        out = client.post("/applications", proposal(org.pk, call["id"], title=f"{name} model", keywords=words))
        assert out.status_code == 201, out.content
        applicants[name] = (client, out.json())
    reviewers = {}
    pool = [("rita", "Rita Rossi", "Uni Bologna", "IT", ["vision", "llm"]),
            ("sven", "Sven Berg", "KTH", "SE", ["speech", "multilingual", "llm"]),
            ("ana", "Ana Lopez", "Helix Bio", "PT", ["biology", "protein"]),  # Helix Bio's own: in conflict
            ("kai", "Kai Meyer", "TU Wien", "AT", ["protein", "vision", "agrifood"]),
            ("lea", "Lea Dubois", "Inria", "BE", ["llm", "speech", "biology"])]
    for username, name, affiliation, country, words in pool:
        person = UserFactory(username=username)
        out = manager.post("/reviewers", {"username": username, "name": name, "affiliation": affiliation,
                                          "country": country, "keywords": words, "max_load": 3})
        assert out.status_code == 201, out.content
        reviewers[username] = api_for(person)
    return {"call": call, "applicants": applicants, "reviewers": reviewers}


def marks_for(title):
    table = {"Nordlicht AI model": (5, 4, 4), "Pixel Farm model": (4, 4, 3), "Helix Bio model": (4, 4, 3),
             "Voxa model": (2, 2, 2)}
    e, i, f = table[title]
    return {"excellence": e, "impact": i, "feasibility": f}


def test_a_grand_challenge_round_end_to_end(round_, manager, api):
    call = round_["call"]
    cid = call["id"]
    assert call["state"] == "open" and call["budgets"] == {"leonardo": 3 * HOURS, "lumi": 3 * HOURS,
                                                           "meluxina": HOURS}
    for _, app in round_["applicants"].values():
        assert app["state"] == "in_review", app["reasons"]
        assert app["promised_by"] == call["decision_by"]
    # closing before the deadline needs a reason
    assert assert_refused(manager.post(f"/calls/{cid}/close", {}), 400)["detail"] == {"field": "reason"}
    assert manager.post(f"/calls/{cid}/close", {"reason": "jury available early"}).json()["state"] == "review"
    # no proposal once closed
    founder = round_["applicants"]["Voxa"][0]
    late = founder.post("/applications", proposal(round_["applicants"]["Voxa"][1]["organisation"], cid))
    assert assert_refused(late, 400)["detail"] == {"field": "call"}

    made = manager.post(f"/calls/{cid}/assign", {}).json()
    assert len(made) == 4 * 2
    by_app = {}
    for a in made:
        by_app.setdefault(a["application"], []).append(a["reviewer"])
    assert all(len(v) == 2 for v in by_app.values())
    helix = round_["applicants"]["Helix Bio"][1]["id"]
    nordlicht = round_["applicants"]["Nordlicht AI"][1]["id"]
    pixel = round_["applicants"]["Pixel Farm"][1]["id"]
    assert "Ana Lopez" not in by_app[helix]  # same organisation
    assert "Rita Rossi" not in by_app[pixel]  # same country, and the call says so
    loads = {}
    for a in made:
        loads[a["reviewer"]] = loads.get(a["reviewer"], 0) + 1
    assert max(loads.values()) == 2  # 8 reviews over 5 reviewers: balanced
    assert_refused(manager.post(f"/calls/{cid}/assign", {}), 409)  # once

    # each reviewer sees exactly their assignments, and marks them
    for username, client in round_["reviewers"].items():
        mine = client.get("/reviews").json()
        theirs = Assignment.objects.filter(reviewer__user__username=username)
        assert {m["assignment"] for m in mine} == {a.pk for a in theirs}
        for m in mine:
            assert_refused(client.get(f"/applications/{m['application']}"), 404)
            bad = client.post(f"/reviews/{m['assignment']}", {"marks": {"excellence": 9, "impact": 1,
                                                                        "feasibility": 1}})
            assert assert_refused(bad, 400)["detail"] == {"field": "marks"}
            out = client.post(f"/reviews/{m['assignment']}", {"marks": marks_for(m["title"]), "comment": "ok"})
            assert out.status_code == 201, out.content
            assert_refused(client.post(f"/reviews/{m['assignment']}", {"marks": marks_for(m["title"])}), 409)
    others = Assignment.objects.exclude(reviewer__user__username="rita").first()
    assert_refused(round_["reviewers"]["rita"].get(f"/reviews/{others.pk}"), 404)
    assert_refused(round_["reviewers"]["rita"].get(f"/calls/{cid}/proposals"), 403)

    ranking = manager.get(f"/calls/{cid}/ranking").json()
    order = [e["application"] for e in ranking["entries"]]
    assert order[0] == nordlicht and order[-1] == round_["applicants"]["Voxa"][1]["id"]
    tied = ranking["entries"][2]
    assert tied["decided_by"] == "submitted" and "submitted earlier" in tied["explanation"]  # Pixel before Helix

    run = manager.post(f"/calls/{cid}/select").json()
    assert list(run) == ["id", "call", "objective", "run_at", "run_by", "funded", "optimum", "greedy", "ranking",
                         "difference"]
    assert run["call"] == cid and run["run_by"] == "maria" and run["objective"] == "score"
    assert run["ranking"] == ranking  # the ranking the selection ran on, kept as the API answered it
    assert list(run["optimum"]) == list(run["greedy"]) == [
        "method", "objective", "funded", "value", "solver_value", "use", "status", "gap", "bound", "proven_optimal",
        "seconds", "winners"]
    assert run["optimum"]["method"] == "milp" and run["greedy"]["method"] == "greedy"
    assert run["difference"] == pytest.approx(run["optimum"]["value"] - run["greedy"]["value"])
    assert manager.get(f"/calls/{cid}/selection").json() == run
    assert run["optimum"]["proven_optimal"] is True
    assert run["optimum"]["winners"] == 2 and run["greedy"]["winners"] == 2
    assert run["optimum"]["value"] >= run["greedy"]["value"]
    assert sorted(run["funded"]) == sorted([nordlicht, pixel])
    states = dict(Application.objects.filter(call_id=cid).values_list("pk", "state"))
    assert states[nordlicht] == states[pixel] == "selected"
    assert states[helix] == "not_selected"
    voxa = Application.objects.get(pk=round_["applicants"]["Voxa"][1]["id"])
    assert any("under the call's score threshold 2.5" in r for r in voxa.reasons)

    routes = manager.get(f"/calls/{cid}/routes").json()
    assert {r["application"] for r in routes} == {nordlicht, pixel}
    assert all(r["current"] and r["method"] == "optimiser" and r["reasons"] for r in routes)
    # an override needs a reason, respects the machine's GPU and the call's budgets, and is kept with who and why
    assert_refused(manager.post(f"/calls/{cid}/routes/{pixel}", {"machine": "lumi", "reason": ""}), 422)
    assert assert_refused(manager.post(f"/calls/{cid}/routes/{pixel}", {"machine": "jupiter", "reason": "x"}),
                          400)["detail"] == {"field": "machine"}
    gpu = assert_refused(manager.post(f"/calls/{cid}/routes/{pixel}", {"machine": "lumi", "reason": "x"}), 400)
    assert "offers the MI250X, not the A100" in gpu["message"]
    moved = manager.post(f"/calls/{cid}/routes/{pixel}", {"machine": "meluxina", "reason": "MeluXina has room now"})
    assert moved.status_code == 200, moved.content
    current = Route.objects.get(application_id=pixel, current=True)
    assert list(moved.json().items()) == [
        ("application", pixel), ("machine", "meluxina"), ("factory", current.factory),
        ("reason", "MeluXina has room now"), ("reasons", current.reasons), ("fit", current.fit)]
    row = next(r for r in manager.get(f"/calls/{cid}/routes").json() if r["application"] == pixel and r["current"])
    assert row["machine"] == "meluxina" and row["decided_by"] == "maria" and row["method"] == "override"
    assert Route.objects.filter(application_id=pixel).count() == 2
    assert Route.objects.get(application_id=pixel, current=True).reason == "MeluXina has room now"
    full = manager.post(f"/calls/{cid}/routes/{nordlicht}", {"machine": "meluxina", "reason": "both there"})
    assert "capacity" in assert_refused(full, 400)["message"]

    accepted = manager.post(f"/calls/{cid}/accept", {"reason": "jury decision"}).json()
    assert list(accepted) == ["call", "allocations"] and accepted["call"] == cid
    assert accepted["allocations"] == [
        {"id": a.pk, "application": a.application_id, "machine": a.machine.key, "account": a.account,
         "gpu_hours": a.gpu_hours, "starts_on": a.starts_on.isoformat(), "ends_on": a.ends_on.isoformat(),
         "orders": 1}
        for a in Allocation.objects.filter(application__call_id=cid).order_by("pk")]
    assert all(list(a) == ["id", "application", "machine", "account", "gpu_hours", "starts_on", "ends_on", "orders"]
               for a in accepted["allocations"])
    machines = sorted(a["machine"] for a in accepted["allocations"])
    assert machines == ["leonardo", "meluxina"]
    assert all(a["orders"] == 1 for a in accepted["allocations"])
    assert ProvisioningOrder.objects.count() == 2
    nord = Allocation.objects.get(application_id=nordlicht)
    assert nord.gpu_hours == HOURS and (nord.ends_on - nord.starts_on).days in range(364, 367)
    founder_n = round_["applicants"]["Nordlicht AI"][0]
    mine = founder_n.get(f"/applications/{nordlicht}").json()
    assert mine["state"] == "approved" and mine["allocations"] == [nord.pk]
    assert [h["to_state"] for h in mine["history"]] == ["submitted", "in_review", "selected", "approved"]
    assert mine["on_time"] is True
    assert manager.get(f"/calls/{cid}").json()["state"] == "closed"
    assert list(CallStateChange.objects.filter(call_id=cid).values_list("to_state", flat=True)) == [
        "open", "review", "selected", "closed"]
    selection = manager.get(f"/calls/{cid}/selection").json()
    assert selection["difference"] == pytest.approx(run["optimum"]["value"] - run["greedy"]["value"])


def test_optimum_beats_the_greedy_when_the_budget_binds(federation, manager, api_for):
    # one large proposal scoring best and two smaller ones: the greedy funds the first and nothing else fits
    call = manager.post("/calls", call_body(budgets={"leonardo": 2 * HOURS}, winner_limit=None, threshold=None,
                                            reviewers_per_proposal=1, same_country_conflict=False)).json()
    ids = []
    for i, (hours, params) in enumerate([(2 * HOURS, 2e9), (HOURS, 1e9), (HOURS, 1e9)]):
        person = UserFactory(username=f"f{i}")
        org = OrganisationFactory(name=f"Org {i}", members=[person])
        out = api_for(person).post("/applications", proposal(org.pk, call["id"], params=params,
                                                             requested_gpu_hours=hours, title=f"Proposal {i}"))
        assert out.status_code == 201, out.content
        ids.append(out.json()["id"])
    person = UserFactory(username="rev")
    manager.post("/reviewers", {"username": "rev", "name": "Rev", "affiliation": "X", "country": "SE",
                                "keywords": ["llm"], "max_load": 10})
    manager.post(f"/calls/{call['id']}/close", {"reason": "test"})
    manager.post(f"/calls/{call['id']}/assign", {})
    reviewer = api_for(person)
    scores = {ids[0]: 5, ids[1]: 4, ids[2]: 4}
    for m in reviewer.get("/reviews").json():
        s = scores[m["application"]]
        reviewer.post(f"/reviews/{m['assignment']}", {"marks": {"excellence": s, "impact": s, "feasibility": s}})
    run = manager.post(f"/calls/{call['id']}/select").json()
    assert run["greedy"]["funded"] == [ids[0]] and run["greedy"]["value"] == pytest.approx(5)
    assert sorted(run["optimum"]["funded"]) == sorted(ids[1:]) and run["optimum"]["value"] == pytest.approx(8)
    loser = Application.objects.get(pk=ids[0])
    assert any("rank-order greedy would have funded it" in r for r in loser.reasons)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mode": "fast_lane"}, "mode"),
        ({"deadline": "2020-01-01T00:00:00+00:00"}, "deadline"),
        ({"decision_by": None}, "decision_by"),
        ({"months": 6}, "months"),
        ({"objective": "fame"}, "objective"),
        ({"threshold": 7}, "threshold"),
        ({"criteria": [{"name": "a", "weight": 1}, {"name": "a", "weight": 2}]}, "criteria"),
        ({"criteria": [{"name": "a", "weight": 1, "low": 5, "high": 1}]}, "criteria"),
        ({"budgets": {"deep-thought": 10}}, "budgets"),
        ({"budgets": {"jupiter": 10}}, "budgets"),  # no site
        ({"budgets": {"leonardo": -5}}, "budgets"),
    ],
)
def test_a_call_with_bad_terms_is_refused_naming_the_field(federation, manager, change, field):
    answer = assert_refused(manager.post("/calls", call_body(**change)), 400)
    assert answer["detail"] == {"field": field}, answer


def test_only_call_managers_open_calls(federation, api):
    assert_refused(api.post("/calls", call_body()), 403)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"open_science": False}, "open_science"),
        ({"machine": "jupiter"}, "machine"),  # the call funds nothing there
        ({"requested_gpu_hours": 4 * HOURS}, "requested_gpu_hours"),  # more than the call's budget there
        ({"months": 6}, "months"),
        ({"machine_hours": {"leonardo": HOURS, "lumi": 100}}, "requested_gpu_hours"),  # the sum must agree
        ({"machine": "lumi", "machine_hours": {"leonardo": HOURS}, "requested_gpu_hours": HOURS}, "machine"),
    ],
)
def test_a_proposal_inconsistent_with_its_call_is_refused(federation, manager, api, organisation, change, field):
    call = manager.post("/calls", call_body()).json()
    answer = assert_refused(api.post("/applications", proposal(organisation.pk, call["id"], **change)), 400)
    assert answer["detail"] == {"field": field}, answer
    assert not Application.objects.exists()


def test_a_proposal_on_two_machines_is_funded_and_allocated_on_both(federation, manager, api, api_for, organisation):
    call = manager.post("/calls", call_body(reviewers_per_proposal=1, threshold=None)).json()
    lumi = round(estimate_for(plan_training(1e9, 2e11, gpus=16), "lumi").gpu_hours)
    split = {"leonardo": HOURS / 2, "lumi": lumi / 2}
    out = api.post("/applications", proposal(organisation.pk, call["id"], machine_hours=split,
                                             requested_gpu_hours=sum(split.values())))
    assert out.status_code == 201, out.content
    app = out.json()
    assert app["machine_hours"] == split and app["assessment"]["coverage"] == pytest.approx(1.0, rel=1e-3)
    person = UserFactory(username="rev")
    manager.post("/reviewers", {"username": "rev", "name": "Rev", "affiliation": "X", "country": "SE",
                                "keywords": ["llm"]})
    manager.post(f"/calls/{call['id']}/close", {"reason": "test"})
    manager.post(f"/calls/{call['id']}/assign", {})
    reviewer = api_for(person)
    (m,) = reviewer.get("/reviews").json()
    reviewer.post(f"/reviews/{m['assignment']}", {"marks": {"excellence": 4, "impact": 4, "feasibility": 4}})
    manager.post(f"/calls/{call['id']}/select")
    accepted = manager.post(f"/calls/{call['id']}/accept", {}).json()["allocations"]
    assert {a["machine"]: a["gpu_hours"] for a in accepted} == split
    accounts = sorted(a["account"] for a in accepted)
    assert accounts == [f"aif-p{app['id']}", f"aif-p{app['id']}-lumi"]


def test_selection_waits_for_every_score(round_, manager):
    cid = round_["call"]["id"]
    manager.post(f"/calls/{cid}/close", {"reason": "test"})
    assert_refused(manager.post(f"/calls/{cid}/select"), 409)  # nobody assigned yet
    manager.post(f"/calls/{cid}/assign", {})
    answer = assert_refused(manager.post(f"/calls/{cid}/select"), 409)
    assert "scores are missing" in answer["message"]


def test_assignment_that_cannot_avoid_conflicts_names_the_proposals(federation, manager, api_for):
    call = manager.post("/calls", call_body(reviewers_per_proposal=2)).json()
    person = UserFactory(username="f0")
    org = OrganisationFactory(name="Solo", country="SE", members=[person])
    api_for(person).post("/applications", proposal(org.pk, call["id"]))
    for username in ("r1", "r2"):
        UserFactory(username=username)
        manager.post("/reviewers", {"username": username, "name": username, "affiliation": "KTH", "country": "SE",
                                    "keywords": []})
    manager.post(f"/calls/{call['id']}/close", {"reason": "test"})
    answer = assert_refused(manager.post(f"/calls/{call['id']}/assign", {}), 409)
    assert answer["detail"]["proposals"] == [Application.objects.get().pk]


def test_a_high_risk_proposal_passes_the_ethics_review_before_peer_review(federation, manager, api, organisation):
    call = manager.post("/calls", call_body()).json()
    out = api.post("/applications", proposal(organisation.pk, call["id"], areas=["education"])).json()
    assert out["state"] == "ethics_review" and out["high_risk"] is True
    manager.post(f"/calls/{call['id']}/close", {"reason": "test"})
    blocked = assert_refused(manager.post(f"/calls/{call['id']}/assign", {}), 409)
    assert blocked["detail"]["proposals"] == [out["id"]]
    decided = manager.post(f"/applications/{out['id']}/decision", {"approve": True, "reason": "safeguards"}).json()
    assert decided["state"] == "in_review"
    assert [h["to_state"] for h in decided["history"]] == ["submitted", "ethics_review", "in_review"]
    assert decided["history"][-1]["reason"] == "safeguards" and decided["history"][-1]["actor"] == "maria"


def test_a_systemic_risk_plan_is_recorded_with_its_notice_not_refused(federation, manager, api, organisation):
    # 7e10 parameters on 2.4e13 tokens: 1.008e25 FLOP, just above the AI Act's presumption of systemic risk; on 256
    # nodes, the most a Leonardo queue takes
    planned = estimate_for(plan_training(7e10, 2.4e13, gpus=1024), "leonardo").gpu_hours
    call = manager.post("/calls", call_body(budgets={"leonardo": 3e7})).json()
    out = api.post("/applications", proposal(organisation.pk, call["id"], params=7e10, tokens=2.4e13, gpus=1024,
                                             requested_gpu_hours=round(planned))).json()
    assert out["state"] == "in_review", out["reasons"]
    assert out["systemic_risk"] is True
    assert any("Article 51" in r and "notify the Commission within two weeks" in r for r in out["reasons"])
    assert any("Fits only fully sharded (ZeRO stage 3 / FSDP)" in r for r in out["reasons"])


def test_a_large_scale_cut_off_promises_ten_working_days(federation, manager, api, organisation):
    from aifactory.core.modes import add_working_days

    body = call_body(mode="large_scale", title="Large Scale cut-off", decision_by=None, months=6,
                     winner_limit=None, open_science=False, prize_eur=None)
    call = manager.post("/calls", body).json()
    cutoff = timezone.localtime(timezone.now() + timedelta(days=1)).date()
    assert call["decision_by"] == add_working_days(cutoff, 10).isoformat()
    small = proposal(organisation.pk, call["id"], mode="large_scale", months=6, open_science=False)
    answer = assert_refused(api.post("/applications", small), 400)
    assert answer["detail"] == {"field": "requested_gpu_hours"} and "more than 50,000" in answer["message"]
    big = estimate_for(plan_training(7e9, 2e12, gpus=512), "leonardo").gpu_hours
    large = manager.post("/calls", {**body, "budgets": {"leonardo": 2 * big}}).json()
    out = api.post("/applications", {**small, "call": large["id"], "params": 7e9, "tokens": 2e12, "gpus": 512,
                                     "requested_gpu_hours": round(big)})
    assert out.status_code == 201, out.content
    assert out.json()["state"] == "in_review" and out.json()["promised_by"] == large["decision_by"]


def test_the_admin_shows_calls_and_reviews(federation, manager):
    from django.test import Client

    call = manager.post("/calls", call_body()).json()
    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    for path in ("/admin/review/call/", f"/admin/review/call/{call['id']}/change/", "/admin/review/reviewer/",
                 "/admin/review/assignment/", "/admin/review/review/", "/admin/review/selectionrun/",
                 "/admin/organisations/userrole/"):
        assert client.get(path).status_code == 200, path
