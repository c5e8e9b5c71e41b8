"""Usage notices: an allocation crossing 80 % and 100 % of its GPU-hours raises one notice per threshold, shown to
its organisation's members and to nobody else."""

from __future__ import annotations

import pytest

from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Notice
from aifactory.portal.allocations.services import allocation_add_usage, allocation_charge
from aifactory.portal.jobs.services import job_apply_report
from tests.conftest import JobFactory

pytestmark = pytest.mark.django_db


def finish(allocation, gpu_hours: float):
    job = JobFactory(allocation=allocation, state="running", gpus=100, time_limit_s=3600)
    job_apply_report(site=job.site, uid=job.uid, state=JobState.COMPLETED, gpu_seconds=gpu_hours * 3600)
    return job


def test_thresholds_are_noticed_once_each(allocation):
    finish(allocation, 79)
    assert not Notice.objects.exists()
    finish(allocation, 1)  # 80 of 100
    assert list(Notice.objects.values_list("threshold", flat=True)) == [80]
    finish(allocation, 5)
    assert Notice.objects.count() == 1
    finish(allocation, 15)  # 100 of 100
    assert sorted(Notice.objects.values_list("threshold", flat=True)) == [80, 100]
    finish(allocation, 1)
    assert Notice.objects.count() == 2
    hundred = Notice.objects.get(threshold=100)
    assert hundred.gpu_hours_used == pytest.approx(100) and hundred.gpu_hours == 100
    assert "has used all its 100 GPU-hours" in hundred.message


def test_one_big_charge_crosses_both(allocation):
    added = allocation_add_usage(allocation=allocation, gpu_seconds=100 * 3600)
    assert [n.threshold for n in added] == [80, 100]
    assert allocation_add_usage(allocation=allocation, gpu_seconds=1) == []


def test_a_charge_repeated_raises_nothing_more(allocation):
    job = JobFactory(allocation=allocation, state="completed")
    assert allocation_charge(allocation=allocation, job=job, gpu_seconds=85 * 3600)
    assert not allocation_charge(allocation=allocation, job=job, gpu_seconds=85 * 3600)
    assert Notice.objects.count() == 1


def test_notices_are_listed_for_the_owners_only(api, other_api, allocation):
    allocation_add_usage(allocation=allocation, gpu_seconds=90 * 3600)
    mine = api.get("/notices").json()
    assert [(n["threshold"], n["account"], n["machine"]) for n in mine] == [(80, allocation.account, "leonardo")]
    assert "80%" in mine[0]["message"]
    assert other_api.get("/notices").json() == []


def test_notices_need_a_token(anon):
    assert anon.get("/notices").status_code == 401


def test_allocation_shows_what_is_left(api, allocation):
    JobFactory(allocation=allocation, state="running", gpus=10, time_limit_s=3600)
    allocation_add_usage(allocation=allocation, gpu_seconds=20 * 3600)
    out = api.get(f"/allocations/{allocation.pk}").json()
    assert (out["gpu_hours_used"], out["gpu_hours_reserved"], out["gpu_hours_left"]) == (20, 10, 70)


def test_notices_page(client, user, allocation):
    allocation_add_usage(allocation=allocation, gpu_seconds=100 * 3600)
    client.force_login(user)
    page = client.get("/notices/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "has used all its 100 GPU-hours" in text and "80%" in text
