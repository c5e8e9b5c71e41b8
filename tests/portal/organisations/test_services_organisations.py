"""The organisations services: people, organisations, pledges, tokens."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from aifactory.portal.common.errors import BadRequest, Conflict
from aifactory.portal.organisations.models import ApiToken, Organisation
from aifactory.portal.organisations.selectors import organisation_get, organisations_of, user_by_token
from aifactory.portal.organisations.services import (
    api_token_create,
    organisation_pledge,
    organisation_register,
    user_signup,
)
from tests.conftest import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


def register(user, **change):
    fields = {"name": "  Nordlicht AI ", "country": "fr", "headcount": 9, "turnover_eur": Decimal("1000000"),
              "balance_sheet_eur": Decimal("3000000"), "sector": " robotics "}
    return organisation_register(user=user, **{**fields, **change})


def test_signup_creates_an_active_user_with_a_hashed_password():
    person = user_signup(username=" carol ", email="carol@example.org", password="a-long-enough-passphrase")
    assert person.username == "carol"
    assert person.check_password("a-long-enough-passphrase")
    assert person.password != "a-long-enough-passphrase"


@pytest.mark.parametrize("password", ["short", "password123", "1234567890"])
def test_signup_refuses_weak_passwords(password):
    with pytest.raises(BadRequest) as caught:
        user_signup(username="carol", email="carol@example.org", password=password)
    assert caught.value.detail == {"field": "password"}
    assert not get_user_model().objects.filter(username="carol").exists()


def test_signup_refuses_taken_usernames_in_any_case(user):
    with pytest.raises(Conflict) as caught:
        user_signup(username="Alice", email="x@example.org", password="a-long-enough-passphrase")
    assert caught.value.detail == {"field": "username"}


def test_tokens_are_stored_as_digests_and_find_their_user(user):
    token = api_token_create(user=user, name="laptop")
    row = ApiToken.objects.get(user=user)
    assert row.digest != token and len(row.digest) == 64
    assert user_by_token(token) == user
    assert user_by_token(token + "x") is None


def test_register_cleans_and_classifies(user):
    org = register(user)
    assert (org.name, org.country, org.sector) == ("Nordlicht AI", "FR", "robotics")
    assert org.sme_category == "micro"  # fewer than 10 staff, balance sheet over 2 M but turnover within it
    assert list(org.members.all()) == [user]


@pytest.mark.parametrize(
    ("headcount", "turnover", "balance", "category"),
    [(9, 2_000_000, 2_000_000, "micro"), (49, 10_000_000, 50_000_000, "small"), (249, 60_000_000, 43_000_000, "medium"),
     (250, 1, 1, "large")],
)
def test_register_sme_category(user, headcount, turnover, balance, category):
    org = register(user, headcount=headcount, turnover_eur=Decimal(turnover), balance_sheet_eur=Decimal(balance))
    assert org.sme_category == category


@pytest.mark.parametrize("country", ["XX", "ZZ", "", "DEU"])
def test_register_refuses_unknown_countries(user, country):
    with pytest.raises(BadRequest) as caught:
        register(user, country=country)
    assert caught.value.detail == {"field": "country"}
    assert not Organisation.objects.exists()


def test_pledges_once_each(user):
    org = OrganisationFactory(members=[user])
    assert organisation_pledge(organisation=org, user=user, pledges=["governance"]) == ["governance"]
    assert organisation_pledge(organisation=org, user=user, pledges=["governance", "ai_literacy"]) == [
        "ai_literacy", "governance"]


def test_pledges_refuse_unknown_ones_and_record_none(user):
    org = OrganisationFactory(members=[user])
    with pytest.raises(BadRequest):
        organisation_pledge(organisation=org, user=user, pledges=["governance", "nonsense"])
    assert not org.pledges.exists()


def test_organisations_of_people(user, other_user):
    mine = OrganisationFactory(members=[user])
    OrganisationFactory(members=[other_user])
    assert list(organisations_of(user)) == [mine]
    assert organisation_get(user=user, pk=mine.pk) == mine
    staff = UserFactory(username="staff", is_staff=True)
    assert organisations_of(staff).count() == 2
