"""The hours an allocation's unfinished jobs hold: a counter on the allocation, kept in the job's own transactions.

The counter must equal the sum over the unfinished jobs at every step of a job's life (submitted, running, ended,
cancelled, moved to another allocation), even when many submissions race for the same hours; a submission's cost
must not grow with the jobs that came before it, and it takes no lock on the machine's row.
"""

from __future__ import annotations

import importlib
import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aifactory.core.jobs import JobState
from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.allocations.selectors import gpu_seconds_reserved_by_jobs
from aifactory.portal.common.errors import BadRequest, Forbidden
from aifactory.portal.jobs.failover import jobs_failover
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.services import job_apply_report, job_cancel, job_submit, job_submit_spec
from aifactory.portal.organisations.models import ApiToken
from aifactory.portal.organisations.services import TOKEN_USE_RESOLUTION_S
from tests.conftest import AllocationFactory, ApplicationFactory, OrganisationFactory, UserFactory
from tests.federation import Federation, job_spec, make_federation

pytestmark = pytest.mark.django_db


def counter(allocation: Allocation) -> int:
    return Allocation.objects.get(pk=allocation.pk).gpu_seconds_reserved


def agrees(*allocations: Allocation) -> None:
    for a in allocations:
        fresh = Allocation.objects.get(pk=a.pk)
        assert fresh.gpu_seconds_reserved == gpu_seconds_reserved_by_jobs(fresh), a.account


def submit(allocation: Allocation, gpus: int = 1, time_limit_s: int = 600) -> Job:
    return job_submit(user=allocation.application.submitted_by, allocation=allocation, name="t", script="true",
                      gpus=gpus, time_limit_s=time_limit_s)


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


def test_the_counter_follows_a_job_from_submission_to_its_end(allocation, site):
    job = submit(allocation, gpus=2, time_limit_s=600)
    assert counter(allocation) == 1200
    job_apply_report(site=site.site, uid=job.uid, state=JobState.RUNNING, scheduler_id="1")
    assert counter(allocation) == 1200
    job_apply_report(site=site.site, uid=job.uid, state=JobState.COMPLETED, gpu_seconds=300.0)
    assert counter(allocation) == 0
    job_apply_report(site=site.site, uid=job.uid, state=JobState.COMPLETED, gpu_seconds=300.0)  # said twice
    assert counter(allocation) == 0
    agrees(allocation)


def test_a_cancelled_job_gives_its_hours_back(allocation):
    waiting = submit(allocation, gpus=1, time_limit_s=3600)
    other = submit(allocation, gpus=4, time_limit_s=600)
    job_cancel(job=waiting, user=waiting.submitted_by)
    assert counter(allocation) == 2400
    agrees(allocation)
    job_cancel(job=other, user=other.submitted_by)
    assert counter(allocation) == 0


def test_a_job_that_moves_takes_its_hours_to_the_other_allocation(fed):
    job = fed.submit()
    assert job.allocation == fed.on_jupiter
    assert (counter(fed.on_jupiter), counter(fed.on_leonardo)) == (job.gpus * 600, 0)
    fed.lost(fed.jupiter)
    assert [m.uid for m in jobs_failover().moved] == [job.uid]
    assert (counter(fed.on_jupiter), counter(fed.on_leonardo)) == (0, job.gpus * 600)
    agrees(fed.on_jupiter, fed.on_leonardo)


def test_the_counter_refuses_what_is_not_left(allocation):
    submit(allocation, gpus=90, time_limit_s=3600)
    with pytest.raises(BadRequest) as caught:
        submit(allocation, gpus=11, time_limit_s=3600)
    assert caught.value.detail["left_gpu_hours"] == pytest.approx(10.0)
    assert counter(allocation) == 90 * 3600


def test_the_migration_fills_the_counter_from_the_unfinished_jobs(allocation, site):
    for state, gpus in (("pending", 2), ("running", 3), ("completed", 50), ("cancelled", 70)):
        Job.objects.create(allocation=allocation, site=site.site, submitted_by=allocation.application.submitted_by,
                           name="old", script="true", gpus=gpus, time_limit_s=600, state=state)
    Allocation.objects.filter(pk=allocation.pk).update(gpu_seconds_reserved=0)  # as before the counter existed
    migration = importlib.import_module("aifactory.portal.jobs.migrations.0005_allocation_reserved_from_jobs")
    migration.fill(apps, None)
    assert counter(allocation) == (2 + 3) * 600


# --- what a submission costs ------------------------------------------------------------------------------------------


def _finished(allocation: Allocation, site, n: int) -> None:
    Job.objects.bulk_create(
        Job(allocation=allocation, site=site.site, submitted_by=allocation.application.submitted_by, name=f"old-{i}",
            script="true", gpus=1 + i % 8, time_limit_s=600 + i, state="completed") for i in range(n))


def _queries_of_one_submission(api) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/jobs", {"spec": job_spec()})
    assert response.status_code == 201, response.content
    return [q["sql"] for q in queries.captured_queries]


def test_a_submission_reads_the_same_whatever_came_before(api, allocation, site):
    """Its queries are the same ones at 0 and at 300 finished jobs, none reads the jobs back, none sums the jobs,
    and none locks a row with SELECT ... FOR UPDATE (the hours are reserved by one conditional UPDATE)."""
    _queries_of_one_submission(api)  # the first fills the process's size limits and the token's last use
    empty = _queries_of_one_submission(api)
    _finished(allocation, site, 300)
    after = _queries_of_one_submission(api)
    assert len(after) == len(empty)
    assert not any("FOR UPDATE" in q for q in after)
    assert not any("SUM(" in q.upper() for q in after)
    job_reads = [q for q in after if q.lstrip().upper().startswith("SELECT") and '"jobs_job"' in q.split("WHERE")[0]]
    assert job_reads == []
    reserve = [q for q in after if q.lstrip().upper().startswith("UPDATE") and "allocations_allocation" in q]
    assert len(reserve) == 1 and "gpu_seconds_reserved" in reserve[0]


