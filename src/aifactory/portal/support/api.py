"""Support centres and requests under /api/v1/support."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.core import support as core_support
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import organisation_get
from aifactory.portal.support.models import SupportMessage, SupportRequest
from aifactory.portal.support.selectors import (
    centre_get,
    centre_queue,
    centres_catalog,
    clock_of,
    request_get,
    requests_visible,
)
from aifactory.portal.support.services import (
    centre_set_sla,
    request_answer,
    request_ask,
    request_close,
    request_open,
    request_reassign,
    request_reply,
)

router = Router(tags=["support"], auth=user_auth)


class RequestIn(In):
    organisation: int = Field(..., ge=1, strict=True)
    topic: str = Field(..., max_length=20, description="porting, algorithmic, data, access, ai_act or domain")
    title: str = Field(..., min_length=1, max_length=200)
    text: str = Field(..., min_length=1, max_length=20_000)
    sector: str = Field("", max_length=100)
    machine: str | None = Field(None, max_length=40, description="a machine key of the catalog")
    factory: str | None = Field(None, max_length=40, description="an AI Factory key of the catalog")


class BodyIn(In):
    body: str = Field(..., min_length=1, max_length=20_000)


class ReasonIn(In):
    reason: str = Field("", max_length=1000)


class ReassignIn(In):
    centre: str = Field(..., min_length=1, max_length=40)
    reason: str = Field(..., min_length=1, max_length=1000)


class SlaIn(In):
    days: int = Field(..., ge=1, le=60, strict=True)


class ClockOut(Schema):
    due: date
    state: str
    working_days_left: int
    escalated: bool


class MessageOut(Schema):
    kind: str
    author: str = Field(..., alias="author.username")
    body: str
    at: datetime
    mailed_to: str


class ChangeOut(Schema):
    from_state: str
    to_state: str
    reason: str
    at: datetime


class RequestOut(Schema):
    id: int
    organisation: int = Field(..., alias="organisation_id")
    topic: str
    sector: str
    machine: str | None = Field(None, alias="machine.key")
    factory: str
    title: str
    state: str
    centre: str | None = Field(None, alias="centre.key")
    route_reasons: list[str]
    sla_working_days: int | None
    opened_at: datetime
    first_answered_at: datetime | None
    clock: ClockOut | None

    @staticmethod
    def resolve_clock(r: SupportRequest) -> core_support.Clock | None:
        return clock_of(r)


class RequestDetailOut(RequestOut):
    messages: list[MessageOut]
    history: list[ChangeOut]

    @staticmethod
    def resolve_messages(r: SupportRequest) -> list[SupportMessage]:
        return list(r.messages.select_related("author"))


class OfferOut(Schema):
    offered: bool | None = Field(..., description="null: no source says")
    source: str | None


class CentreOut(Schema):
    """A support centre as shipped (what it offers, with sources; null: unknown) and the service level in force."""

    key: str
    factory: str
    name: str
    offers: dict[str, OfferOut]
    domains: list[str] | None
    domains_source: str | None
    contact: str | None
    first_answer_working_days: int | None
    first_answer_source: str | None
    sla_working_days: int
    sla_basis: str


class SlaOut(Schema):
    centre: str = Field(..., alias="key")
    first_answer_working_days: int | None


@router.get("/support/centres", auth=None, response=list[CentreOut])
def centres(request: HttpRequest) -> Any:
    """Every AI Factory's support centre: what it offers with sources (null: unknown) and its service level."""
    return centres_catalog()


@router.post("/support/centres/{key}/sla", response=SlaOut)
def centre_sla(request: HttpRequest, key: str, payload: SlaIn) -> Any:
    return centre_set_sla(centre=centre_get(user=request.user, key=key), user=request.user, days=payload.days)


@router.get("/support/centres/{key}/requests", response=list[RequestOut])
def centre_requests(request: HttpRequest, key: str) -> Any:
    """The centre's queue, escalated requests first (staff of the centre only)."""
    return [row.request for row in centre_queue(centre_get(user=request.user, key=key))]


@router.get("/support/requests", response=list[RequestOut])
def requests_list(request: HttpRequest) -> Any:
    return list(requests_visible(request.user))


@router.post("/support/requests", response={201: RequestDetailOut})
def requests_open(request: HttpRequest, payload: RequestIn) -> Any:
    org = organisation_get(user=request.user, pk=payload.organisation)
    created = request_open(user=request.user, organisation=org, topic=payload.topic, title=payload.title,
                           text=payload.text, sector=payload.sector, machine_key=payload.machine,
                           factory_key=payload.factory)
    return answer(201, created)


@router.get("/support/requests/{pk}", response=RequestDetailOut)
def request_detail(request: HttpRequest, pk: int) -> Any:
    return request_get(user=request.user, pk=pk)


@router.post("/support/requests/{pk}/answer", response=RequestDetailOut)
def request_answer_api(request: HttpRequest, pk: int, payload: BodyIn) -> Any:
    row = request_answer(request=request_get(user=request.user, pk=pk), user=request.user, body=payload.body)
    return row


@router.post("/support/requests/{pk}/ask", response=RequestDetailOut)
def request_ask_api(request: HttpRequest, pk: int, payload: BodyIn) -> Any:
    row = request_ask(request=request_get(user=request.user, pk=pk), user=request.user, body=payload.body)
    return row


@router.post("/support/requests/{pk}/reply", response=RequestDetailOut)
def request_reply_api(request: HttpRequest, pk: int, payload: BodyIn) -> Any:
    row = request_reply(request=request_get(user=request.user, pk=pk), user=request.user, body=payload.body)
    return row


@router.post("/support/requests/{pk}/close", response=RequestDetailOut)
def request_close_api(request: HttpRequest, pk: int, payload: ReasonIn) -> Any:
    row = request_close(request=request_get(user=request.user, pk=pk), user=request.user, reason=payload.reason)
    return row


@router.post("/support/requests/{pk}/reassign", response=RequestDetailOut)
def request_reassign_api(request: HttpRequest, pk: int, payload: ReassignIn) -> Any:
    row = request_reassign(request=request_get(user=request.user, pk=pk), user=request.user,
                           centre_key=payload.centre, reason=payload.reason)
    return row
