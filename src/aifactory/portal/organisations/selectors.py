from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from aifactory.core.eligibility import is_established_eligible
from aifactory.core.exceptions import InvalidInput
from aifactory.portal.common import tokens
from aifactory.portal.common.errors import NotFound
from aifactory.portal.organisations.models import ApiToken, Organisation


def country_known(country: str) -> bool:
    try:
        is_established_eligible(country, timezone.localdate())
    except InvalidInput:
        return False
    return True


def organisations_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organisation]:
    if not user.is_authenticated:
        return Organisation.objects.none()
    if user.is_staff:
        return Organisation.objects.all()
    return Organisation.objects.filter(members=user)


def organisation_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Organisation:
    org = organisations_of(user).filter(pk=pk).first()
    if org is None:
        raise NotFound(f"organisation {pk} not found")
    return org


def user_by_token(token: str) -> AbstractBaseUser | None:
    row = ApiToken.objects.select_related("user").filter(digest=tokens.digest(token)).first()
    if row is None or not row.user.is_active:
        return None
    return row.user
