"""Enqueueing the periodic tasks (schedule.py registers them), pruning what they leave behind, and giving back to the
queue the tasks of workers that died while running them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from aifactory.portal.periodic.models import PeriodicSlot, WorkerBeat
from aifactory.portal.periodic.schedule import Periodic, periodics

KEEP = timedelta(days=2)
"""Slots and finished runs of periodic tasks are kept this long (the page and the admin show them)."""


class Abandoned(Exception):
    """What a task abandoned by MAX_CLAIMS workers in a row is marked failed with."""


MAX_CLAIMS = 3
"""A task abandoned by this many workers in a row is marked failed rather than given back again: it may be what kills
them."""


def periodic_enqueue_due(*, now: datetime | None = None) -> list[PeriodicSlot]:
    """Enqueue every periodic task whose current slot has not been enqueued yet, and return the slots this call
    enqueued. The slot's row and the task are written in one transaction, and (name, slot) is unique, so schedulers
    running side by side (one in each worker) enqueue each slot exactly once between them."""
    now = now or timezone.now()
    enqueued = []
    for p in periodics():
        row = _enqueue_slot(p, p.slot(now))
        if row is not None:
            enqueued.append(row)
    return enqueued


def _enqueue_slot(p: Periodic, slot: int) -> PeriodicSlot | None:
    if PeriodicSlot.objects.filter(name=p.name, slot=slot).exists():
        return None
    try:
        with transaction.atomic():
            row = PeriodicSlot.objects.create(name=p.name, slot=slot, starts_at=p.starts_at(slot))
            row.task_id = str(p.task.enqueue().id)
            row.save(update_fields=["task_id"])
    except IntegrityError:  # another scheduler enqueued this slot first
        return None
    return row


@transaction.atomic
def periodic_prune(*, now: datetime | None = None) -> int:
    """Delete the slots older than KEEP, and the finished runs of periodic tasks older than KEEP (the worker keeps
    every task's result row); what is due or running stays. Returns how many rows went."""
    cutoff = (now or timezone.now()) - KEEP
    slots, _ = PeriodicSlot.objects.filter(starts_at__lt=cutoff).delete()
    WorkerBeat.objects.filter(seen_at__lt=cutoff).delete()
    paths = [p.task.module_path for p in periodics()]
    runs, _ = DBTaskResult.objects.finished().filter(task_path__in=paths, finished_at__lt=cutoff).delete()
    return slots + runs


def worker_beat(worker_id: str, *, now: datetime | None = None) -> None:
    """Say that the worker `worker_id` is alive (its thread calls this every eighth of TASK_ABANDONED_AFTER_S)."""
    WorkerBeat.objects.update_or_create(worker_id=worker_id, defaults={"seen_at": now or timezone.now()})


@transaction.atomic
def periodic_recover(*, now: datetime | None = None) -> tuple[int, int]:
    """Give back to the queue the tasks left running by workers that stopped (killed, or their machine lost): a task
    is abandoned when it started more than AIFACTORY_TASK_ABANDONED_AFTER_S ago and the worker that claimed it last
    has not said it was alive for as long. A task abandoned MAX_CLAIMS times is marked failed instead. Every task of
    the portal may run again (mail carries its outbox row and is sent once it is marked sent; the periodic tasks are
    passes that start over). Returns (given back, failed)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TASK_ABANDONED_AFTER_S)
    alive = set(WorkerBeat.objects.filter(seen_at__gte=cutoff).values_list("worker_id", flat=True))
    given_back = failed = 0
    for result in DBTaskResult.objects.running().filter(started_at__lt=cutoff).select_for_update(skip_locked=True):
        if result.worker_ids and result.worker_ids[-1] in alive:
            continue  # a long task of a worker that is still there
        if len(result.worker_ids) >= MAX_CLAIMS:
            result.set_failed(Abandoned(f"abandoned by {len(result.worker_ids)} workers in a row: "
                                        f"{', '.join(result.worker_ids)}"))
            failed += 1
        else:
            result.status = TaskResultStatus.READY
            result.started_at = None
            result.save(update_fields=["status", "started_at"])
            given_back += 1
    return given_back, failed
