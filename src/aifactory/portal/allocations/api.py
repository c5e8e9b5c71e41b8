from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from aifactory.portal.allocations.models import Allocation
from aifactory.portal.allocations.selectors import allocation_provisioned, allocations_of
from aifactory.portal.common.auth import user_auth
from aifactory.portal.common.errors import NotFound

router = Router(tags=["allocations"], auth=user_auth)


class AllocationOut(Schema):
    id: int
    organisation: int
    application: int
    machine: str
    account: str
    gpu_hours: float
    gpu_hours_used: float
    starts_on: date
    ends_on: date
    provisioned: bool


def _out(a: Allocation) -> dict[str, Any]:
    return {
        "id": a.pk, "organisation": a.organisation_id, "application": a.application_id, "machine": a.machine.key,
        "account": a.account, "gpu_hours": a.gpu_hours, "gpu_hours_used": a.gpu_hours_used,
        "starts_on": a.starts_on, "ends_on": a.ends_on, "provisioned": allocation_provisioned(a),
    }


@router.get("/allocations", response=list[AllocationOut])
def allocations(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(a) for a in allocations_of(request.user)]


@router.get("/allocations/{allocation_id}", response=AllocationOut)
def allocation(request: HttpRequest, allocation_id: int) -> dict[str, Any]:
    a = allocations_of(request.user).filter(pk=allocation_id).first()
    if a is None:
        raise NotFound(f"allocation {allocation_id} not found")
    return _out(a)
