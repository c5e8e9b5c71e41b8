"""Funding pathways under /api/v1."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router

from aifactory.portal.common.schemas import In
from aifactory.portal.funding.selectors import instruments, pathways_for
from aifactory.portal.funding.services import stage_set
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import organisation_get

router = Router(tags=["funding"], auth=user_auth)


class StageIn(In):
    trl: int = Field(..., ge=1, le=9, strict=True, description="1, 5, 6, 7 or 9 (see /funding/instruments)")


@router.get("/funding/instruments", auth=None, response=list[dict[str, Any]])
def funding_instruments(request: HttpRequest) -> Any:
    """The instruments as their sources state them; null where they state nothing."""
    return instruments()


@router.get("/organisations/{org_id}/funding", response=dict[str, Any])
def organisation_funding(request: HttpRequest, org_id: int) -> Any:
    """The instruments that fit the organisation, first, with the reasons (stage, SME category, sector)."""
    return pathways_for(organisation_get(user=request.user, pk=org_id))


@router.post("/organisations/{org_id}/funding/stage", response=dict[str, Any])
def organisation_stage(request: HttpRequest, org_id: int, payload: StageIn) -> Any:
    org = organisation_get(user=request.user, pk=org_id)
    stage_set(user=request.user, organisation=org, trl=payload.trl)
    return pathways_for(org)
