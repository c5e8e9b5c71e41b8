"""Routing in the portal: accepted applications and the federation's machines as core/routing.py sees them.

Capacity of a machine for the open modes (Fast Lane): total GPUs x 8,760 hours x ACCESS_SHARE (a policy figure in
the settings), less the GPU-hours of the allocations on it that have not ended. A call routes its winners within
its own per-machine budgets instead (review.services).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from aifactory.core.catalog import Factory, load_catalog
from aifactory.core.routing import Project, Target
from aifactory.portal.access.models import Application
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.federation.models import Machine

HOURS_PER_YEAR = 8760.0


def _factories() -> dict[str, Factory]:
    return {f.key: f for f in load_catalog().factories}


def gpu_hours_of(application: Application) -> dict[str, float]:
    """GPU-hours asked for per machine: the split when given, else all on the machine asked for."""
    if application.machine_hours:
        return {str(k): float(v) for k, v in application.machine_hours.items()}
    return {application.machine.key: float(application.requested_gpu_hours)}


def project_of(application: Application, *, gpu_hours: float | None = None,
               allowed: Iterable[str] | None = None) -> Project:
    plan: Mapping[str, Any] = application.plan.get("plan", {})
    return Project(
        id=str(application.pk),
        sector=application.sector or application.organisation.sector,
        gpu_model=application.gpu or application.machine.gpu_model,
        gpus=application.gpus,
        memory_unsharded_gb=float(plan.get("memory_unsharded_gb", 0.0)),
        memory_sharded_gb=float(plan.get("memory_sharded_gb", 0.0)),
        gpu_hours=float(application.requested_gpu_hours if gpu_hours is None else gpu_hours),
        country=application.organisation.country,
        preferred=application.machine.key,
        allowed=None if allowed is None else frozenset(allowed),
    )


def target_of(machine: Machine, capacity: float) -> Target:
    factory = _factories().get(machine.factory) if machine.factory else None
    return Target(
        machine=machine.key,
        name=machine.name,
        factory=machine.factory or None,
        factory_name=factory.name if factory else None,
        sectors=factory.sectors if factory else None,
        gpu_model=machine.gpu_model or "unknown",
        gpu_memory_gb=machine.gpu_memory_gb,
        total_gpus=machine.total_gpus,
        capacity_gpu_hours=max(capacity, 0.0),
        country=factory.country if factory else machine.country,
        partner_countries=factory.partners if factory else (),
    )


def open_capacity(machines: Iterable[Machine]) -> dict[str, float]:
    """GPU-hours each machine can still take for the open modes (rule in the module doc); 0 when unknown."""
    today = timezone.localdate()
    out: dict[str, float] = {}
    for machine in machines:
        if not machine.total_gpus or not machine.gpu_model:
            out[machine.key] = 0.0
            continue
        held = Allocation.objects.filter(machine=machine, ends_on__gte=today).aggregate(h=Sum("gpu_hours"))["h"] or 0.0
        out[machine.key] = max(machine.total_gpus * HOURS_PER_YEAR * settings.ACCESS_SHARE - float(held), 0.0)
    return out


def factory_name(key: str) -> str:
    factory = _factories().get(key)
    return factory.name if factory else key
