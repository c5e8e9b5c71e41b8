from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from aifactory.core.jobs import TERMINAL
from aifactory.portal.allocations.choices import OrderState
from aifactory.portal.allocations.models import Allocation, Notice, ProvisioningOrder
from aifactory.portal.federation.models import Site
from aifactory.portal.organisations.selectors import is_call_manager, operator_factories


def allocations_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Allocation]:
    qs = Allocation.objects.select_related("machine", "organisation", "application")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(organisation__members=user)


def allocations_visible(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Allocation]:
    """What the person may read: their organisations' allocations, those on the machines of the AI Factories they
    operate, and every allocation for call managers and staff. Using one (a job) stays with allocations_of."""
    qs = Allocation.objects.select_related("machine", "organisation", "application")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff or is_call_manager(user):
        return qs
    visible = Q(organisation__members=user)
    factories = operator_factories(user)
    if factories:
        visible |= Q(machine__factory__in=factories)
    return qs.filter(visible).distinct()


def allocation_provisioned(allocation: Allocation) -> bool:
    return allocation.orders.filter(state=OrderState.DONE).exists()


def orders_pending(site: Site) -> QuerySet[ProvisioningOrder]:
    return ProvisioningOrder.objects.select_related("allocation").filter(site=site, state=OrderState.PENDING)


def gpu_seconds_reserved(allocation: Allocation) -> float:
    """GPU-seconds the allocation's unfinished jobs may still use: their GPUs x time limits."""
    finished = [s.value for s in TERMINAL]
    rows = allocation.jobs.exclude(state__in=finished).values_list("gpus", "time_limit_s")
    return float(sum(g * t for g, t in rows))


def gpu_seconds_left(allocation: Allocation) -> float:
    """What a new job may still reserve: granted, less used, less what unfinished jobs may use (never below 0)."""
    return max(allocation.gpu_hours * 3600.0 - allocation.gpu_seconds_used - gpu_seconds_reserved(allocation), 0.0)


def notices_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Notice]:
    """Notices of the allocations of the user's organisations."""
    return Notice.objects.select_related("allocation", "allocation__machine").filter(
        allocation__in=allocations_of(user)
    )
