from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from aifactory.portal.allocations.choices import OrderState
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.federation.models import Site


def allocations_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Allocation]:
    qs = Allocation.objects.select_related("machine", "organisation", "application")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(organisation__members=user)


def allocation_provisioned(allocation: Allocation) -> bool:
    return allocation.orders.filter(state=OrderState.DONE).exists()


def orders_pending(site: Site) -> QuerySet[ProvisioningOrder]:
    return ProvisioningOrder.objects.select_related("allocation").filter(site=site, state=OrderState.PENDING)
