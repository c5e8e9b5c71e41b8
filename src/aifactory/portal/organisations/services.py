"""Writes of the organisations context: people, organisations, pledges, tokens."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from aifactory.core.eligibility import sme_category
from aifactory.portal.common import tokens
from aifactory.portal.common.errors import BadRequest, Conflict
from aifactory.portal.organisations.choices import Pledge
from aifactory.portal.organisations.models import ApiToken, Organisation, PactPledge
from aifactory.portal.organisations.selectors import country_known

User = get_user_model()


@transaction.atomic
def user_signup(*, username: str, email: str, password: str) -> AbstractBaseUser:
    username = username.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"username: {username!r} is taken", {"field": "username"})
    try:
        validate_password(password)
    except ValidationError as exc:
        raise BadRequest("password: " + " ".join(exc.messages), {"field": "password"}) from exc
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as exc:  # the same name taken by a sign-up at the same moment
        raise Conflict(f"username: {username!r} is taken", {"field": "username"}) from exc


def api_token_create(*, user: AbstractBaseUser, name: str = "default") -> str:
    token = tokens.new_token("u")
    ApiToken.objects.create(user=user, name=name, digest=tokens.digest(token))
    return token


@transaction.atomic
def organisation_register(
    *,
    user: AbstractBaseUser,
    name: str,
    country: str,
    headcount: int,
    turnover_eur: Decimal,
    balance_sheet_eur: Decimal,
    sector: str,
) -> Organisation:
    country = country.upper()
    if not country_known(country):
        raise BadRequest(
            f"country: unknown country code {country!r} (ISO 3166-1 alpha-2 expected)", {"field": "country"}
        )
    category = sme_category(headcount, float(turnover_eur), float(balance_sheet_eur))
    org = Organisation.objects.create(
        name=name.strip(),
        country=country,
        headcount=headcount,
        turnover_eur=turnover_eur,
        balance_sheet_eur=balance_sheet_eur,
        sector=sector.strip(),
        sme_category=str(category),
    )
    org.members.add(user)
    return org


def organisation_pledge(*, organisation: Organisation, user: AbstractBaseUser, pledges: list[str]) -> list[str]:
    """Record AI Pact pledges; pledging again is harmless. Returns the organisation's pledges."""
    unknown = [p for p in pledges if p not in Pledge.values]
    if unknown:
        known = ", ".join(Pledge.values)
        raise BadRequest(f"pledges: unknown pledge {unknown[0]!r}; known: {known}", {"field": "pledges"})
    for p in pledges:
        try:
            with transaction.atomic():
                PactPledge.objects.create(organisation=organisation, pledge=p, pledged_by=user)
        except IntegrityError:
            pass
    return sorted(organisation.pledges.values_list("pledge", flat=True))
