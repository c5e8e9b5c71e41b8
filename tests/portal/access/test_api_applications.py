"""/applications: submit through the gate, list, read one."""

from __future__ import annotations

import pytest

from aifactory.portal.access.models import Application, StateChange
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from tests.conftest import ApplicationFactory, OrganisationFactory, UserFactory, assert_refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def body(organisation):
    return {
        "organisation": organisation.pk,
        "title": "Clinical notes model",
        "machine": "leonardo",
        "params": 1e8,
        "tokens": 2e9,
        "gpus": 2,
        "requested_gpu_hours": 100,
        "months": 3,
        "civil_use": True,
    }


def test_clean_application_is_approved_with_an_allocation(api, body, site):
    response = api.post("/applications", body)
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["state"] == "approved"
    assert out["machine"] == "leonardo"
    assert out["allocation"] is not None
    assert out["plan"]["machine"]["machine"] == "leonardo"
    allocation = Allocation.objects.get(pk=out["allocation"])
    assert allocation.gpu_hours == 100
    assert ProvisioningOrder.objects.filter(allocation=allocation, site=site.site).count() == 1
    assert api.get(f"/applications/{out['id']}").json()["state"] == "approved"
    assert [a["id"] for a in api.get("/applications").json()] == [out["id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"organisation": "one"}, "organisation"),
        ({"organisation": 1.5}, "organisation"),
        ({"title": "ab"}, "title"),
        ({"title": "T\x00itle"}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"mode": "express"}, "mode"),
        ({"mode": "large_scale"}, "call"),
        ({"machine": "deep-thought"}, "machine"),  # not in the catalog
        ({"machine": "lumi"}, "machine"),  # in the catalog, no site takes allocations
        ({"machine": "leo\x00nardo"}, "machine"),
        ({"machine": "m" * 41}, "machine"),
        ({"params": 0}, "params"),
        ({"params": -7e9}, "params"),
        ({"params": "many"}, "params"),
        ({"params": 1e300}, "params"),
        ({"tokens": 1e300}, "tokens"),
        ({"gpus": 0}, "gpus"),
        ({"gpus": -2}, "gpus"),
        ({"gpus": 2.5}, "gpus"),
        ({"gpus": 10**40}, "gpus"),
        ({"requested_gpu_hours": 0}, "requested_gpu_hours"),
        ({"requested_gpu_hours": 5000.01}, "requested_gpu_hours"),  # beyond the Playground limit
        ({"requested_gpu_hours": 1e12}, "requested_gpu_hours"),
        ({"months": 0}, "months"),
        ({"months": 4}, "months"),  # Playground lasts 1 to 3 months
        ({"months": 13}, "months"),
        ({"months": "three"}, "months"),
        ({"civil_use": "maybe"}, "civil_use"),
        ({"civil_use": None}, "civil_use"),
        ({"practices": ["time_travel"]}, "practices"),  # not an Article 5 key
        ({"practices": "social_scoring"}, "practices"),
        ({"practices": ["x"] * 21}, "practices"),
        ({"areas": ["astrology"]}, "areas"),
        ({"areas": [None]}, "areas"),
    ],
)
def test_submit_refuses_bad_fields(api, body, change, field):
    answer = assert_refused(api.post("/applications", {**body, **change}), (400, 422))
    assert field in answer["message"]
    assert not Application.objects.exists()


@pytest.mark.parametrize("missing", ["organisation", "title", "machine", "params", "tokens", "gpus",
                                     "requested_gpu_hours", "civil_use"])
def test_submit_refuses_missing_fields(api, body, missing):
    del body[missing]
    assert missing in assert_refused(api.post("/applications", body), 422)["message"]


def test_playground_limit_is_named(api, body):
    answer = assert_refused(api.post("/applications", {**body, "requested_gpu_hours": 6000}), 400)
    assert answer["detail"] == {"field": "requested_gpu_hours"}
    assert "5,000" in answer["message"]


def test_unknown_article5_key_is_named(api, body):
    answer = assert_refused(api.post("/applications", {**body, "practices": ["time_travel"]}), 400)
    assert "time_travel" in answer["message"]
    assert answer["detail"] == {"field": "practices"}


