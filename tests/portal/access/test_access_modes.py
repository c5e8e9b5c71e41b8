"""Access modes through the API: Fast Lane's assessment and routing, refusals naming the field, pledges and
partner enterprises in the reasons, promised against actual decision times, the audit log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from aifactory.core.modes import add_working_days, load_modes
from aifactory.portal.access.models import Application, Route
from aifactory.portal.access.selectors import stats
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.federation.selectors import planned_run
from aifactory.portal.organisations.services import role_grant
from tests.conftest import UserFactory, assert_refused

pytestmark = pytest.mark.django_db

PLANNED = planned_run("leonardo", params=1e8, tokens=2e9, gpus=2).gpu_hours  # about 4.5 GPU-hours


@pytest.fixture
def body(organisation):
    return {
        "organisation": organisation.pk, "title": "Clinical notes model", "mode": "fast_lane", "machine": "leonardo",
        "params": 1e8, "tokens": 2e9, "gpus": 2, "requested_gpu_hours": round(PLANNED, 2), "months": 2,
        "civil_use": True,
    }


@pytest.fixture
def manager(api_for):
    person = UserFactory(username="maria")
    role_grant(user=person, role="call_manager", granted_by=None)
    return api_for(person)


def test_fast_lane_clean_is_assessed_routed_and_allocated_at_once(api, body, site):
    out = api.post("/applications", body).json()
    assert out["state"] == "approved", out["reasons"]
    assert out["assessment"]["clean"] is True
    assert out["assessment"]["sharding"] == "none"
    (route,) = out["routes"]
    assert route["machine"] == "leonardo" and route["factory"] == "it4lia" and route["method"] == "optimiser"
    assert any(r.startswith("Routed to Leonardo (IT4LIA)") for r in out["reasons"])
    allocation = Allocation.objects.get(pk=out["allocation"])
    assert allocation.gpu_hours == pytest.approx(round(PLANNED, 2))
    assert ProvisioningOrder.objects.filter(allocation=allocation, site=site.site).exists()
    assert out["promised_by"] == add_working_days(timezone.localdate(), 4).isoformat()
    assert out["on_time"] is True
    assert [(h["from_state"], h["to_state"]) for h in out["history"]] == [("", "submitted"), ("submitted", "approved")]
    assert out["history"][0]["actor"] == "alice"


def test_fast_lane_over_request_waits_for_a_technical_review(api, manager, body, site):
    out = api.post("/applications", {**body, "requested_gpu_hours": 400}).json()
    assert out["state"] == "technical_review"
    assert any("Over-request" in r for r in out["reasons"])
    assert out["allocation"] is None and out["on_time"] is None
    # the applicant cannot decide her own review
    assert_refused(api.post(f"/applications/{out['id']}/decision", {"approve": True, "reason": "fine"}), 403)
    assert_refused(manager.post(f"/applications/{out['id']}/decision", {"approve": True, "reason": ""}), 422)
    decided = manager.post(f"/applications/{out['id']}/decision",
                           {"approve": True, "reason": "hyper-parameter sweep explains the margin"}).json()
    assert decided["state"] == "approved"
    assert decided["history"][-1]["actor"] == "maria"
    assert "Technical review: hyper-parameter sweep explains the margin" in decided["reasons"]
    assert Allocation.objects.get(application_id=out["id"]).gpu_hours == 400
    # decided once: a second decision is refused, nothing changes
    again = manager.post(f"/applications/{out['id']}/decision", {"approve": False, "reason": "no"})
    assert_refused(again, 409)


def test_technical_review_refusal(api, manager, body, site):
    out = api.post("/applications", {**body, "requested_gpu_hours": 0.5}).json()
    assert out["state"] == "technical_review" and any("Under-request" in r for r in out["reasons"])
    refused = manager.post(f"/applications/{out['id']}/decision", {"approve": False, "reason": "the run cannot finish"})
    assert refused.json()["state"] == "refused"
    assert not Allocation.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"gpu": "H100"}, "gpu", "offers the A100"),
        ({"gpu": "TPU"}, "gpu", "unknown GPU model"),
        ({"params": 7e10, "gpus": 8}, "gpus", "at least 18 GPUs"),
        ({"requested_gpu_hours": 60_000}, "requested_gpu_hours", "50,000"),
        ({"months": 6}, "months", "Fast Lane lasts"),
        ({"mode": "grand_challenge"}, "call", "answer a call"),
        ({"call": 4242, "mode": "large_scale"}, "call", "no call 4242"),
        ({"machine_hours": {"leonardo": 1, "lumi": 1}}, "machine_hours", "answers a call"),
    ],
)
def test_inconsistent_requests_are_refused_naming_the_field(api, body, site, change, field, words):
    answer = assert_refused(api.post("/applications", {**body, **change}), 400)
    assert answer["detail"] == {"field": field}, answer
    assert words in answer["message"]
    assert not Application.objects.exists()


def test_routing_prefers_the_factory_of_the_sector(api, organisation, body, make_site):
    make_site(name="meluxina-a", machine_key="meluxina")
    organisation.sector = "agrifood"
    organisation.save()
    out = api.post("/applications", {**body, "machine": "meluxina"}).json()
    assert out["state"] == "approved"
    (route,) = out["routes"]
    assert route["machine"] == "leonardo"
    assert any("specialises in 'agrifood'" in r for r in route["reasons"])
    assert Allocation.objects.get().machine.key == "leonardo"


def test_pledges_and_partner_enterprises_are_in_the_reasons(api, user, site):
    org = api.post("/organisations", {
        "name": "Owned Lab", "country": "FR", "headcount": 8, "turnover_eur": "1500000", "balance_sheet_eur": "900000",
        "sector": "health",
        "related": [{"name": "Parent SA", "relation": "linked", "headcount": 300, "turnover_eur": "90000000",
                     "balance_sheet_eur": "80000000"}],
    }).json()
    assert org["sme_category"] == "large"
    api.post(f"/organisations/{org['id']}/pledges", {"pledges": ["governance", "ai_literacy"]})
    out = api.post("/applications", {
        "organisation": org["id"], "title": "Pledged", "machine": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 2,
        "requested_gpu_hours": 10, "months": 1, "civil_use": True,
    }).json()
    assert out["pledges"] == ["ai_literacy", "governance"]
    assert "AI Pact pledges recorded: ai_literacy, governance." in out["reasons"]
    assert "SME category: Not an SME, counting 1 partner or linked enterprise(s)." in out["reasons"]


def test_promised_against_actual_and_the_observer_aggregates(api, body, site, api_for):
    api.post("/applications", body)
    late = Application.objects.get()
    Application.objects.filter(pk=late.pk).update(
        promised_by=timezone.localdate() - timedelta(days=10), decided_at=timezone.now()
    )
    observer = UserFactory(username="otto")
    role_grant(user=observer, role="observer", granted_by=None)
    figures = api_for(observer).get("/stats").json()
    fast = next(m for m in figures["modes"] if m["mode"] == "fast_lane")
    assert fast["applications"] == 1 and fast["decided"] == 1 and fast["late"] == 1 and fast["decided_on_time"] == 0
    assert fast["promised"] == "within 4 working days of submission"
    assert figures["gpu_hours_granted_by_machine"] == {"leonardo": pytest.approx(round(PLANNED, 2))}
    assert_refused(api.get("/stats"), 403)
    # the schema describes the figures without changing them: 0 GPU-hours of a mode without applications stays 0
    assert api_for(observer).get("/stats").content.decode() == json.dumps(stats(), cls=DjangoJSONEncoder)


def test_modes_are_public(anon):
    modes = anon.get("/modes").json()["modes"]
    assert [m["key"] for m in modes] == ["playground", "fast_lane", "large_scale", "grand_challenge"]
    data = load_modes()
    assert anon.get("/modes").content.decode() == json.dumps(
        {"modes": [m.to_dict() for m in data.modes], "notes": list(data.notes)}, cls=DjangoJSONEncoder)


def test_every_route_and_state_change_is_kept(api, body, site):
    out = api.post("/applications", body).json()
    assert Route.objects.filter(application_id=out["id"]).count() == 1
    assert Application.objects.get(pk=out["id"]).history.count() == 2


@pytest.mark.parametrize("mode", ["playground", "fast_lane"])
def test_a_run_the_plan_says_cannot_run_is_refused_not_approved(api, body, site, mode):
    # Model states fit fully sharded (56 GB of 64 per GPU), but with activations no layout of two Leonardo nodes does.
    change = {"mode": mode, "params": 2.8e10, "gpus": 8, "tokens": 1e9, "requested_gpu_hours": 2000}
    answer = assert_refused(api.post("/applications", {**body, **change}), 400)
    assert answer["detail"] == {"field": "gpus"}
    assert "No layout fits" in answer["message"] and "ask for more nodes" in answer["message"]
    assert not Application.objects.exists()


def test_the_run_plan_is_kept_and_its_layout_and_segments_are_noted(api, body, site):
    change = {"params": 2e10, "gpus": 8, "tokens": 1e9, "requested_gpu_hours": 1000, "mode": "playground"}
    out = api.post("/applications", {**body, **change}).json()
    run = Application.objects.get(pk=out["id"]).plan["run"]
    assert run["can_run"] and run["nodes"] == 2 and run["layout"]["tensor_parallel"] in (1, 2, 4)
    assert run["memory"]["total_gb"] <= 64 * 0.9 and run["mfu_prior"]["value"] == 0.44
    assert any("Planned layout on 2 node(s)" in r for r in out["reasons"])
    assert any("segments resuming from checkpoints" in r for r in out["reasons"])


def test_more_nodes_than_the_sites_largest_queue_takes_is_refused(api, body, site):
    change = {"mode": "fast_lane", "gpus": 4096, "requested_gpu_hours": 40_000}
    answer = assert_refused(api.post("/applications", {**body, **change}), 400)
    assert answer["detail"] == {"field": "gpus"} and "No queue of Leonardo takes 1,024 nodes" in answer["message"]
    assert "nodes 65-256" in answer["message"]
