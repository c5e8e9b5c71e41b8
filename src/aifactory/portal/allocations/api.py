from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.portal.allocations.models import Allocation, Notice, ProvisioningOrder
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
    organisation: int = Field(..., alias="organisation_id")
    application: int = Field(..., alias="application_id")
    machine: str = Field(..., alias="machine.key")
    account: str
    gpu_hours: float
    gpu_hours_used: float
    gpu_hours_reserved: float
    gpu_hours_left: float
    starts_on: date
    ends_on: date
    provisioned: bool

    @staticmethod
    def resolve_gpu_hours_reserved(a: Allocation) -> float:
        return gpu_seconds_reserved(a) / 3600

    @staticmethod
    def resolve_gpu_hours_left(a: Allocation) -> float:
        return gpu_seconds_left(a) / 3600

    @staticmethod
    def resolve_provisioned(a: Allocation) -> bool:
        return allocation_provisioned(a)


@router.get("/allocations", response=list[AllocationOut])
def allocations(request: HttpRequest) -> list[Allocation]:
    return list(allocations_visible(request.user))


@router.get("/allocations/{allocation_id}", response=AllocationOut)
def allocation(request: HttpRequest, allocation_id: int) -> Allocation:
    a = allocations_visible(request.user).filter(pk=allocation_id).first()
    if a is None:
        raise NotFound(f"allocation {allocation_id} not found")
    return a


class NoticeOut(Schema):
    id: int
    allocation: int = Field(..., alias="allocation_id")
    account: str = Field(..., alias="allocation.account")
    machine: str = Field(..., alias="allocation.machine.key")
    threshold: int
    gpu_hours_used: float
    gpu_hours: float
    message: str
    created_at: datetime


@router.get("/notices", response=list[NoticeOut], summary="Usage notices (80 % and 100 %) of your allocations")
def notices(request: HttpRequest) -> list[Notice]:
    return list(notices_of(request.user)[:500])


# The agent's provisioning orders (a site's token)

class OrderOut(Schema):
    id: int
    account: str = Field(..., alias="allocation.account")
    gpu_minutes: int

    @staticmethod
    def resolve_gpu_minutes(o: ProvisioningOrder) -> int:
        return int(round(o.allocation.gpu_hours * 60))


class OrderDoneIn(In):
    ok: bool
    message: str = Field("", max_length=2000)


@agent_router.get("/orders", response=list[OrderOut])
def orders(request: HttpRequest) -> list[ProvisioningOrder]:
    return list(orders_pending(request.auth))


@agent_router.post("/orders/{order_id}", response={204: None})
def order_done(request: HttpRequest, order_id: int, body: OrderDoneIn) -> Any:
    order_complete(site=request.auth, order_id=order_id, ok=body.ok, message=body.message)
    return answer(204, None)
