"""Background work of the jobs app, run by the task runner's workers."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django_tasks import task

from aifactory.portal.jobs.failover import describe, jobs_failover, result_out
from aifactory.portal.jobs.services import job_idempotency_keys_forget
from aifactory.portal.periodic.schedule import periodic

log = logging.getLogger("aifactory.failover")


@periodic(name="jobs.failover", every=lambda: timedelta(seconds=settings.FAILOVER_EVERY_S))
@task()
def failover() -> dict[str, Any]:
    """Move the jobs waiting on sites whose agent stopped reporting to sites that can take them."""
    result = jobs_failover()
    for line in describe(result):
        log.info(line)
    return result_out(result)


@periodic(name="jobs.forget_idempotency_keys", every=timedelta(hours=1))
@task()
def forget_idempotency_keys() -> int:
    """Forget the Idempotency-Keys older than AIFACTORY_IDEMPOTENCY_KEEP_H hours (24 by default)."""
    return job_idempotency_keys_forget()
