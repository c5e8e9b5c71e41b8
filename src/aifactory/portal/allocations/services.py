"""Writes of the allocations context: grants, provisioning orders, usage charges."""

from __future__ import annotations

import calendar
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from aifactory.portal.access.models import Application
from aifactory.portal.allocations.choices import OrderState
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder, UsageCharge
from aifactory.portal.common.errors import Conflict, NotFound
from aifactory.portal.federation.models import Site


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@transaction.atomic
def allocation_create(*, application: Application) -> Allocation:
    """Grant the application's GPU-hours on its machine and order each of the machine's sites to provision it."""
    starts = timezone.localdate()
    allocation = Allocation.objects.create(
        application=application,
        organisation=application.organisation,
        machine=application.machine,
        account=f"{settings.ACCOUNT_PREFIX}-p{application.pk}",
        gpu_hours=application.requested_gpu_hours,
        starts_on=starts,
        ends_on=_add_months(starts, application.months),
    )
    for site in Site.objects.filter(machine=application.machine):
        ProvisioningOrder.objects.create(allocation=allocation, site=site)
    return allocation


@transaction.atomic
def order_complete(*, site: Site, order_id: int, ok: bool, message: str) -> ProvisioningOrder:
    order = ProvisioningOrder.objects.select_for_update().filter(pk=order_id, site=site).first()
    if order is None:
        raise NotFound(f"provisioning order {order_id} not found for this site")
    target = OrderState.DONE if ok else OrderState.FAILED
    if order.state == target:
        return order  # the agent repeats itself after a crash: harmless
    if order.state != OrderState.PENDING:
        raise Conflict(f"order {order_id} is {order.state} already")
    order.state = target
    order.message = message[:2000]
    order.done_at = timezone.now()
    order.save(update_fields=["state", "message", "done_at"])
    return order


def allocation_charge(*, allocation: Allocation, job: object, gpu_seconds: float) -> bool:
    """Charge a finished job's GPU usage once; returns False if it was charged already."""
    try:
        with transaction.atomic():
            UsageCharge.objects.create(allocation=allocation, job=job, gpu_seconds=gpu_seconds)
            Allocation.objects.filter(pk=allocation.pk).update(gpu_seconds_used=F("gpu_seconds_used") + gpu_seconds)
    except IntegrityError:
        return False
    return True
