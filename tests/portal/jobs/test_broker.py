"""The live broker: a job spec for an organisation goes to the allocation and site expected to finish it first, with a
reason for every site; the portal's own rules, held jobs, and refusals with their reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.common.errors import BadRequest, Conflict
from aifactory.portal.jobs.models import Job, JobPlacement
from tests.conftest import JobFactory
from tests.federation import Federation, make_federation

pytestmark = pytest.mark.django_db


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


def reasons(job: Job) -> dict[str, str]:
    placement = job.placements.get()
    return {row["site"]: row["reason"] for row in placement.reasons}


def test_the_faster_machine_finishes_first(fed):
    job = fed.submit(gpus_per_node=4)
    assert (job.site.name, job.allocation) == ("jupiter-a", fed.on_jupiter)
    assert job.state == JobState.PENDING and job.gpus == 4 and job.nodes == 1
    why = reasons(job)
    assert why["jupiter-a"].startswith("chosen: earliest expected completion")
    assert why["leonardo-a"].startswith("later: expected completion")
    placement = job.placements.get()
    assert placement.cause == "submitted" and not placement.held
    assert [r["chosen"] for r in placement.reasons] == [False, True]
    assert {r["account"] for r in placement.reasons} == {fed.on_leonardo.account, fed.on_jupiter.account}
    assert job.expected_start_at <= job.expected_end_at
    # 600 s on an A100 is 600 / 3.17 s on a GH200
    assert (job.expected_end_at - job.expected_start_at).total_seconds() == pytest.approx(600 / (989 / 312), abs=1)


def test_a_long_queue_sends_the_job_to_the_slower_machine(fed):
    fed.alive(fed.jupiter, wait_s=3600)
    job = fed.submit()
    assert job.site.name == "leonardo-a"
    assert "waits 3600 s" in reasons(job)["jupiter-a"]


def test_with_a_history_of_short_jobs_a_long_job_keeps_off_the_machine_kept_for_short_ones(fed):
    # 100 jobs of 1 GPU x 600 s submitted: all the work in size class 37 (512 s up to 2 ** 9.25 = 608.9 s). Leonardo
    # holds 13,824 of the 13,824 + 24,000 x 989 / 312 = 89,901 A100-equivalent GPUs (15%), so it takes jobs
    # estimated under 608.9 s; JUPITER, the largest, takes any.
    JobFactory.create_batch(100, allocation=fed.on_leonardo)
    fed.alive(fed.jupiter, wait_s=3600)
    assert fed.submit().site.name == "leonardo-a"  # 600 s: leonardo ends it at 600, JUPITER at 3600 + 189
    long = fed.submit(time_limit=3600)  # leonardo would end it at 3600, JUPITER at 3600 + 1136
    assert long.site.name == "jupiter-a"
    why = reasons(long)
    assert why["leonardo-a"] == ("not used: kept for jobs estimated under 0.169 h, this one is estimated at 1 h "
                                 "(waits 0 s, runs 3600 s)")
    assert why["jupiter-a"].startswith("chosen: earliest expected completion among the machines whose size interval")


def test_gpu_type_and_memory(fed):
    assert fed.submit(gpu="A100").site.name == "leonardo-a"
    assert fed.submit(gpu="gh200").site.name == "jupiter-a"
    assert fed.submit(gpu_memory_gb=80).site.name == "jupiter-a"
    with pytest.raises(BadRequest) as caught:
        fed.submit(gpu="H100")
    rows = caught.value.detail["reasons"]
    assert {r["site"]: r["reason"] for r in rows} == {
        "leonardo-a": "GPU type A100, job asks for H100", "jupiter-a": "GPU type GH200, job asks for H100"}
    assert "no machine can take this job" in caught.value.message


def test_a_site_whose_agent_stopped_reporting_is_not_a_candidate(fed):
    fed.lost(fed.jupiter)
    job = fed.submit()
    assert job.site.name == "leonardo-a"
    assert reasons(job)["jupiter-a"] == "site agent not responding"


def test_when_no_site_that_can_take_it_reports_the_job_is_held(fed):
    fed.lost(fed.leonardo, fed.jupiter)
    job = fed.submit(gpu="A100")
    placement = job.placements.get()
    assert placement.held and job.site.name == "leonardo-a"
    assert "waiting for a site" in job.message
    assert reasons(job)["leonardo-a"].startswith("held: no site that can take the job is reporting; chosen")


def test_a_site_that_never_reported_holds_jobs_too(fed):
    from aifactory.portal.federation.models import Site

    Site.objects.update(last_seen_at=None)
    assert fed.submit().placements.get().held


def test_hours_left_count_usage_and_the_time_limits_of_open_jobs(fed):
    # 100 GPU-hours on JUPITER; an open job there reserves 4 GPUs x 24 h = 96.
    JobFactory(allocation=fed.on_jupiter, site=fed.jupiter.site, gpus=4, time_limit_s=24 * 3600, state="running")
    job = fed.submit(gpus_per_node=4, time_limit="2h")  # needs 8 GPU-hours: JUPITER has 4 left
    assert job.site.name == "leonardo-a"
    assert reasons(job)["jupiter-a"] == "allocation has 4 GPU-hours left, job needs about 8"
    Allocation.objects.filter(pk=fed.on_leonardo.pk).update(gpu_seconds_used=99 * 3600)
    with pytest.raises(BadRequest) as caught:  # 1 GPU-hour left on Leonardo, and 4 on JUPITER
        fed.submit(gpus_per_node=4, time_limit="2h")
    assert "GPU-hours left" in caught.value.message
    assert Job.objects.count() == 2


def test_exactly_what_is_left_is_accepted(fed):
    Allocation.objects.filter(pk__in=[fed.on_leonardo.pk, fed.on_jupiter.pk]).update(gpu_seconds_used=96 * 3600)
    assert fed.submit(gpus_per_node=4, time_limit="1h").state == "pending"  # 4 GPU-hours, 4 left


def test_the_layout_must_fit_the_nodes(fed):
    with pytest.raises(BadRequest) as caught:
        fed.submit(gpus_per_node=8)
    assert {r["reason"] for r in caught.value.detail["reasons"]} == {
        "job asks for 8 GPUs per node, the machine has 4"}
    with pytest.raises(BadRequest) as caught:
        fed.submit(gpus_per_node=4, nodes=40, time_limit="1h")  # both machines have the nodes, not the hours
    assert "GPU-hours left" in caught.value.message


def test_portal_rules_come_first(fed):
    ProvisioningOrder.objects.filter(allocation=fed.on_jupiter).update(state="pending")
    Allocation.objects.filter(pk=fed.on_leonardo.pk).update(ends_on=timezone.localdate() - timedelta(days=1),
                                                            starts_on=timezone.localdate() - timedelta(days=30))
    with pytest.raises(BadRequest) as caught:
        fed.submit()
    why = {r["site"]: r["reason"] for r in caught.value.detail["reasons"]}
    assert why["jupiter-a"] == "the account is not provisioned at this site yet"
    assert why["leonardo-a"].startswith("the allocation ended on ")


def test_nothing_provisioned_yet_is_a_conflict(fed):
    ProvisioningOrder.objects.update(state="pending")
    with pytest.raises(Conflict):
        fed.submit()
    assert not Job.objects.exists()


def test_an_organisation_without_allocations(user):
    from aifactory.core.jobspec import spec_from_dict
    from aifactory.portal.jobs.services import job_submit_spec
    from tests.conftest import OrganisationFactory
    from tests.federation import job_spec

    empty = OrganisationFactory(members=[user])
    with pytest.raises(Conflict) as caught:
        job_submit_spec(user=user, spec=spec_from_dict(job_spec()), organisation=empty)
    assert "no allocation" in caught.value.message


def test_a_spec_pinned_to_one_allocation(fed):
    from aifactory.core.jobspec import spec_from_dict
    from aifactory.portal.jobs.services import job_submit_spec
    from tests.federation import job_spec

    job = job_submit_spec(user=fed.user, spec=spec_from_dict(job_spec()), allocation=fed.on_leonardo)
    assert job.site.name == "leonardo-a"
    assert [r["site"] for r in job.placements.get().reasons] == ["leonardo-a"]


def test_the_job_keeps_its_spec(fed):
    job = fed.submit(gpu="A100", gpus_per_node=2, nodes=1, estimate="5m")
    assert job.spec["resources"] == {"gpu": "A100", "gpus_per_node": 2, "nodes": 1, "time_limit": 600, "estimate": 300}
    assert job.script == "set -e\necho hello\n"
    assert JobPlacement.objects.filter(job=job).count() == 1


def test_a_script_job_for_one_allocation_picks_among_its_sites(fed, make_site):
    second = make_site(name="leonardo-b")
    ProvisioningOrder.objects.create(allocation=fed.on_leonardo, site=second.site, state="done")
    fed.alive(fed.leonardo, wait_s=600)
    fed.alive(second, wait_s=0)
    from aifactory.portal.jobs.services import job_submit

    job = job_submit(user=fed.user, allocation=fed.on_leonardo, name="t", script="true", gpus=1, time_limit_s=600)
    assert job.site.name == "leonardo-b"
    assert {r["site"] for r in job.placements.get().reasons} == {"leonardo-a", "leonardo-b"}
