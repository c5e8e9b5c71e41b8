"""Writes of the funding context: stage_set, a member declares the organisation's stage."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from aifactory.core.funding import STAGES
from aifactory.portal.common.errors import BadRequest, Forbidden
from aifactory.portal.funding.models import FundingProfile
from aifactory.portal.organisations.models import Organisation


@transaction.atomic
def stage_set(*, user: AbstractBaseUser, organisation: Organisation, trl: int) -> FundingProfile:
    if not organisation.members.filter(pk=user.pk).exists():
        raise Forbidden("only the organisation's members declare its stage")
    if isinstance(trl, bool) or trl not in STAGES:
        raise BadRequest(f"trl: unknown stage {trl!r} (known: {', '.join(map(str, STAGES))})", {"field": "trl"})
    profile, _ = FundingProfile.objects.update_or_create(organisation=organisation,
                                                         defaults={"trl": trl, "updated_by": user})
    return profile
