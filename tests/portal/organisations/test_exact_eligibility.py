"""Eligibility figures through the portal: exact SME sums, fractional annual work units, canonical country codes
stored and compared, and the migration that made existing rows canonical."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.models import Reviewer
from aifactory.portal.review.services import reviewer_add
from tests.conftest import UserFactory

ORG = {"name": "Grenzfall GmbH", "country": "DE", "headcount": 5, "turnover_eur": "60000000",
       "balance_sheet_eur": "60000000", "sector": "health"}


@pytest.mark.django_db
def test_a_firm_at_exactly_250_staff_through_a_partner_is_large(api):
    related = [{"name": "Partner AG", "relation": "partner", "headcount": 700, "turnover_eur": 0,
                "balance_sheet_eur": 0, "share": 0.35}]
    response = api.post("/organisations", {**ORG, "related": related})
    assert response.status_code == 201, response.content
    assert response.json()["sme_category"] == "large"
    assert Organisation.objects.get().related_enterprises.get().share == Decimal("0.35")


@pytest.mark.django_db
@pytest.mark.parametrize(("headcount", "category"), [("9.5", "micro"), (49.75, "small"), ("249.99", "medium")])
def test_the_organisations_own_headcount_may_be_fractional(api, headcount, category):
    response = api.post("/organisations", {**ORG, "headcount": headcount, "turnover_eur": "1000000",
                                           "balance_sheet_eur": "1000000"})
    assert response.status_code == 201, response.content
    assert response.json()["sme_category"] == category
    assert Organisation.objects.get().headcount == Decimal(str(headcount))


@pytest.mark.django_db
def test_the_page_takes_a_fractional_headcount(user):
    from tests.conftest import login

    page = login(user).post("/organisations/new/", {**ORG, "headcount": "9.5", "turnover_eur": "1000000",
                                                     "balance_sheet_eur": "1000000"})
    assert page.status_code in (200, 302)
    assert Organisation.objects.get().headcount == Decimal("9.50")


@pytest.mark.django_db
@pytest.mark.parametrize(("given", "stored"), [("UK", "GB"), ("uk", "GB"), ("EL", "GR"), ("el", "GR"), ("fr", "FR")])
def test_countries_are_stored_as_canonical_codes(api, given, stored):
    response = api.post("/organisations", {**ORG, "country": given})
    assert response.status_code == 201, response.content
    assert response.json()["country"] == Organisation.objects.get().country == stored


@pytest.mark.django_db
def test_a_reviewers_country_is_stored_canonically(site):
    manager = UserFactory(username="maria")
    role_grant(user=manager, role="call_manager", granted_by=None)
    reviewer_add(user=manager, person=UserFactory(username="eleni"), name="Eleni", affiliation="Athens",
                 country="EL", keywords=["nlp"], max_load=3)
    assert Reviewer.objects.get().country == "GR"


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_existing_countries_canonical():
    executor = MigrationExecutor(connection)
    before = [("organisations", "0003_exact_figures"), ("review", "0003_alter_callstatechange_from_state_and_more")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    old_org = apps.get_model("organisations", "Organisation")
    for name, country in (("A", "UK"), ("B", "el"), ("C", "de"), ("D", "FR")):
        old_org.objects.create(name=name, country=country, headcount=1, turnover_eur=0, balance_sheet_eur=0,
                               sector="x", sme_category="micro")
    user = apps.get_model("auth", "User").objects.create(username="rev")
    apps.get_model("review", "Reviewer").objects.create(user=user, name="R", affiliation="x", country="uk",
                                                        keywords=[], max_load=1)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert dict(Organisation.objects.values_list("name", "country")) == {"A": "GB", "B": "GR", "C": "DE", "D": "FR"}
    assert Reviewer.objects.get().country == "GB"
