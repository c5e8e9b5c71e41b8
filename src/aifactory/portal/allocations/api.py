from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.portal.allocations.models import Allocation, Notice
from aifactory.portal.allocations.selectors import (
    allocation_provisioned,
    allocations_visible,
    gpu_seconds_left,
    gpu_seconds_reserved,
    notices_of,
    orders_pending,
)
from aifactory.portal.allocations.services import order_complete
from aifactory.portal.common.errors import NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.federation.auth import site_auth
from aifactory.portal.organisations.auth import user_auth

router = Router(tags=["allocations"], auth=user_auth)
agent_router = Router(tags=["agent"], auth=site_auth)


class AllocationOut(Schema):
    id: int
    organisation: int
    application: int
    machine: str
    account: str
    gpu_hours: float
    gpu_hours_used: float
    gpu_hours_reserved: float
    gpu_hours_left: float
    starts_on: date
    ends_on: date
    provisioned: bool


def _out(a: Allocation) -> dict[str, Any]:
    return {
        "id": a.pk, "organisation": a.organisation_id, "application": a.application_id, "machine": a.machine.key,
        "account": a.account, "gpu_hours": a.gpu_hours, "gpu_hours_used": a.gpu_hours_used,
        "gpu_hours_reserved": gpu_seconds_reserved(a) / 3600, "gpu_hours_left": gpu_seconds_left(a) / 3600,
        "starts_on": a.starts_on, "ends_on": a.ends_on, "provisioned": allocation_provisioned(a),
    }


@router.get("/allocations", response=list[AllocationOut])
def allocations(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(a) for a in allocations_visible(request.user)]


@router.get("/allocations/{allocation_id}", response=AllocationOut)
def allocation(request: HttpRequest, allocation_id: int) -> dict[str, Any]:
    a = allocations_visible(request.user).filter(pk=allocation_id).first()
    if a is None:
        raise NotFound(f"allocation {allocation_id} not found")
    return _out(a)


class NoticeOut(Schema):
    id: int
    allocation: int
    account: str
    machine: str
    threshold: int
    gpu_hours_used: float
    gpu_hours: float
    message: str
    created_at: datetime


def _notice(n: Notice) -> dict[str, Any]:
    return {"id": n.pk, "allocation": n.allocation_id, "account": n.allocation.account,
            "machine": n.allocation.machine.key, "threshold": n.threshold, "gpu_hours_used": n.gpu_hours_used,
            "gpu_hours": n.gpu_hours, "message": n.message, "created_at": n.created_at}


@router.get("/notices", response=list[NoticeOut], summary="Usage notices (80 % and 100 %) of your allocations")
def notices(request: HttpRequest) -> list[dict[str, Any]]:
    return [_notice(n) for n in notices_of(request.user)[:500]]


# The agent's provisioning orders (a site's token)

class OrderOut(Schema):
    id: int
    account: str
    gpu_minutes: int


class OrderDoneIn(In):
    ok: bool
    message: str = Field("", max_length=2000)


@agent_router.get("/orders", response=list[OrderOut])
def orders(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"id": o.pk, "account": o.allocation.account, "gpu_minutes": int(round(o.allocation.gpu_hours * 60))}
        for o in orders_pending(request.auth)
    ]


@agent_router.post("/orders/{order_id}", response={204: None})
def order_done(request: HttpRequest, order_id: int, body: OrderDoneIn) -> Any:
    order_complete(site=request.auth, order_id=order_id, ok=body.ok, message=body.message)
    return answer(204, None)
