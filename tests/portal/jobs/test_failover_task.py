"""Failover as a periodic task on the task runner: the worker's scheduler enqueues it, a worker runs it and the jobs
of a lost site move; passes that overlap (several workers) never move a job twice."""

from __future__ import annotations

import threading
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django_tasks_db.models import DBTaskResult

from aifactory.portal.jobs import tasks
from aifactory.portal.jobs.failover import jobs_failover
from aifactory.portal.jobs.models import Job, JobPlacement, JobRevocation
from tests.federation import Federation, make_federation

pytestmark = pytest.mark.django_db


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


def work(monkeypatch: Any) -> None:
    """One pass of the worker command: its scheduler enqueues what is due, then it runs every task that is due."""
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)
    call_command("tasks_worker", "--batch", "--no-startup-delay", verbosity=0)


def test_failover_happens_when_the_task_runs(fed: Federation, monkeypatch: Any) -> None:
    job = fed.submit()
    assert job.site.name == "jupiter-a"
    fed.lost(fed.jupiter)
    work(monkeypatch)
    moved = Job.objects.get(pk=job.pk)
    assert (moved.site.name, moved.state) == ("leonardo-a", "pending")
    run = DBTaskResult.objects.get(task_path=tasks.failover.module_path)
    assert run.status == "SUCCESSFUL"
    assert run.return_value == {"moved": [{"uid": job.uid, "from_site": "jupiter-a", "to_site": "leonardo-a",
                                           "account": fed.on_leonardo.account}], "cancelled": [], "stuck": {}}


def test_nothing_moves_while_the_sites_report(fed: Federation, monkeypatch: Any) -> None:
    job = fed.submit()
    work(monkeypatch)
    assert Job.objects.get(pk=job.pk).site.name == "jupiter-a"
    assert DBTaskResult.objects.get(task_path=tasks.failover.module_path).return_value["moved"] == []


def test_the_command_runs_one_pass(fed: Federation) -> None:
    job = fed.submit()
    fed.lost(fed.jupiter)
    out = StringIO()
    call_command("failover", stdout=out)
    assert out.getvalue().strip() == f"moved {job.uid} from jupiter-a to leonardo-a (account {fed.on_leonardo.account})"


postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_job_another_pass_holds_is_left_to_it(fed: Federation) -> None:
    """A pass that finds a job locked (another pass is moving it) skips it instead of waiting and moving it again."""
    job = fed.submit()
    fed.lost(fed.jupiter)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Job.objects.select_for_update().get(pk=job.pk)
                locked.set()
                release.wait()
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait()
    try:
        with connection.cursor() as cursor:  # a pass that waited for the lock would fail here instead of hanging
            cursor.execute("SET lock_timeout = '20s'")
        assert jobs_failover().moved == []
    finally:
        release.set()
        holder.join()
    assert [m.uid for m in jobs_failover().moved] == [job.uid]
    assert jobs_failover().moved == []


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_passes_side_by_side_move_each_job_once(fed: Federation) -> None:
    uids = [fed.submit().uid for _ in range(8)]
    assert set(Job.objects.values_list("site__name", flat=True)) == {"jupiter-a"}
    fed.lost(fed.jupiter)
    passes = 4
    start = threading.Barrier(passes)
    moved: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            start.wait()
            for _ in range(3):
                result = jobs_failover()
                with lock:
                    moved.extend(m.uid for m in result.moved)
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(passes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(moved) == sorted(uids)  # each job once
    assert set(Job.objects.values_list("site__name", flat=True)) == {"leonardo-a"}
    assert JobRevocation.objects.count() == len(uids)
    assert JobPlacement.objects.count() == 2 * len(uids)
