"""Writes of the organisations context: people, organisations, pledges, tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from aifactory.core.catalog import load_catalog
from aifactory.core.eligibility import Enterprise, sme_category
from aifactory.core.eligibility import Relation as CoreRelation
from aifactory.core.exceptions import InvalidInput
from aifactory.portal.common import tokens
from aifactory.portal.common.errors import BadRequest, Conflict
from aifactory.portal.organisations.choices import Pledge, Relation, Role
from aifactory.portal.organisations.models import ApiToken, Organisation, PactPledge, RelatedEnterprise, UserRole
from aifactory.portal.organisations.selectors import country_code

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


# An amount above this is no enterprise's turnover or balance sheet: most likely a figure in the wrong unit.
MAX_EUR = Decimal("1e12")


@dataclass(frozen=True)
class RelatedFigures:
    """A partner or linked enterprise as given by the applicant."""

    name: str
    relation: str
    headcount: Decimal
    turnover_eur: Decimal
    balance_sheet_eur: Decimal
    share: Decimal = Decimal(1)


TOKEN_USE_RESOLUTION_S = 60
"""A token's last use is written at most once in this many seconds: `last_used_at` is at most this stale."""


def api_token_mark_used(*, token: ApiToken) -> bool:
    """Record that the token was just used, unless that was recorded less than TOKEN_USE_RESOLUTION_S ago (most
    requests then write nothing). The UPDATE is conditional, so concurrent requests write it once."""
    now = timezone.now()
    stale = now - timedelta(seconds=TOKEN_USE_RESOLUTION_S)
    if token.last_used_at is not None and token.last_used_at > stale:
        return False
    updated = ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)).update(last_used_at=now)
    token.last_used_at = now
    return bool(updated)


def _plausible_eur(value: Decimal, field: str) -> None:
    if value > MAX_EUR:
        raise BadRequest(
            f"{field}: {value:,.0f} EUR is more than any enterprise's; give the amount in euros, not cents or another "
            "unit",
            {"field": field},
        )


@transaction.atomic
def organisation_register(
    *,
    user: AbstractBaseUser,
    name: str,
    country: str,
    headcount: Decimal | int,
    turnover_eur: Decimal,
    balance_sheet_eur: Decimal,
    sector: str,
    related: Sequence[RelatedFigures] = (),
) -> Organisation:
    """Register an organisation and classify it (SME category with its partner and linked enterprises, computed
    exactly). The country is stored as its canonical code (UK as GB, EL as GR), the code every comparison reads."""
    country = country_code(country)
    _plausible_eur(turnover_eur, "turnover_eur")
    _plausible_eur(balance_sheet_eur, "balance_sheet_eur")
    enterprises = []
    for i, other in enumerate(related):
        where = f"related[{i}]"
        if other.relation not in Relation.values:
            raise BadRequest(f"{where}.relation: must be 'partner' or 'linked'", {"field": f"{where}.relation"})
        _plausible_eur(other.turnover_eur, f"{where}.turnover_eur")
        _plausible_eur(other.balance_sheet_eur, f"{where}.balance_sheet_eur")
        share = Decimal(other.share) if other.relation == Relation.PARTNER else Decimal(1)
        enterprises.append(Enterprise(
            relation=CoreRelation(other.relation), headcount=Decimal(other.headcount), turnover_eur=other.turnover_eur,
            balance_sheet_eur=other.balance_sheet_eur, share=share,
        ))
    try:
        category = sme_category(headcount, turnover_eur, balance_sheet_eur, enterprises)
    except InvalidInput as exc:
        field = exc.field.replace("partners[", "related[")
        raise BadRequest(f"{field}: {exc.message.split(': ', 1)[-1]}", {"field": field}) from exc
    org = Organisation.objects.create(
        name=name.strip(),
        country=country,
        headcount=headcount,
        turnover_eur=turnover_eur,
        balance_sheet_eur=balance_sheet_eur,
        sector=sector.strip(),
        sme_category=str(category),
    )
    for other, enterprise in zip(related, enterprises, strict=True):
        RelatedEnterprise.objects.create(
            organisation=org, name=other.name.strip(), relation=other.relation, headcount=other.headcount,
            turnover_eur=other.turnover_eur, balance_sheet_eur=other.balance_sheet_eur, share=enterprise.share,
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


@transaction.atomic
def role_grant(
    *, user: AbstractBaseUser, role: str, granted_by: AbstractBaseUser | None, factory: str = ""
) -> UserRole:
    """Grant a role; a factory operator's names the catalog's AI Factory it operates. Granting again is harmless."""
    if role not in Role.values:
        raise BadRequest(f"role: unknown role {role!r}; known: {', '.join(Role.values)}", {"field": "role"})
    factory = factory.strip()
    if role == Role.FACTORY_OPERATOR:
        try:
            load_catalog().factory(factory)
        except InvalidInput as exc:
            raise BadRequest(f"factory: {exc.message.split(': ', 1)[-1]}", {"field": "factory"}) from exc
    elif factory:
        raise BadRequest("factory: only a factory operator's role names a factory", {"field": "factory"})
    row, _ = UserRole.objects.get_or_create(user=user, role=role, factory=factory, defaults={"granted_by": granted_by})
    return row


def role_revoke(*, user: AbstractBaseUser, role: str, factory: str = "") -> bool:
    deleted, _ = UserRole.objects.filter(user=user, role=role, factory=factory.strip()).delete()
    return deleted > 0