@pytest.mark.parametrize("raw", ["{", "[]", '{"organisation": 1', "true"])
def test_submit_refuses_malformed_json(api, organisation, raw):
    assert_refused(api.post("/applications", raw=raw), (400, 422))


@pytest.mark.parametrize(("org_id", "status"), [(424242, 404), (-1, 404), (0, 404), (10**30, 422), (2**63, 422)])
def test_submit_for_an_organisation_that_is_not_there(api, body, org_id, status):
    """An id past the databases' 64-bit range is not an id: 422 naming the field."""
    refusal = assert_refused(api.post("/applications", {**body, "organisation": org_id}), status)
    assert status == 404 or refusal["detail"][0]["field"] == "organisation"


def test_cannot_apply_for_another_organisation(other_api, body):
    assert_refused(other_api.post("/applications", body), 404)
    assert not Application.objects.exists()


def test_list_and_read_only_ones_own(api, other_api, organisation, other_user):
    mine = ApplicationFactory(organisation=organisation)
    theirs = ApplicationFactory(organisation=OrganisationFactory(members=[other_user]))
    assert [a["id"] for a in api.get("/applications").json()] == [mine.pk]
    assert_refused(api.get(f"/applications/{theirs.pk}"), 404)
    assert [a["id"] for a in other_api.get("/applications").json()] == [theirs.pk]
    assert_refused(other_api.get(f"/applications/{mine.pk}"), 404)


@pytest.mark.parametrize("app_id", ["424242", "99999999999999999999999999", "x"])
def test_read_refuses_ids_that_are_not_there(api, organisation, app_id):
    assert_refused(api.get(f"/applications/{app_id}"), (404, 422))


# --- the gate through the API ---------------------------------------------------------------------------------------


def test_organisation_outside_the_eligible_countries_is_refused_with_the_reason(api, user, body):
    us = OrganisationFactory(name="Valley AI", country="US", members=[user])
    out = api.post("/applications", {**body, "organisation": us.pk}).json()
    assert out["state"] == "refused"
    assert out["allocation"] is None
    assert any("United States" in r and "not eligible" in r for r in out["reasons"]), out["reasons"]
    stored = Application.objects.get(pk=out["id"])
    assert stored.title == body["title"] and stored.requested_gpu_hours == 100 and stored.gpus == 2


def test_article5_practice_is_refused_with_the_practice_named(api, body):
    out = api.post("/applications", {**body, "practices": ["social_scoring"]}).json()
    assert out["state"] == "refused"
    assert any("social scoring" in r for r in out["reasons"])
    assert Application.objects.get(pk=out["id"]).practices == ["social_scoring"]
    assert not Allocation.objects.exists()


def test_annex3_area_goes_to_ethics_review(api, body):
    out = api.post("/applications", {**body, "areas": ["employment"]}).json()
    assert out["state"] == "ethics_review"
    assert out["high_risk"] is True
    assert out["allocation"] is None
    assert not Allocation.objects.exists()


def test_military_use_is_refused_naming_the_field(api, body):
    answer = assert_refused(api.post("/applications", {**body, "civil_use": False}), 400)
    assert answer["detail"]["field"] == "civil_use" and "civil" in answer["message"]
    assert not Application.objects.exists()


def test_every_move_is_in_the_audit_log(api, body):
    out = api.post("/applications", {**body, "practices": ["social_scoring"]}).json()
    moves = list(StateChange.objects.filter(application_id=out["id"]).values_list("from_state", "to_state"))
    assert moves == [("", "submitted"), ("submitted", "refused")]


def test_staff_apply_only_for_organisations_they_belong_to(api_for, body, organisation):
    """Staff read every organisation, yet only members apply for one: the same rule as the application page."""
    staff_api = api_for(UserFactory(username="root", is_staff=True))
    assert staff_api.get(f"/organisations/{organisation.pk}").status_code == 200
    refused = assert_refused(staff_api.post("/applications", body), 403)
    assert refused["detail"]["field"] == "organisation"
    assert not Application.objects.exists()
