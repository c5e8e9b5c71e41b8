"""The periodic tasks' scheduler: each slot of each periodic task is enqueued once, however many schedulers run;
the worker command runs the scheduler beside django-tasks' worker; old slots and runs are pruned; a task left running
by a worker that died is given back to the queue; staff read the schedule."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from aifactory.portal.mail.choices import MailState
from aifactory.portal.mail.models import OutgoingMail
from aifactory.portal.mail.services import mail_send
from aifactory.portal.periodic import services, worker
from aifactory.portal.periodic.models import PeriodicSlot, WorkerBeat
from aifactory.portal.periodic.schedule import periodics
from aifactory.portal.periodic.services import periodic_enqueue_due, periodic_prune, periodic_recover, worker_beat
from aifactory.portal.periodic.worker import scheduler_run
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


def names() -> list[str]:
    return [p.name for p in periodics()]


def runs_of(name: str) -> int:
    (p,) = [p for p in periodics() if p.name == name]
    return DBTaskResult.objects.filter(task_path=p.task.module_path).count()


def test_every_app_registers_its_periodic_tasks() -> None:
    assert {"jobs.failover", "runs.advance", "periodic.prune"} <= set(names())


def test_a_slot_is_enqueued_once(settings: Any) -> None:
    settings.FAILOVER_EVERY_S = 10
    first = periodic_enqueue_due(now=NOON)
    assert sorted(r.name for r in first) == names()  # every task's slot, once
    assert periodic_enqueue_due(now=NOON) == []
    assert periodic_enqueue_due(now=NOON + timedelta(seconds=9.9)) == []  # the same ten seconds
    assert runs_of("jobs.failover") == 1
    assert sorted(r.name for r in periodic_enqueue_due(now=NOON + timedelta(seconds=10))) == [
        "jobs.failover", "runs.advance"]
    assert runs_of("jobs.failover") == 2 and runs_of("periodic.prune") == 1
    row = PeriodicSlot.objects.filter(name="jobs.failover").order_by("-slot").first()
    assert row.starts_at == NOON + timedelta(seconds=10)
    assert DBTaskResult.objects.filter(pk=row.task_id).exists()


def test_a_slot_taken_by_another_scheduler_is_not_enqueued_again(monkeypatch: Any) -> None:
    """The row written by another scheduler between this one's look and its insert: the unique (name, slot) refuses
    the insert, and the task enqueued in the same transaction goes with it."""
    (failover,) = [p for p in periodics() if p.name == "jobs.failover"]
    slot = failover.slot(NOON)
    PeriodicSlot.objects.create(name=failover.name, slot=slot, starts_at=failover.starts_at(slot))
    monkeypatch.setattr(services.PeriodicSlot.objects, "filter", lambda **kw: PeriodicSlot.objects.none())
    assert services._enqueue_slot(failover, slot) is None
    assert runs_of("jobs.failover") == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent schedulers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_schedulers_side_by_side_enqueue_each_slot_once() -> None:
    schedulers = 6
    start = threading.Barrier(schedulers)
    enqueued: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def schedule() -> None:
        try:
            start.wait()
            for second in range(0, 30, 5):
                rows = periodic_enqueue_due(now=NOON + timedelta(seconds=second))
                with lock:
                    enqueued.extend(r.name for r in rows)
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=schedule) for _ in range(schedulers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert enqueued.count("jobs.failover") == 3 == runs_of("jobs.failover")  # 12:00:00, :10, :20
    assert enqueued.count("periodic.prune") == 1 == runs_of("periodic.prune")


def test_the_scheduler_goes_on_after_a_failed_tick(monkeypatch: Any, caplog: Any) -> None:
    calls: list[int] = []
    stopping = threading.Event()

    def flaky() -> list[PeriodicSlot]:
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseError("the database is restarting")
        if len(calls) == 3:
            stopping.set()
        return []

    monkeypatch.setattr(worker, "periodic_enqueue_due", flaky)
    monkeypatch.setattr(worker.connection, "close", lambda: None)  # the test's transaction stays open
    monkeypatch.setattr(worker, "close_old_connections", lambda: None)
    scheduler_run(tick=0, stopping=stopping)
    assert len(calls) == 3
    assert "the database did not answer" in caplog.text


def test_the_worker_command_enqueues_what_is_due_and_runs_it(monkeypatch: Any) -> None:
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)
    call_command("tasks_worker", "--batch", "--no-startup-delay", verbosity=0)
    done = DBTaskResult.objects.filter(status="SUCCESSFUL").values_list("task_path", flat=True)
    assert {p.task.module_path for p in periodics()} <= set(done)
    call_command("tasks_worker", "--batch", "--no-startup-delay", "--no-schedule", verbosity=0)
    assert DBTaskResult.objects.count() == len(names())  # nothing enqueued without the scheduler


def test_old_slots_and_runs_are_pruned(monkeypatch: Any) -> None:
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    periodic_enqueue_due(now=old)
    call_command("tasks_worker", "--batch", "--no-startup-delay", "--no-schedule", verbosity=0)
    assert PeriodicSlot.objects.count() == 0  # the prune task that ran took the old slots
    DBTaskResult.objects.update(finished_at=old)
    periodic_enqueue_due(now=NOON)  # due, not run: stays
    gone = periodic_prune(now=NOON)
    assert gone == len(names())  # the finished runs
    assert sorted(PeriodicSlot.objects.values_list("name", flat=True)) == names()
    assert DBTaskResult.objects.count() == len(names())


def test_the_schedule_page_is_for_staff(client: Any, user: Any) -> None:
    periodic_enqueue_due(now=NOON)
    client.force_login(user)
    assert client.get("/periodic/").status_code == 403
    client.force_login(UserFactory(username="sam", is_staff=True))
    page = client.get("/periodic/").content.decode()
    assert "jobs.failover" in page and "2026-03-02 12:00:00" in page
    assert "Move the jobs waiting on sites whose agent stopped reporting" in page


def claimed(result: DBTaskResult, *, workers: list[str], minutes_ago: float) -> None:
    """Mark the task as a worker's claim leaves it: running since `minutes_ago`, claimed by `workers` in turn."""
    DBTaskResult.objects.filter(pk=result.pk).update(status="RUNNING", worker_ids=workers,
                                                     started_at=timezone.now() - timedelta(minutes=minutes_ago))


