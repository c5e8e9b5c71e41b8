"""Support centres and requests under /api/v1/support."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import organisation_get
from aifactory.portal.support.models import SupportRequest
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
    author: str
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
    organisation: int
    topic: str
    sector: str
    machine: str | None
    factory: str
    title: str
    state: str
    centre: str | None
    route_reasons: list[str]
    sla_working_days: int | None
    opened_at: datetime
    first_answered_at: datetime | None
    clock: ClockOut | None


class RequestDetailOut(RequestOut):
    messages: list[MessageOut]
    history: list[ChangeOut]


def _out(r: SupportRequest, *, detail: bool = False) -> dict[str, Any]:
    clock = clock_of(r)
    row: dict[str, Any] = {
        "id": r.pk, "organisation": r.organisation_id, "topic": r.topic, "sector": r.sector,
        "machine": r.machine.key if r.machine else None, "factory": r.factory, "title": r.title, "state": r.state,
        "centre": r.centre.key if r.centre else None, "route_reasons": list(r.route_reasons),
        "sla_working_days": r.sla_working_days, "opened_at": r.opened_at, "first_answered_at": r.first_answered_at,
        "clock": None if clock is None else {"due": clock.due, "state": clock.state,
                                             "working_days_left": clock.working_days_left,
                                             "escalated": clock.escalated},
    }
    if detail:
        row["messages"] = [{"kind": m.kind, "author": m.author.get_username(), "body": m.body, "at": m.at,
                            "mailed_to": m.mailed_to} for m in r.messages.select_related("author")]
        row["history"] = [{"from_state": h.from_state, "to_state": h.to_state, "reason": h.reason, "at": h.at}
                          for h in r.history.all()]
    return row


@router.get("/support/centres", auth=None, response=list[dict[str, Any]])
def centres(request: HttpRequest) -> Any:
    """Every AI Factory's support centre: what it offers with sources (null: unknown) and its service level."""
    return centres_catalog()


@router.post("/support/centres/{key}/sla", response=dict[str, Any])
def centre_sla(request: HttpRequest, key: str, payload: SlaIn) -> Any:
    centre = centre_set_sla(centre=centre_get(user=request.user, key=key), user=request.user, days=payload.days)
    return {"centre": centre.key, "first_answer_working_days": centre.first_answer_working_days}


@router.get("/support/centres/{key}/requests", response=list[RequestOut])
def centre_requests(request: HttpRequest, key: str) -> Any:
    """The centre's queue, escalated requests first (staff of the centre only)."""
    return [_out(row.request) for row in centre_queue(centre_get(user=request.user, key=key))]


@router.get("/support/requests", response=list[RequestOut])
def requests_list(request: HttpRequest) -> Any:
    return [_out(r) for r in requests_visible(request.user)]


@router.post("/support/requests", response={201: RequestDetailOut})
def requests_open(request: HttpRequest, payload: RequestIn) -> Any:
    org = organisation_get(user=request.user, pk=payload.organisation)
    created = request_open(user=request.user, organisation=org, topic=payload.topic, title=payload.title,
                           text=payload.text, sector=payload.sector, machine_key=payload.machine,
                           factory_key=payload.factory)
    return answer(201, _out(created, detail=True))


@router.get("/support/requests/{pk}", response=RequestDetailOut)
def request_detail(request: HttpRequest, pk: int) -> Any:
    return _out(request_get(user=request.user, pk=pk), detail=True)


@router.post("/support/requests/{pk}/answer", response=RequestDetailOut)
def request_answer_api(request: HttpRequest, pk: int, payload: BodyIn) -> Any:
    row = request_answer(request=request_get(user=request.user, pk=pk), user=request.user, body=payload.body)
    return _out(row, detail=True)


@router.post("/support/requests/{pk}/ask", response=RequestDetailOut)
def request_ask_api(request: HttpRequest, pk: int, payload: BodyIn) -> Any:
    row = request_ask(request=request_get(user=request.user, pk=pk), user=request.user, body=payload.body)
    return _out(row, detail=True)


@router.post("/support/requests/{pk}/reply", response=RequestDetailOut)
def request_reply_api(request: HttpRequest, pk: int, payload: BodyIn) -> Any:
    row = request_reply(request=request_get(user=request.user, pk=pk), user=request.user, body=payload.body)
    return _out(row, detail=True)


@router.post("/support/requests/{pk}/close", response=RequestDetailOut)
def request_close_api(request: HttpRequest, pk: int, payload: ReasonIn) -> Any:
    row = request_close(request=request_get(user=request.user, pk=pk), user=request.user, reason=payload.reason)
    return _out(row, detail=True)


@router.post("/support/requests/{pk}/reassign", response=RequestDetailOut)
def request_reassign_api(request: HttpRequest, pk: int, payload: ReassignIn) -> Any:
    row = request_reassign(request=request_get(user=request.user, pk=pk), user=request.user,
                           centre_key=payload.centre, reason=payload.reason)
    return _out(row, detail=True)
