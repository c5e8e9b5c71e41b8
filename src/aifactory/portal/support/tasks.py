"""Background work of the support app, run by the task runner's workers."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from aifactory.portal.periodic.schedule import periodic
from aifactory.portal.support.services import requests_escalate


@periodic(name="support.escalate", every=timedelta(hours=1))
@task()
def escalate() -> int:
    """Mail a centre's operators when a request's first answer is near its day or past it, once per state."""
    return len(requests_escalate())