def test_a_mail_left_running_by_a_killed_worker_is_given_back_and_sent(monkeypatch: Any, settings: Any,
                                                                       mailoutbox: list[Any]) -> None:
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)
    settings.TASK_ABANDONED_AFTER_S = 120
    mail = mail_send(to=["a@example.org"], subject="your allocation", body="b")
    claimed(DBTaskResult.objects.get(), workers=["killed"], minutes_ago=5)
    worker_beat("another-worker")
    call_command("tasks_worker", "--batch", "--no-startup-delay", "--no-schedule", verbosity=0)
    assert mailoutbox == []  # a running task is not taken by another worker
    assert periodic_recover() == (1, 0)
    call_command("tasks_worker", "--batch", "--no-startup-delay", "--no-schedule", verbosity=0)
    assert [m.subject for m in mailoutbox] == ["your allocation"]
    assert OutgoingMail.objects.get(pk=mail.pk).state == MailState.SENT
    assert periodic_recover() == (0, 0)


def test_a_live_worker_s_long_task_and_a_task_just_started_are_left_running(settings: Any) -> None:
    settings.TASK_ABANDONED_AFTER_S = 120
    for _ in range(2):
        mail_send(to=["a@example.org"], subject="s", body="b")
    long_one, young = DBTaskResult.objects.order_by("enqueued_at")
    claimed(long_one, workers=["dead", "alive"], minutes_ago=30)
    claimed(young, workers=["dead"], minutes_ago=1)
    worker_beat("alive")
    worker_beat("dead", now=timezone.now() - timedelta(minutes=10))
    assert periodic_recover() == (0, 0)
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"RUNNING"}
    settings.TASK_ABANDONED_AFTER_S = 30
    assert periodic_recover() == (1, 0)  # the young one, now past the limit; the live worker keeps its own
    assert DBTaskResult.objects.get(pk=young.pk).status == "READY"


def test_a_task_abandoned_by_three_workers_in_a_row_fails() -> None:
    mail_send(to=["a@example.org"], subject="s", body="b")
    claimed(DBTaskResult.objects.get(), workers=["w1", "w2", "w3"], minutes_ago=60)
    assert periodic_recover() == (0, 1)
    result = DBTaskResult.objects.get()
    assert result.status == "FAILED" and "abandoned by 3 workers in a row" in result.traceback


def test_each_worker_says_it_is_alive(monkeypatch: Any) -> None:
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)
    call_command("tasks_worker", "--batch", "--no-startup-delay", "--no-schedule", "--worker-id", "batch-1",
                 verbosity=0)
    stopping = threading.Event()
    monkeypatch.setattr(worker, "periodic_enqueue_due", lambda: pytest.fail("schedule=False enqueues nothing"))
    monkeypatch.setattr(worker.connection, "close", lambda: None)
    monkeypatch.setattr(worker, "close_old_connections", stopping.set)  # one tick
    scheduler_run(tick=0, stopping=stopping, worker_id="thread-1", schedule=False)
    assert set(WorkerBeat.objects.values_list("worker_id", flat=True)) == {"batch-1", "thread-1"}
    old = timezone.now() - timedelta(days=3)
    WorkerBeat.objects.filter(worker_id="batch-1").update(seen_at=old)
    periodic_prune()
    assert list(WorkerBeat.objects.values_list("worker_id", flat=True)) == ["thread-1"]
