"""/organisations: register, list, read one, pledge."""

from __future__ import annotations

import pytest

from aifactory.portal.organisations.models import Organisation, PactPledge
from tests.conftest import OrganisationFactory, assert_refused

pytestmark = pytest.mark.django_db

ORG = {
    "name": "Nordlicht AI",
    "country": "de",
    "headcount": 12,
    "turnover_eur": "1500000",
    "balance_sheet_eur": 900000,
    "sector": "health",
}


def test_register_derives_the_sme_category(api, user):
    response = api.post("/organisations", ORG)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"id": body["id"], "name": "Nordlicht AI", "country": "DE", "headcount": 12.0,
                    "turnover_eur": "1500000", "balance_sheet_eur": "900000", "sector": "health",
                    "sme_category": "small", "pledges": [], "related": []}
    org = Organisation.objects.get(pk=body["id"])
    assert list(org.members.all()) == [user]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"name": "A"}, "name"),
        ({"name": "A\x00B"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"country": "XX"}, "country"),  # well formed, not a country
        ({"country": "Germany"}, "country"),
        ({"country": "D1"}, "country"),
        ({"country": 49}, "country"),
        ({"headcount": -1}, "headcount"),
        ({"headcount": "twelve"}, "headcount"),
        ({"headcount": 1.555}, "headcount"),  # annual work units to the hundredth
        ({"headcount": "NaN"}, "headcount"),
        ({"headcount": 10**30}, "headcount"),
        ({"headcount": True}, "headcount"),
        ({"turnover_eur": "a lot"}, "turnover_eur"),
        ({"turnover_eur": "-1"}, "turnover_eur"),
        ({"turnover_eur": "NaN"}, "turnover_eur"),
        ({"turnover_eur": "Infinity"}, "turnover_eur"),
        ({"turnover_eur": "1e40"}, "turnover_eur"),
        ({"turnover_eur": "0.001"}, "turnover_eur"),
        ({"balance_sheet_eur": -5}, "balance_sheet_eur"),
        ({"balance_sheet_eur": [1]}, "balance_sheet_eur"),
        ({"sector": ""}, "sector"),
        ({"sector": "s\x00"}, "sector"),
    ],
)
def test_register_refuses_bad_fields(api, user, change, field):
    body = assert_refused(api.post("/organisations", {**ORG, **change}), (400, 422))
    assert field in body["message"]
    assert not Organisation.objects.exists()


@pytest.mark.parametrize("missing", sorted(ORG))
def test_register_refuses_missing_fields(api, user, missing):
    body = {k: v for k, v in ORG.items() if k != missing}
    assert missing in assert_refused(api.post("/organisations", body), 422)["message"]


def test_unknown_country_is_named_in_the_answer(api, user):
    body = assert_refused(api.post("/organisations", {**ORG, "country": "QQ"}), 400)
    assert body["detail"] == {"field": "country"}
    assert "QQ" in body["message"]


@pytest.mark.parametrize("raw", ["{", '{"name": "x",}', "[]", "NaN", "\ufeff{}"])
def test_register_refuses_malformed_json(api, user, raw):
    assert_refused(api.post("/organisations", raw=raw), (400, 422))


def test_list_and_read_only_ones_own(api, other_api, user, other_user):
    mine = OrganisationFactory(name="Mine", members=[user])
    theirs = OrganisationFactory(name="Theirs", members=[other_user])
    assert [o["name"] for o in api.get("/organisations").json()] == ["Mine"]
    assert api.get(f"/organisations/{mine.pk}").json()["name"] == "Mine"
    assert_refused(api.get(f"/organisations/{theirs.pk}"), 404)
    assert [o["name"] for o in other_api.get("/organisations").json()] == ["Theirs"]


@pytest.mark.parametrize("org_id", ["0", "-1", "999999", "99999999999999999999999999", "abc", "1.5"])
def test_read_refuses_ids_that_are_not_there(api, user, org_id):
    assert_refused(api.get(f"/organisations/{org_id}"), (404, 422))


def test_pledges_are_recorded_once(api, user):
    org = OrganisationFactory(members=[user])
    first = api.post(f"/organisations/{org.pk}/pledges", {"pledges": ["governance", "ai_literacy"]})
    assert first.status_code == 200
    assert first.json()["pledges"] == ["ai_literacy", "governance"]
    assert first.json() == {**api.get(f"/organisations/{org.pk}").json(), "pledges": ["ai_literacy", "governance"]}
    assert list(first.json()) == ["id", "name", "country", "headcount", "turnover_eur", "balance_sheet_eur", "sector",
                                  "sme_category", "pledges", "related"]
    again = api.post(f"/organisations/{org.pk}/pledges", {"pledges": ["governance", "high_risk_map"]})
    assert again.json()["pledges"] == ["ai_literacy", "governance", "high_risk_map"]
    assert PactPledge.objects.filter(organisation=org).count() == 3
    assert PactPledge.objects.filter(organisation=org, pledge="governance").get().pledged_by == user


@pytest.mark.parametrize(
    "body",
    [
        {"pledges": ["world_peace"]},
        {"pledges": []},
        {"pledges": "governance"},
        {"pledges": ["governance", "x\x00"]},
        {"pledges": ["governance"] * 11},
        {},
    ],
)
def test_pledges_refuse_bad_input(api, user, body):
    org = OrganisationFactory(members=[user])
    assert_refused(api.post(f"/organisations/{org.pk}/pledges", body), (400, 422))
    assert not PactPledge.objects.exists()


def test_unknown_pledge_is_named(api, user):
    org = OrganisationFactory(members=[user])
    body = assert_refused(api.post(f"/organisations/{org.pk}/pledges", {"pledges": ["world_peace"]}), 400)
    assert "world_peace" in body["message"]
    assert body["detail"] == {"field": "pledges"}


def test_cannot_pledge_for_another_organisation(other_api, user):
    org = OrganisationFactory(members=[user])
    assert_refused(other_api.post(f"/organisations/{org.pk}/pledges", {"pledges": ["governance"]}), 404)
    assert not PactPledge.objects.exists()
    assert_refused(other_api.post("/organisations/424242/pledges", {"pledges": ["governance"]}), 404)
