"""Reads of the funding context: the instruments that fit an organisation, with their reasons and sources."""

from __future__ import annotations

from typing import Any

from aifactory.core import funding as core_funding
from aifactory.portal.funding.models import FundingProfile
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.selectors import organisation_eligibility


def stage_of(organisation: Organisation) -> int | None:
    profile = FundingProfile.objects.filter(organisation=organisation).first()
    return profile.trl if profile else None


def pathways_for(organisation: Organisation) -> dict[str, Any]:
    eligibility = organisation_eligibility(organisation)
    trl = stage_of(organisation)
    found = core_funding.pathways(sme_category=organisation.sme_category, headcount=organisation.headcount,
                                  sector=organisation.sector, trl=trl,
                                  established_eligible=bool(eligibility["eligible"]))
    return {"organisation": organisation.pk, "eligible": bool(eligibility["eligible"]),
            "eligibility": eligibility["reason"], "stage": trl,
            "stage_text": core_funding.STAGES.get(trl) if trl else None,
            "pathways": [{"instrument": p.instrument, "name": p.name, "fits": p.fits, "components": list(p.components),
                          "reasons": list(p.reasons), "unstated": list(p.unstated), "sources": list(p.sources),
                          "details": _details(p.instrument)} for p in found]}


def _details(key: str) -> dict[str, Any]:
    for i in core_funding.load_instruments():
        if i.key == key:
            return {"by": i.raw["by"], "components": i.raw["components"], "how": i.raw["how"]}
    return {}


def instruments() -> list[dict[str, Any]]:
    return [i.raw for i in core_funding.load_instruments()]
