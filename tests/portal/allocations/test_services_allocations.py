"""The allocations services: grants, provisioning orders, usage charges; and the federation's sites."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, transaction

from aifactory.portal.allocations.models import Allocation, ProvisioningOrder, UsageCharge
from aifactory.portal.allocations.services import _add_months, allocation_charge, order_complete
from aifactory.portal.common.errors import BadRequest, Conflict, NotFound
from aifactory.portal.federation.selectors import site_by_token
from aifactory.portal.federation.services import catalog_sync, site_create, site_rotate_token
from tests.conftest import AllocationFactory, JobFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [(date(2026, 1, 31), 1, date(2026, 2, 28)), (date(2026, 11, 15), 3, date(2027, 2, 15)),
     (date(2024, 1, 31), 1, date(2024, 2, 29)), (date(2026, 12, 1), 12, date(2027, 12, 1))],
)
def test_add_months(start, months, end):
    assert _add_months(start, months) == end


def test_order_complete_is_idempotent_and_final(organisation, site):
    allocation = AllocationFactory(application__organisation=organisation, provisioned=False)
    order = ProvisioningOrder.objects.get(allocation=allocation)
    done = order_complete(site=site.site, order_id=order.pk, ok=True, message="ready")
    assert (done.state, done.message) == ("done", "ready")
    assert done.done_at is not None
    assert order_complete(site=site.site, order_id=order.pk, ok=True, message="again").message == "ready"
    with pytest.raises(Conflict):
        order_complete(site=site.site, order_id=order.pk, ok=False, message="changed")


def test_order_of_another_site_is_not_found(organisation, site, make_site):
    allocation = AllocationFactory(application__organisation=organisation, provisioned=False)
    order = ProvisioningOrder.objects.get(allocation=allocation)
    stranger = make_site(name="leonardo-q").site
    with pytest.raises(NotFound):
        order_complete(site=stranger, order_id=order.pk, ok=True, message="")
    assert ProvisioningOrder.objects.get(pk=order.pk).state == "pending"


def test_charge_once_per_job(allocation):
    job = JobFactory(allocation=allocation, state="completed")
    assert allocation_charge(allocation=allocation, job=job, gpu_seconds=60.0) is True
    assert allocation_charge(allocation=allocation, job=job, gpu_seconds=60.0) is False
    assert UsageCharge.objects.count() == 1
    assert Allocation.objects.get(pk=allocation.pk).gpu_seconds_used == 60.0


def test_constraints_hold_in_the_database(allocation):
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.filter(pk=allocation.pk).update(gpu_seconds_used=-1)


def test_sites_tokens_and_catalog(machines):
    assert catalog_sync() == len(machines)  # twice: still one row per machine
    site, token = site_create(name="vega-a", machine_key="vega")
    assert site_by_token(token) == site
    with pytest.raises(Conflict):
        site_create(name="vega-a", machine_key="vega")
    with pytest.raises(BadRequest):
        site_create(name="vega-b", machine_key="nowhere")
    new_token = site_rotate_token(site=site)
    assert site_by_token(token) is None
    assert site_by_token(new_token) == site
