"""The demo login of `make run` lands on a lived-in account: an organisation, an allocation, then finished jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.bootstrap import DEMO_ORGANISATION, DEMO_USER, seed_demo, seed_demo_jobs
from aifactory.portal.jobs.models import Job
from tests.conftest import UserFactory, login, text

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs"


def test_the_demo_login_gets_an_organisation_an_approved_application_and_an_allocation_once(site):
    user = UserFactory(username=DEMO_USER)
    allocation_id = seed_demo(machine="leonardo")
    allocation = Allocation.objects.get(pk=allocation_id)
    assert allocation.organisation.name == DEMO_ORGANISATION
    assert allocation.application.state == "approved"
    assert seed_demo(machine="leonardo") is None  # a second start changes nothing
    page = text(login(user).get("/dashboard/"))
    assert DEMO_ORGANISATION in page and allocation.account in page and "eligible" in page


def test_the_demo_jobs_are_submitted_once_the_site_has_made_the_account(site):
    UserFactory(username=DEMO_USER)
    allocation_id = seed_demo(machine="leonardo")
    assert seed_demo_jobs(allocation_id=allocation_id, examples=EXAMPLES, timeout_s=0.5) == []  # not provisioned
    ProvisioningOrder.objects.filter(allocation_id=allocation_id).update(state="done")
    uids = seed_demo_jobs(allocation_id=allocation_id, examples=EXAMPLES, timeout_s=5)
    assert sorted(Job.objects.filter(uid__in=uids).values_list("name", flat=True)) == ["smoke-test", "tiny-regression"]
