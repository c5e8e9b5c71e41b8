"""Funding pathways under /api/v1."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.portal.common.schemas import In
from aifactory.portal.funding.selectors import instruments, pathways_for
from aifactory.portal.funding.services import stage_set
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import organisation_get

router = Router(tags=["funding"], auth=user_auth)


class StageIn(In):
    trl: int = Field(..., ge=1, le=9, strict=True, description="1, 5, 6, 7 or 9 (see /funding/instruments)")


class ComponentOut(Schema):
    key: str = Field(..., description="grant, investment, debt ...")
    text: str


class WhoOut(Schema):
    sme_categories: list[str]
    small_midcap_max_headcount: int | None
    small_midcap_components: list[str] = Field(..., description="the components open to small mid-caps")
    established: str | None


class StageOut(Schema):
    min_trl: int | None
    max_trl: int | None
    text: str | None


class SectorsOut(Schema):
    any: bool | None = Field(..., description="any sector; null: the sources do not say")
    named: list[str] | None
    text: str | None


class InstrumentOut(Schema):
    """A funding instrument as its sources state it (core.funding); null where they state nothing."""

    key: str
    name: str
    by: str
    who: WhoOut
    stage: StageOut
    sectors: SectorsOut
    components: list[ComponentOut]
    how: str
    sources: list[str]


class InstrumentDetailsOut(Schema):
    by: str
    components: list[ComponentOut]
    how: str


class PathwayOut(Schema):
    """An instrument judged for the organisation (core.funding.Pathway), with the instrument's details."""

    instrument: str
    name: str
    fits: bool
    components: list[str] = Field(..., description="the component keys open to the organisation")
    reasons: list[str] = Field(..., description="why it fits or not: stage, SME category, sector")
    unstated: list[str] = Field(..., description="what the sources do not say")
    sources: list[str]
    details: InstrumentDetailsOut


class FundingOut(Schema):
    """The funding pathways of an organisation, the instruments that fit first."""

    organisation: int
    eligible: bool
    eligibility: str
    stage: int | None = Field(..., description="the technology readiness level given, if any")
    stage_text: str | None
    pathways: list[PathwayOut]


@router.get("/funding/instruments", auth=None, response=list[InstrumentOut])
def funding_instruments(request: HttpRequest) -> Any:
    """The instruments as their sources state them; null where they state nothing."""
    return instruments()


@router.get("/organisations/{org_id}/funding", response=FundingOut)
def organisation_funding(request: HttpRequest, org_id: int) -> Any:
    """The instruments that fit the organisation, first, with the reasons (stage, SME category, sector)."""
    return pathways_for(organisation_get(user=request.user, pk=org_id))


@router.post("/organisations/{org_id}/funding/stage", response=FundingOut)
def organisation_stage(request: HttpRequest, org_id: int, payload: StageIn) -> Any:
    org = organisation_get(user=request.user, pk=org_id)
    stage_set(user=request.user, organisation=org, trl=payload.trl)
    return pathways_for(org)