SUBMISSION_STATEMENTS = 9
"""A job spec's submission, once the process has its size limits: the token, the person's organisation, its
allocations (with the member's check), their provisioning orders, the machines' sites, the job, its placement, its
first history row (new -> pending) and the reservation (savepoints and the agents' wake-up, which only PostgreSQL
sends, not counted)."""


def test_a_submission_takes_a_bounded_number_of_statements_and_reserves_last(api, allocation, site):
    _queries_of_one_submission(api)
    statements = [q for q in _queries_of_one_submission(api)
                  if not q.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) and "pg_notify" not in q]
    assert len(statements) <= SUBMISSION_STATEMENTS, "\n".join(s[:120] for s in statements)
    # the member's check is made in the allocations' query, not apart
    assert not any(q.startswith('SELECT 1 AS "a" FROM "organisations_organisation"') for q in statements)
    assert not any('"siteaccess_siteaccount"' in q for q in statements)  # no site here runs personal accounts
    # the allocation's row is locked from the reservation to the commit only: the reservation is the last write
    assert statements[-1].startswith('UPDATE "allocations_allocation"'), statements[-1]


def test_a_person_outside_the_organisation_is_refused_without_a_job_or_a_reservation(allocation, site):
    outsider = UserFactory(username="outsider")
    with pytest.raises(Forbidden):
        job_submit_spec(user=outsider, spec=spec_from_dict(job_spec()), allocation=allocation)
    with pytest.raises(Forbidden):
        job_submit_spec(user=outsider, spec=spec_from_dict(job_spec()), organisation=allocation.organisation)
    assert not Job.objects.exists() and counter(allocation) == 0


def test_a_reservation_refused_takes_the_written_job_back_with_it(allocation, site):
    Allocation.objects.filter(pk=allocation.pk).update(gpu_hours=0.5)
    spec = spec_from_dict(job_spec(time_limit=3600))
    with pytest.raises(BadRequest):
        job_submit_spec(user=allocation.application.submitted_by, spec=spec, allocation=allocation)
    with pytest.raises(BadRequest):
        submit(allocation, time_limit_s=3600)
    assert not Job.objects.exists() and counter(allocation) == 0


def test_the_answer_built_without_reading_back_says_what_was_stored(api, allocation):
    response = api.post("/jobs", {"spec": job_spec(name="fresh")})
    body = response.json()
    assert response.status_code == 201
    stored = api.get(f"/jobs/{body['uid']}").json()
    assert body == stored


def test_a_token_is_marked_used_at_most_once_a_minute(api, user):
    token = ApiToken.objects.get(user=user)
    assert token.last_used_at is None
    api.get("/jobs")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        api.get("/jobs")
    assert not any('UPDATE "organisations_apitoken"' in q["sql"] for q in queries.captured_queries)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now() - timedelta(seconds=TOKEN_USE_RESOLUTION_S + 1))
    api.get("/jobs")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


# --- many at once (PostgreSQL: SQLite takes one writer at a time anyway) ----------------------------------------------

ORGANISATIONS = 8
ROUNDS = 6
SHARED_JOBS = 20
"""The shared allocation holds exactly this many of the hammer's jobs (1 GPU x 1 hour each)."""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_eight_organisations_hammering_lose_nothing_and_book_nothing_twice(site):
    """Eight organisations submit at once, each to its own allocation on the same machine and to one allocation
    they share, which holds exactly SHARED_JOBS of their jobs. Every accepted job is there, the shared allocation
    takes exactly SHARED_JOBS, and every counter equals the sum of its jobs."""
    people = [UserFactory(username=f"hammer{i}") for i in range(ORGANISATIONS)]
    own = [AllocationFactory(application__organisation=OrganisationFactory(members=[p]), application__submitted_by=p,
                             gpu_hours=1000.0) for p in people]
    consortium = OrganisationFactory(name="Consortium", members=people)
    shared = AllocationFactory(application=ApplicationFactory(organisation=consortium, submitted_by=people[0]),
                               gpu_hours=float(SHARED_JOBS))
    spec = spec_from_dict(job_spec(time_limit=3600))
    accepted: list[str] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(ORGANISATIONS)

    def hammer(i: int) -> None:
        try:
            start.wait()
            for _ in range(ROUNDS):
                mine = [submit(own[i], gpus=1 + i % 4, time_limit_s=600)]
                try:
                    mine.append(job_submit_spec(user=people[i], spec=spec, allocation=shared))
                except BadRequest as exc:
                    with lock:
                        refused.append(exc.message)
                with lock:
                    accepted.extend(j.uid for j in mine)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(ORGANISATIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(Job.objects.values_list("uid", flat=True)) == sorted(accepted)
    assert Job.objects.filter(allocation=shared).count() == SHARED_JOBS
    assert len(refused) == ORGANISATIONS * ROUNDS - SHARED_JOBS
    for a in [*own, shared]:
        fresh = Allocation.objects.get(pk=a.pk)
        assert fresh.gpu_seconds_reserved == gpu_seconds_reserved_by_jobs(fresh)
        assert fresh.gpu_seconds_reserved <= fresh.gpu_hours * 3600
    assert Allocation.objects.get(pk=shared.pk).gpu_seconds_reserved == SHARED_JOBS * 3600
