"""Call templates, open-science obligations and licence checks under /api/v1."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router

from aifactory.core import call_templates as core_templates
from aifactory.core import openscience
from aifactory.portal.common.errors import NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.obligations.models import Obligation
from aifactory.portal.obligations.selectors import is_overdue, obligation_get, obligations_visible, templates_shown
from aifactory.portal.obligations.services import (
    call_open_from_template,
    obligations_open,
    publication_submit,
    release_submit,
)
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.review.models import Call
from aifactory.portal.review.services import CriterionSpec

router = Router(tags=["open science"], auth=user_auth)


class CriterionIn(In):
    name: str = Field(..., min_length=1, max_length=60)
    weight: float = Field(..., gt=0, le=1000)


class TemplateCallIn(In):
    title: str = Field(..., min_length=3, max_length=200)
    deadline: datetime
    decision_by: date | None = None
    criteria: list[CriterionIn] = Field(..., min_length=1, max_length=20)
    budgets: dict[str, float] | None = Field(None, max_length=50, description="GPU-hours per machine; "
                                             "computed from the template's capacity share when empty")
    reviewers_per_proposal: int = Field(2, ge=1, le=20, strict=True)


class EntryIn(In):
    params: float = Field(..., gt=0, le=1e16)
    lead_eu_established: bool = Field(..., strict=True)
    lead_eu_controlled: bool | None = Field(None, strict=True)
    record_params: float | None = Field(None, gt=0, le=1e16)


class DueIn(In):
    due_on: date


class ReleaseIn(In):
    licence: str = Field(..., min_length=1, max_length=500, description="an SPDX licence expression")
    url: str = Field(..., min_length=8, max_length=500)


class PublicationIn(In):
    identifier: str = Field(..., min_length=1, max_length=300, description="a DOI or an arXiv id")


class LicenceCheckIn(In):
    licence: str = Field(..., min_length=1, max_length=500)
    template: str = Field(..., max_length=60)


def _out(o: Obligation) -> dict[str, Any]:
    t = core_templates.template(o.template)
    return {"id": o.pk, "call": o.call_id, "call_title": o.call.title, "application": o.application_id,
            "organisation": o.organisation.name, "template": o.template, "rule": t.rule.text,
            "release_required": t.rule.release_required, "due_on": o.due_on, "state": o.state,
            "overdue": is_overdue(o), "met_at": o.met_at,
            "evidence": [{"kind": e.kind, "licence": e.licence, "url": e.url, "identifier": e.identifier,
                          "reasons": e.reasons, "at": e.at} for e in o.evidence.all()]}


@router.get("/call-templates", response=list[dict[str, Any]])
def templates(request: HttpRequest) -> Any:
    """The call templates: the rules as each announcement states them, with their sources."""
    return templates_shown()


@router.post("/call-templates/{key}/open", response={201: dict[str, Any]})
def template_open(request: HttpRequest, key: str, payload: TemplateCallIn) -> Any:
    call = call_open_from_template(user=request.user, template=key, title=payload.title, deadline=payload.deadline,
                                   decision_by=payload.decision_by, budgets=payload.budgets,
                                   criteria=[CriterionSpec(c.name, c.weight) for c in payload.criteria],
                                   reviewers_per_proposal=payload.reviewers_per_proposal)
    return answer(201, {"id": call.pk, "title": call.title, "template": key, "winner_limit": call.winner_limit,
                        "budgets": {b.machine.key: b.gpu_hours for b in call.budgets.select_related("machine")},
                        "description": call.description})


@router.post("/call-templates/{key}/entry-check", response=dict[str, Any])
def entry_check(request: HttpRequest, key: str, payload: EntryIn) -> Any:
    """Whether an entry meets the template's entry rules, and which it does not."""
    t = core_templates.template(key)
    unmet = core_templates.check_entry(t, params=payload.params, lead_eu_established=payload.lead_eu_established,
                                       lead_eu_controlled=payload.lead_eu_controlled,
                                       record_params=payload.record_params)
    return {"template": key, "meets": not unmet, "unmet": list(unmet)}


@router.post("/licences/check", response=dict[str, Any])
def licence_check(request: HttpRequest, payload: LicenceCheckIn) -> Any:
    """Check a licence expression against a template's rule, storing nothing."""
    result = openscience.check_licence(payload.licence, core_templates.template(payload.template).rule)
    return {"expression": result.expression, "accepted": result.accepted, "reasons": list(result.reasons)}


@router.post("/calls/{call_id}/obligations", response={201: list[dict[str, Any]]})
def call_obligations(request: HttpRequest, call_id: int, payload: DueIn) -> Any:
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        raise NotFound(f"call {call_id} not found")
    return answer(201, [_out(o) for o in obligations_open(user=request.user, call=call, due_on=payload.due_on)])


@router.get("/obligations", response=list[dict[str, Any]])
def obligations(request: HttpRequest) -> Any:
    """One's organisations' obligations; for call managers, all of them, overdue ones marked."""
    return [_out(o) for o in obligations_visible(request.user)]


@router.get("/obligations/{pk}", response=dict[str, Any])
def obligation(request: HttpRequest, pk: int) -> Any:
    return _out(obligation_get(user=request.user, pk=pk))


@router.post("/obligations/{pk}/release", response=dict[str, Any])
def obligation_release(request: HttpRequest, pk: int, payload: ReleaseIn) -> Any:
    o = release_submit(user=request.user, obligation=obligation_get(user=request.user, pk=pk),
                       licence=payload.licence, url=payload.url)
    return _out(o)


@router.post("/obligations/{pk}/publication", response=dict[str, Any])
def obligation_publication(request: HttpRequest, pk: int, payload: PublicationIn) -> Any:
    o = publication_submit(user=request.user, obligation=obligation_get(user=request.user, pk=pk),
                           identifier=payload.identifier)
    return _out(o)
