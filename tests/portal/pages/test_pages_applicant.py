"""The applicant's pages: the organisation's profile with its eligibility and screening, the dashboard's promised
and actual decision times, and an allocation's burn-down with its charges as a chart, a table and CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from aifactory.core.jobs import JobState
from aifactory.portal.access.services import application_submit
from aifactory.portal.allocations.models import UsageCharge
from aifactory.portal.allocations.selectors import usage_by
from aifactory.portal.allocations.services import allocation_charge
from aifactory.portal.jobs.selectors import usage_history
from aifactory.portal.organisations.models import RelatedEnterprise
from tests.conftest import AllocationFactory, JobFactory, OrganisationFactory, login, text

pytestmark = pytest.mark.django_db


def test_profile_shows_eligibility_with_its_basis(user, organisation):
    page = text(login(user).get(f"/organisations/{organisation.pk}/"))
    assert 'data-testid="eligibility">eligible' in page
    assert "Germany is a member state of the European Union" in page
    assert "Source:" in page


def test_profile_of_an_organisation_outside_the_union_says_why_not(user, site):
    org = OrganisationFactory(name="Bay Labs", country="US", members=[user])
    RelatedEnterprise.objects.create(organisation=org, name="Parent Inc", relation="linked", headcount=300,
                                     turnover_eur=60_000_000, balance_sheet_eur=50_000_000)
    page = text(login(user).get(f"/organisations/{org.pk}/"))
    assert "not eligible" in page
    assert "United States" in page and "are not eligible on" in page
    assert "Parent Inc" in page and "Linked enterprise" in page


def test_profile_lists_applications_with_their_screening_and_decision_times(user, organisation):
    plan = {"machine_key": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 2}
    application_submit(organisation=organisation, user=user, title="Clean run", requested_gpu_hours=10, months=1,
                       civil_use=True, **plan)
    application_submit(organisation=organisation, user=user, title="Scoring run", requested_gpu_hours=10, months=1,
                       civil_use=True, practices=["social_scoring"], **plan)
    application_submit(organisation=organisation, user=user, title="Crowd watch", requested_gpu_hours=10, months=1,
                       civil_use=True, summary="Identify faces in the crowd at train stations in real time.", **plan)
    application_submit(organisation=organisation, user=user, title="Hiring model", requested_gpu_hours=10, months=1,
                       civil_use=True, areas=["employment"], **plan)
    page = text(login(user).get(f"/organisations/{organisation.pk}/"))
    assert "Clean run" in page and "passed" in page
    assert "Scoring run" in page and "Article 5" in page and "refused" in page
    assert "Crowd watch" in page and "ethics review: the text may describe real-time remote biometric" in page
    assert "Hiring model" in page and "high-risk (Annex III)" in page
    dashboard = text(login(user).get("/dashboard/"))
    assert "Decision promised by" in dashboard and "eligible" in dashboard


def test_profile_is_the_members_only(organisation, other_user):
    assert login(other_user).get(f"/organisations/{organisation.pk}/").status_code == 404
    assert Client().get(f"/organisations/{organisation.pk}/").status_code == 302


def test_pledge_refusal_shows_next_to_the_pledges(user, organisation):
    response = login(user).post(f"/organisations/{organisation.pk}/pledges/", {"back": "profile"})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<ul class="errorlist" id="id_pledges_error"><li>Choose at least one pledge', html)
    response = login(user).post(f"/organisations/{organisation.pk}/pledges/", {"back": "profile",
                                                                                "pledges": ["ai_literacy"]})
    assert response.status_code == 302 and response["Location"] == f"/organisations/{organisation.pk}/"


def _charged(allocation, seconds, minutes_ago):
    job = JobFactory(allocation=allocation, state=JobState.COMPLETED.value, gpu_seconds=seconds)
    allocation_charge(allocation=allocation, job=job, gpu_seconds=seconds)
    UsageCharge.objects.filter(job=job).update(charged_at=timezone.now() - timedelta(minutes=minutes_ago))
    return job


def test_burn_down_from_the_charges(user, allocation):
    _charged(allocation, 36_000, 30)  # 10 GPU-hours
    _charged(allocation, 72_000, 10)  # 20 more
    events = usage_history(allocation)
    assert [round(e.used_hours, 6) for e in events] == [10.0, 30.0]
    assert [round(e.left_hours, 6) for e in events] == [90.0, 70.0]
    response = login(user).get(f"/allocations/{allocation.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg class="chart"') == 2
    assert f'<title id="burndown-{allocation.pk}-title">Burn-down of {allocation.account}</title>' in html
    assert "even pace" in html and "30 GPU-hours (30.0 %)" in text(response)
    assert 'class="chart-line chart-s0"' in html


def test_usage_csv(user, allocation):
    job = _charged(allocation, 7_200, 5)
    response = login(user).get(f"/allocations/{allocation.pk}/usage.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["charged_at", "job_uid", "job_name", "gpu_seconds", "gpu_hours_used", "gpu_hours_left"]
    assert rows[1][1] == job.uid and rows[1][4] == "2.000000" and rows[1][5] == "98.000000"


def test_allocation_pages_are_refused_to_others(allocation, other_user):
    for path in (f"/allocations/{allocation.pk}/", f"/allocations/{allocation.pk}/usage.csv"):
        assert login(other_user).get(path).status_code == 404
        assert Client().get(path)["Location"].startswith("/login/")


def test_empty_allocation_page_says_nothing_is_charged(user, allocation):
    page = text(login(user).get(f"/allocations/{allocation.pk}/"))
    assert "Nothing charged yet" in page


def test_usage_by_machine_and_sector(site):
    a = AllocationFactory(application__organisation__sector="health", gpu_hours=50)
    AllocationFactory(application__organisation__sector="energy", gpu_hours=20)
    job = JobFactory(allocation=a, state=JobState.COMPLETED.value)
    allocation_charge(allocation=a, job=job, gpu_seconds=3600 * 5)
    by_sector = {r["key"]: r for r in usage_by("organisation__sector")}
    assert by_sector["health"]["gpu_hours_granted"] == 50 and by_sector["health"]["gpu_hours_used"] == 5
    assert by_sector["energy"]["gpu_hours_used"] == 0
    (machine,) = usage_by("machine__key")
    assert machine == {"key": "leonardo", "allocations": 2, "gpu_hours_granted": 70.0, "gpu_hours_used": 5.0}


def test_the_application_page_offers_the_training_run(user, organisation, site):  # type: ignore[no-untyped-def]
    client = Client()
    from aifactory.portal.access.services import application_submit

    app = application_submit(organisation=organisation, user=user, title="Run", machine_key="leonardo", params=1e8,
                             tokens=2e9, gpus=8, requested_gpu_hours=100, months=1, civil_use=True)
    client.force_login(user)
    page = client.get(f"/applications/{app.pk}/").content.decode()
    assert "tensor parallel" in page and "launch.sh" in page and "aifactory init --machine leonardo" in page
    launch = client.get(f"/applications/{app.pk}/training/launch.sh")
    assert launch.status_code == 200 and "torch.distributed.run" in launch.content.decode()
    assert "boost_usr_prod" in client.get(f"/applications/{app.pk}/training/job.sbatch").content.decode()
    assert client.get(f"/applications/{app.pk}/training/secrets.txt").status_code == 404
    assert client.get(f"/applications/{app.pk}/training/..%2Fsettings.py").status_code == 404
