"""Call templates, open-science obligations and licence checks under /api/v1."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.core import call_templates as core_templates
from aifactory.core import openscience
from aifactory.portal.common.errors import NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import Figure, In
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


class OpenScienceOut(Schema):
    """A template's open-science rule, as its announcement states it."""

    text: str
    release_required: bool = Field(..., description="a release is required; a publication alone does not meet it")
    categories: list[str] = Field(..., description="licence categories that meet the rule")
    also: list[str] = Field(..., description="licences that meet it besides those categories")
    any_known: bool = Field(..., description="any known licence meets it")


class CapacityPrizeOut(Schema):
    gpu_hours: int
    gpus_counted: int
    machines_left_out: list[str] = Field(..., description="machines whose GPU count no source gives")
    note: str


class CallTemplateOut(Schema):
    """A call template (core.call_templates) as its announcement states it; null where it states nothing."""

    key: str
    title: str
    mode: str
    launched: str = Field(..., description="the day or month it was launched")
    winner_limit: int | None
    prize_eur: Figure | None
    prize_note: str | None
    gpu_hours_per_winner: Figure | None
    capacity_share: Figure | None = Field(..., description="the share of the federation's capacity it offers")
    months: int | None
    machines: list[str] | None
    open_science: OpenScienceOut
    entry: dict[str, Any] = Field(..., description="the entry rules as stated: min_params, lead_eu_established, "
                                  "lead_eu_controlled, record_min_params (null: no such rule), and the "
                                  "announcement's further notes where it has some")
    source: str
    capacity_prize: CapacityPrizeOut | None = Field(..., description="the capacity share in GPU-hours, from the "
                                                    "catalog")


class CallOpenedOut(Schema):
    """A call opened from a template (a Call)."""

    id: int
    title: str
    template: str = Field(..., alias="rule.template")
    winner_limit: int | None
    budgets: dict[str, float] = Field(..., description="GPU-hours per machine")
    description: str

    @staticmethod
    def resolve_budgets(call: Call) -> dict[str, float]:
        return {b.machine.key: b.gpu_hours for b in call.budgets.select_related("machine")}


class EntryCheckOut(Schema):
    template: str
    meets: bool
    unmet: list[str] = Field(..., description="the entry rules the entry does not meet")


class LicenceCheckOut(Schema):
    """A licence expression judged against a template's rule (core.openscience.LicenceCheck)."""

    expression: str = Field(..., description="normalised")
    accepted: bool
    reasons: list[str]


class EvidenceOut(Schema):
    """A release or a publication reported for an obligation (an Evidence)."""

    kind: str
    licence: str
    url: str
    identifier: str
    reasons: list[str]
    at: datetime


class ObligationOut(Schema):
    """A winner's open-science obligation (an Obligation), with the rule that applies and its evidence."""

    id: int
    call: int = Field(..., alias="call_id")
    call_title: str = Field(..., alias="call.title")
    application: int = Field(..., alias="application_id")
    organisation: str = Field(..., alias="organisation.name")
    template: str
    rule: str
    release_required: bool
    due_on: date
    state: str
    overdue: bool
    met_at: datetime | None
    evidence: list[EvidenceOut]

    @staticmethod
    def resolve_rule(o: Obligation) -> str:
        return core_templates.template(o.template).rule.text

    @staticmethod
    def resolve_release_required(o: Obligation) -> bool:
        return core_templates.template(o.template).rule.release_required

    @staticmethod
    def resolve_overdue(o: Obligation) -> bool:
        return is_overdue(o)


@router.get("/call-templates", response=list[CallTemplateOut])
def templates(request: HttpRequest) -> Any:
    """The call templates: the rules as each announcement states them, with their sources."""
    return templates_shown()


@router.post("/call-templates/{key}/open", response={201: CallOpenedOut})
def template_open(request: HttpRequest, key: str, payload: TemplateCallIn) -> Any:
    call = call_open_from_template(user=request.user, template=key, title=payload.title, deadline=payload.deadline,
                                   decision_by=payload.decision_by, budgets=payload.budgets,
                                   criteria=[CriterionSpec(c.name, c.weight) for c in payload.criteria],
                                   reviewers_per_proposal=payload.reviewers_per_proposal)
    return answer(201, call)


@router.post("/call-templates/{key}/entry-check", response=EntryCheckOut)
def entry_check(request: HttpRequest, key: str, payload: EntryIn) -> Any:
    """Whether an entry meets the template's entry rules, and which it does not."""
    t = core_templates.template(key)
    unmet = core_templates.check_entry(t, params=payload.params, lead_eu_established=payload.lead_eu_established,
                                       lead_eu_controlled=payload.lead_eu_controlled,
                                       record_params=payload.record_params)
    return {"template": key, "meets": not unmet, "unmet": list(unmet)}


@router.post("/licences/check", response=LicenceCheckOut)
def licence_check(request: HttpRequest, payload: LicenceCheckIn) -> Any:
    """Check a licence expression against a template's rule, storing nothing."""
    result = openscience.check_licence(payload.licence, core_templates.template(payload.template).rule)
    return result


@router.post("/calls/{call_id}/obligations", response={201: list[ObligationOut]})
def call_obligations(request: HttpRequest, call_id: int, payload: DueIn) -> Any:
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        raise NotFound(f"call {call_id} not found")
    return answer(201, obligations_open(user=request.user, call=call, due_on=payload.due_on))


@router.get("/obligations", response=list[ObligationOut])
def obligations(request: HttpRequest) -> Any:
    """One's organisations' obligations; for call managers, all of them, overdue ones marked."""
    return obligations_visible(request.user)


@router.get("/obligations/{pk}", response=ObligationOut)
def obligation(request: HttpRequest, pk: int) -> Obligation:
    return obligation_get(user=request.user, pk=pk)


@router.post("/obligations/{pk}/release", response=ObligationOut)
def obligation_release(request: HttpRequest, pk: int, payload: ReleaseIn) -> Obligation:
    o = release_submit(user=request.user, obligation=obligation_get(user=request.user, pk=pk),
                       licence=payload.licence, url=payload.url)
    return o


@router.post("/obligations/{pk}/publication", response=ObligationOut)
def obligation_publication(request: HttpRequest, pk: int, payload: PublicationIn) -> Obligation:
    o = publication_submit(user=request.user, obligation=obligation_get(user=request.user, pk=pk),
                           identifier=payload.identifier)
    return o
