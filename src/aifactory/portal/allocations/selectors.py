from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import BigIntegerField, F, QuerySet, Sum

from aifactory.core.jobs import TERMINAL
from aifactory.portal.allocations.choices import OrderState
from aifactory.portal.allocations.models import Allocation, Notice, ProvisioningOrder
from aifactory.portal.common.errors import NotFound
from aifactory.portal.federation.models import Site
from aifactory.portal.organisations.selectors import organisations_acted_for, readable_by


def allocations_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Allocation]:
    qs = Allocation.objects.select_related("machine", "organisation", "application")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(organisation__members=user)


def allocations_acted_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Allocation]:
    """The allocations a person submits jobs on: their organisations' (organisations_acted_for), staff included."""
    return allocations_of(user).filter(organisation__in=organisations_acted_for(user))


def allocations_visible(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Allocation]:
    """What the person may read: their organisations' allocations, those on the machines of the AI Factories they
    operate, and every allocation for call managers and staff. Using one (a job) stays with allocations_of."""
    qs = Allocation.objects.select_related("machine", "organisation", "application")
    return readable_by(user, qs, organisation="organisation", factory="machine__factory")


def allocation_provisioned(allocation: Allocation) -> bool:
    return allocation.orders.filter(state=OrderState.DONE).exists()


def orders_pending(site: Site) -> QuerySet[ProvisioningOrder]:
    return ProvisioningOrder.objects.select_related("allocation").filter(site=site, state=OrderState.PENDING)


def gpu_seconds_reserved(allocation: Allocation) -> float:
    """GPU-seconds the allocation's unfinished jobs may still use: their GPUs x time limits (the counter kept with
    the jobs, as of when the row was read)."""
    return float(allocation.gpu_seconds_reserved)


def gpu_seconds_reserved_by_jobs(allocation: Allocation) -> int:
    """The same figure summed over the unfinished jobs: what the counter must equal (audits and tests)."""
    finished = [s.value for s in TERMINAL]
    total = allocation.jobs.exclude(state__in=finished).aggregate(
        reserved=Sum(F("gpus") * F("time_limit_s"), output_field=BigIntegerField()))["reserved"]
    return int(total or 0)


def gpu_seconds_left(allocation: Allocation) -> float:
    """What a new job may still reserve: granted, less used, less what unfinished jobs may use (never below 0)."""
    return max(allocation.gpu_hours * 3600.0 - allocation.gpu_seconds_used - gpu_seconds_reserved(allocation), 0.0)


def notices_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Notice]:
    """Notices of the allocations of the user's organisations."""
    return Notice.objects.select_related("allocation", "allocation__machine").filter(
        allocation__in=allocations_of(user)
    )


def allocation_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Allocation:
    """An allocation the person may read (allocations_visible), or NotFound."""
    found = allocations_visible(user).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"allocation {pk} not found")
    return found


@dataclass(frozen=True)
class UsageEvent:
    """One charge to an allocation: a finished job, or the copy of a job that a site ran before it moved."""

    at: datetime
    job_uid: str
    job_name: str
    gpu_seconds: float
    used_hours: float  # cumulative GPU-hours used after this charge
    left_hours: float  # granted less used after this charge (may fall below 0 when a last job overran)


def allocation_window(allocation: Allocation) -> tuple[datetime, datetime]:
    """The allocation's validity as instants: from the start of its first day to the start of its last."""
    start = datetime.combine(allocation.starts_on, time.min, tzinfo=UTC)
    end = datetime.combine(allocation.ends_on, time.min, tzinfo=UTC)
    return min(start, allocation.created_at), end


def usage_by(field: str) -> list[dict[str, Any]]:
    """GPU-hours granted and used, summed by an allocation field ("machine__key", "organisation__sector"), with the
    number of allocations: the observer's figures (aggregates only)."""
    rows: dict[str, dict[str, Any]] = {}
    for key, granted, used in Allocation.objects.values_list(field, "gpu_hours", "gpu_seconds_used"):
        name = str(key or "").strip().lower() or "unknown"
        row = rows.setdefault(name, {"key": name, "allocations": 0, "gpu_hours_granted": 0.0, "gpu_hours_used": 0.0})
        row["allocations"] += 1
        row["gpu_hours_granted"] += granted
        row["gpu_hours_used"] += used / 3600.0
    return sorted(rows.values(), key=lambda r: (-r["gpu_hours_granted"], r["key"]))


def orders_pending_at(sites: list[Site]) -> QuerySet[ProvisioningOrder]:
    """Provisioning orders the sites' agents have not carried out yet, oldest first."""
    return ProvisioningOrder.objects.select_related("allocation", "allocation__organisation", "site").filter(
        site__in=sites, state=OrderState.PENDING
    ).order_by("created_at", "pk")


def allocations_on_factories(factories: list[str]) -> QuerySet[Allocation]:
    """The allocations on the machines of the given AI Factories (an operator's view)."""
    return Allocation.objects.select_related("machine", "organisation", "application").filter(
        machine__factory__in=factories
    )
