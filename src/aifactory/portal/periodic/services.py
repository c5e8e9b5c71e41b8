"""Enqueueing the periodic tasks (schedule.py registers them) and pruning what they leave behind."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from aifactory.portal.periodic.models import PeriodicSlot
from aifactory.portal.periodic.schedule import Periodic, periodics

KEEP = timedelta(days=2)
"""Slots and finished runs of periodic tasks are kept this long (the page and the admin show them)."""


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
    paths = [p.task.module_path for p in periodics()]
    runs, _ = DBTaskResult.objects.finished().filter(task_path__in=paths, finished_at__lt=cutoff).delete()
    return slots + runs
