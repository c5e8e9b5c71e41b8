"""Partner and linked enterprises count towards the SME category; amounts in the wrong unit are refused; roles."""

from __future__ import annotations

import pytest

from aifactory.portal.common.errors import BadRequest
from aifactory.portal.organisations.models import RelatedEnterprise, UserRole
from aifactory.portal.organisations.selectors import is_call_manager, operator_factories, roles_of
from aifactory.portal.organisations.services import role_grant, role_revoke
from tests.conftest import UserFactory, assert_refused

pytestmark = pytest.mark.django_db

ORG = {"name": "Nordlicht AI", "country": "DE", "headcount": 8, "turnover_eur": "1500000",
       "balance_sheet_eur": "900000", "sector": "health"}


def partner(**change):
    return {"name": "Holding GmbH", "relation": "partner", "headcount": 90, "turnover_eur": "10000000",
            "balance_sheet_eur": "10000000", "share": 0.4, **change}


def test_partner_figures_count_by_their_share(api):
    alone = api.post("/organisations", ORG).json()
    assert alone["sme_category"] == "micro"
    out = api.post("/organisations", {**ORG, "related": [partner()]}).json()
    # staff 8 + 0.4 * 90 = 44, turnover 1.5M + 4M: small
    assert out["sme_category"] == "small"
    assert out["related"] == [{"name": "Holding GmbH", "relation": "partner", "headcount": 90.0,
                               "turnover_eur": "10000000.00", "balance_sheet_eur": "10000000.00", "share": 0.4}]
    assert api.get(f"/organisations/{out['id']}").json()["related"] == out["related"]
    assert RelatedEnterprise.objects.get().relation == "partner"


def test_a_linked_enterprise_counts_in_full(api):
    out = api.post("/organisations", {**ORG, "related": [partner(relation="linked", share=1.0, headcount=300)]})
    assert out.json()["sme_category"] == "large"


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"turnover_eur": "1500 k€"}, "turnover_eur", 422),
        ({"turnover_eur": "1.5 M"}, "turnover_eur", 422),
        ({"balance_sheet_eur": "EUR 900000"}, "balance_sheet_eur", 422),
        ({"turnover_eur": "5e12"}, "turnover_eur", 400),  # more than any enterprise's: the wrong unit
        ({"headcount": -3}, "headcount", 422),
        ({"country": "XX"}, "country", 400),
        ({"related": [partner(share=0.1)]}, "related[0].share", 400),
        ({"related": [partner(share=0.7)]}, "related[0].share", 400),
        ({"related": [partner(relation="friend")]}, "related.0.relation", 422),
        ({"related": [partner(headcount=-1)]}, "related.0.headcount", 422),
        ({"related": [partner(turnover_eur="2 M€")]}, "related.0.turnover_eur", 422),
    ],
)
def test_bad_figures_are_refused_naming_the_field(api, change, field, status):
    answer = assert_refused(api.post("/organisations", {**ORG, **change}), status)
    assert field in answer["message"], answer


def test_roles_are_granted_by_staff_only_and_checked(api, api_for, user):
    staff = UserFactory(username="root", is_staff=True)
    assert_refused(api.post("/roles", {"username": "alice", "role": "observer"}), 403)
    granted = api_for(staff).post("/roles", {"username": "alice", "role": "factory_operator", "factory": "it4lia"})
    assert granted.status_code == 201
    assert granted.json() == {"username": "alice", "role": "factory_operator", "factory": "it4lia"}
    assert operator_factories(user) == ["it4lia"]
    me = api.get("/me").json()
    assert me == {"username": "alice", "staff": False, "roles": ["factory_operator"], "factories": ["it4lia"],
                  "reviewer": False, "organisations": []}
    bad = api_for(staff).post("/roles", {"username": "alice", "role": "factory_operator", "factory": "nowhere"})
    assert assert_refused(bad, 400)["detail"] == {"field": "factory"}
    assert_refused(api_for(staff).post("/roles", {"username": "alice", "role": "king"}), 400)
    assert_refused(api_for(staff).post("/roles", {"username": "nobody", "role": "observer"}), 404)
    with pytest.raises(BadRequest):
        role_grant(user=user, role="observer", factory="it4lia", granted_by=None)


def test_staff_are_call_managers_and_observers(user):
    staff = UserFactory(username="root", is_staff=True)
    assert roles_of(staff) == {"call_manager", "observer"}
    assert not is_call_manager(user)
    role_grant(user=user, role="call_manager", granted_by=staff)
    role_grant(user=user, role="call_manager", granted_by=staff)  # again: harmless
    assert UserRole.objects.filter(user=user).count() == 1
    assert is_call_manager(user)
    assert role_revoke(user=user, role="call_manager") is True
    assert not is_call_manager(user)
