from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.portal.common.auth import user_auth
from aifactory.portal.common.errors import Unauthorized
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.selectors import organisation_get, organisations_of
from aifactory.portal.organisations.services import (
    api_token_create,
    organisation_pledge,
    organisation_register,
    user_signup,
)

router = Router(tags=["organisations"])


class SignupIn(In):
    username: str = Field(..., min_length=3, max_length=150, pattern=r"^[A-Za-z0-9@.+_-]+$")
    email: str = Field(..., max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    password: str = Field(..., min_length=10, max_length=200)


class LoginIn(In):
    username: str = Field(..., max_length=150)
    password: str = Field(..., max_length=200)


class TokenOut(Schema):
    token: str


class OrganisationIn(In):
    name: str = Field(..., min_length=2, max_length=200)
    country: str = Field(..., pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")
    headcount: int = Field(..., ge=0, le=10_000_000, strict=True, description="staff in annual work units")
    turnover_eur: Decimal = Field(..., ge=0, le=Decimal("1e13"), max_digits=16, decimal_places=2)
    balance_sheet_eur: Decimal = Field(..., ge=0, le=Decimal("1e13"), max_digits=16, decimal_places=2)
    sector: str = Field(..., min_length=2, max_length=100)


class OrganisationOut(Schema):
    id: int
    name: str
    country: str
    headcount: int
    turnover_eur: Decimal
    balance_sheet_eur: Decimal
    sector: str
    sme_category: str
    pledges: list[str]


class PledgeIn(In):
    pledges: list[str] = Field(..., min_length=1, max_length=10)


def _out(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.pk, "name": org.name, "country": org.country, "headcount": org.headcount,
        "turnover_eur": org.turnover_eur, "balance_sheet_eur": org.balance_sheet_eur, "sector": org.sector,
        "sme_category": org.sme_category, "pledges": sorted(p.pledge for p in org.pledges.all()),
    }


@router.post("/auth/signup", response={201: TokenOut}, tags=["auth"])
def signup(request: HttpRequest, body: SignupIn) -> Any:
    user = user_signup(username=body.username, email=body.email, password=body.password)
    return answer(201, {"token": api_token_create(user=user)})


@router.post("/auth/token", response={201: TokenOut}, tags=["auth"])
def token(request: HttpRequest, body: LoginIn) -> Any:
    user = authenticate(request, username=body.username, password=body.password)
    if user is None:
        raise Unauthorized("username or password is wrong")
    return answer(201, {"token": api_token_create(user=user)})


@router.post("/organisations", response={201: OrganisationOut}, auth=user_auth)
def register(request: HttpRequest, body: OrganisationIn) -> Any:
    org = organisation_register(user=request.user, **body.dict())
    return answer(201, _out(org))


@router.get("/organisations", response=list[OrganisationOut], auth=user_auth)
def organisations(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(o) for o in organisations_of(request.user).prefetch_related("pledges")]


@router.get("/organisations/{org_id}", response=OrganisationOut, auth=user_auth)
def organisation(request: HttpRequest, org_id: int) -> dict[str, Any]:
    return _out(organisation_get(user=request.user, pk=org_id))


@router.post("/organisations/{org_id}/pledges", response=OrganisationOut, auth=user_auth)
def pledge(request: HttpRequest, org_id: int, body: PledgeIn) -> dict[str, Any]:
    org = organisation_get(user=request.user, pk=org_id)
    organisation_pledge(organisation=org, user=request.user, pledges=body.pledges)
    return _out(org)
