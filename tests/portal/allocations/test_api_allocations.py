"""/allocations: list and read one, each only to its organisation's members."""

from __future__ import annotations

import pytest

from aifactory.portal.allocations.services import allocation_charge
from tests.conftest import AllocationFactory, JobFactory, OrganisationFactory, assert_refused

pytestmark = pytest.mark.django_db


def test_list_and_read(api, allocation):
    listed = api.get("/allocations").json()
    assert [a["id"] for a in listed] == [allocation.pk]
    one = api.get(f"/allocations/{allocation.pk}").json()
    assert one["machine"] == "leonardo"
    assert one["account"] == allocation.account
    assert one["gpu_hours"] == 100
    assert one["gpu_hours_used"] == 0
    assert one["provisioned"] is True


def test_usage_shows_in_hours(api, allocation):
    allocation_charge(allocation=allocation, job=JobFactory(allocation=allocation, state="completed"), gpu_seconds=5400)
    assert api.get(f"/allocations/{allocation.pk}").json()["gpu_hours_used"] == pytest.approx(1.5)


def test_not_provisioned_until_a_site_has_done_its_order(api, organisation):
    pending = AllocationFactory(application__organisation=organisation, provisioned=False)
    assert api.get(f"/allocations/{pending.pk}").json()["provisioned"] is False


def test_another_organisations_allocation_is_not_there(api, other_api, allocation, other_user):
    theirs = AllocationFactory(application__organisation=OrganisationFactory(members=[other_user]))
    assert [a["id"] for a in api.get("/allocations").json()] == [allocation.pk]
    assert_refused(api.get(f"/allocations/{theirs.pk}"), 404)
    assert_refused(other_api.get(f"/allocations/{allocation.pk}"), 404)


@pytest.mark.parametrize("allocation_id", ["424242", "0", "-3", "99999999999999999999999999", "one"])
def test_read_refuses_ids_that_are_not_there(api, allocation, allocation_id):
    assert_refused(api.get(f"/allocations/{allocation_id}"), (404, 422))
