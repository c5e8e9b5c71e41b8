"""Background work of the obligations app, run by the task runner's workers."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from aifactory.portal.obligations.services import obligations_remind
from aifactory.portal.periodic.schedule import periodic


@periodic(name="obligations.remind", every=timedelta(days=1))
@task()
def remind() -> int:
    """Mail the open-science reminders due today (30, 7 and 1 day(s) before the date, and once overdue)."""
    return len(obligations_remind())
