from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django_tasks_db.models import DBTaskResult

from aifactory.portal.common.errors import Forbidden
from aifactory.portal.periodic.models import PeriodicSlot
from aifactory.portal.periodic.schedule import periodics


def schedule(user: AbstractBaseUser | AnonymousUser) -> list[dict[str, Any]]:
    """Each periodic task with its period, its latest enqueued slot and how that run went: staff only."""
    if not (user.is_authenticated and user.is_staff):
        raise Forbidden("only staff read the schedule of the periodic tasks")
    rows = []
    for p in periodics():
        last = PeriodicSlot.objects.filter(name=p.name).order_by("-slot").first()
        run = DBTaskResult.objects.filter(pk=last.task_id).first() if last and last.task_id else None
        rows.append({"name": p.name, "every_s": p.length().total_seconds(), "doc": (p.task.func.__doc__ or "").strip(),
                     "last": last, "status": run.status if run else None,
                     "finished_at": run.finished_at if run else None})
    return rows
