"""Writes of the allocations context: grants, provisioning orders, usage charges."""

from __future__ import annotations

import calendar
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Model
from django.utils import timezone

from aifactory.portal.allocations.choices import ORDER_TRANSITIONS, OrderState
from aifactory.portal.allocations.models import (
    NOTICE_THRESHOLDS,
    Allocation,
    Notice,
    OrderStateChange,
    ProvisioningOrder,
    UsageCharge,
)
from aifactory.portal.common.errors import BadRequest, Conflict, NotFound
from aifactory.portal.federation.models import Machine, Site
from aifactory.portal.federation.services import site_wake
from aifactory.portal.mail.choices import MailKind
from aifactory.portal.mail.services import mail_send
from aifactory.portal.organisations.selectors import team_addresses


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@transaction.atomic
def allocation_create(
    *,
    application: Model,
    machine: Machine | None = None,
    gpu_hours: float | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> Allocation:
    """Grant GPU-hours on one machine and order each of the machine's sites to provision the account.

    Without arguments: the application's requested GPU-hours on its own machine, from today for its months.
    An application funded on several machines gets one allocation per machine; its first account is
    `<prefix>-p<application id>`, the others add `-<machine key>`.

    `application` is an access.Application: allocations sit below access in the portal's order (access and
    review grant, jobs charge), so this ledger knows an application by its row, never by its code.
    """
    machine = machine if machine is not None else application.machine
    hours = application.requested_gpu_hours if gpu_hours is None else gpu_hours
    if not hours > 0:
        raise BadRequest(f"gpu_hours: must be positive, not {hours!r}", {"field": "gpu_hours"})
    starts = starts_on if starts_on is not None else timezone.localdate()
    ends = ends_on if ends_on is not None else _add_months(starts, application.months)
    if ends <= starts:
        raise BadRequest("ends_on: must be after starts_on", {"field": "ends_on"})
    if Allocation.objects.filter(application=application, machine=machine).exists():
        raise Conflict(
            f"machine: application {application.pk} has an allocation on {machine.key} already", {"field": "machine"}
        )
    account = f"{settings.ACCOUNT_PREFIX}-p{application.pk}"
    if Allocation.objects.filter(application=application).exists():
        account = f"{account}-{machine.key}"
    allocation = Allocation.objects.create(
        application=application,
        organisation=application.organisation,
        machine=machine,
        account=account,
        gpu_hours=hours,
        starts_on=starts,
        ends_on=ends,
    )
    sites = list(Site.objects.filter(machine=machine))
    for site in sites:
        ProvisioningOrder.objects.create(allocation=allocation, site=site)
    site_wake(site_ids=[site.pk for site in sites])
    return allocation


@transaction.atomic
def order_complete(*, site: Site, order_id: int, ok: bool, message: str) -> ProvisioningOrder:
    order = ProvisioningOrder.objects.select_for_update().filter(pk=order_id, site=site).first()
    if order is None:
        raise NotFound(f"provisioning order {order_id} not found for this site")
    target = OrderState.DONE if ok else OrderState.FAILED
    if order.state == target:
        return order  # the agent repeats itself after a crash: harmless
    if not ORDER_TRANSITIONS.allowed(order.state, target):
        raise Conflict(f"order {order_id} is {order.state} already")
    OrderStateChange.objects.create(order=order, from_state=order.state, to_state=target.value, reason=message[:2000])
    order.state = target.value
    order.message = message[:2000]
    order.done_at = timezone.now()
    order.save(update_fields=["state", "message", "done_at"])
    return order


def allocation_reserve(*, allocation: Allocation, gpu_seconds: int) -> bool:
    """Reserve a job's GPUs x time limit on the allocation if that much is left (granted, less used, less reserved),
    with one conditional UPDATE and no lock taken beforehand; False when it is not left. The row stays locked by
    the UPDATE until the caller's transaction ends, so the caller writes the job first and reserves last, in the
    same transaction, and rolls it back when this says False.
    Two submissions that race for the last hours are ordered by the database: the second re-reads the row after
    the first commits and finds the hours gone."""
    left = F("gpu_hours") * 3600.0 - F("gpu_seconds_used") - F("gpu_seconds_reserved")
    updated = (Allocation.objects.filter(pk=allocation.pk).alias(left=left).filter(left__gte=gpu_seconds)
               .update(gpu_seconds_reserved=F("gpu_seconds_reserved") + gpu_seconds))
    if updated:
        allocation.gpu_seconds_reserved += gpu_seconds  # the object in hand agrees with its row
    return bool(updated)


def allocation_hold(*, allocation: Allocation, gpu_seconds: int) -> None:
    """Reserve without the check (a job that stays on its allocation, or whose hours were checked under its row
    lock): one UPDATE."""
    Allocation.objects.filter(pk=allocation.pk).update(gpu_seconds_reserved=F("gpu_seconds_reserved") + gpu_seconds)
    allocation.gpu_seconds_reserved += gpu_seconds


def allocation_release(*, allocation_id: int, gpu_seconds: int) -> None:
    """Give back a job's reservation: it ended, was cancelled or moved to another allocation."""
    Allocation.objects.filter(pk=allocation_id).update(gpu_seconds_reserved=F("gpu_seconds_reserved") - gpu_seconds)


def allocation_charge(*, allocation: Allocation, job: object, gpu_seconds: float) -> bool:
    """Charge a finished job's GPU usage once; returns False if it was charged already."""
    try:
        with transaction.atomic():
            UsageCharge.objects.create(allocation=allocation, job=job, gpu_seconds=gpu_seconds)
            allocation_add_usage(allocation=allocation, gpu_seconds=gpu_seconds)
    except IntegrityError:
        return False
    return True


@transaction.atomic
def allocation_add_usage(*, allocation: Allocation, gpu_seconds: float) -> list[Notice]:
    """Add GPU usage to the allocation and record a notice for each threshold (80 %, 100 %) it now has crossed
    for the first time; returns the notices recorded now. The caller makes sure the usage is counted once."""
    Allocation.objects.filter(pk=allocation.pk).update(gpu_seconds_used=F("gpu_seconds_used") + gpu_seconds)
    fresh = Allocation.objects.get(pk=allocation.pk)
    used_hours = fresh.gpu_seconds_used / 3600.0
    raised: list[Notice] = []
    for threshold in NOTICE_THRESHOLDS:
        if used_hours < fresh.gpu_hours * threshold / 100.0:
            continue
        if Notice.objects.filter(allocation=fresh, threshold=threshold).exists():
            continue
        try:
            with transaction.atomic():
                notice = Notice.objects.create(allocation=fresh, threshold=threshold, gpu_hours_used=used_hours,
                                               gpu_hours=fresh.gpu_hours)
        except IntegrityError:
            continue  # recorded by a concurrent charge: once per threshold
        raised.append(notice)
        _mail_notice(notice)
    return raised


def _mail_notice(notice: Notice) -> None:
    """E-mail the allocation's principal investigators and contacts (queued; once per notice)."""
    to = team_addresses(notice.allocation.organisation)
    if not to:
        return
    mail_send(
        to=to, kind=MailKind.ALLOCATION_100 if notice.threshold >= 100 else MailKind.ALLOCATION_80,
        key=f"allocation-notice-{notice.pk}",
        subject=f"{notice.allocation.account}: {notice.threshold} % of the GPU-hours used",
        body=(f"{notice.message}.\n\nThe allocation's usage, job by job: "
              f"{settings.PUBLIC_URL}/allocations/{notice.allocation_id}/\n"),
    )
