"""Background work of managed runs, run by the task runner's workers."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django_tasks import task

from aifactory.portal.periodic.schedule import periodic
from aifactory.portal.runs.services import runs_advance

log = logging.getLogger("aifactory.runs")


@periodic(name="runs.advance", every=lambda: timedelta(seconds=settings.FAILOVER_EVERY_S))
@task()
def advance() -> list[str]:
    """Advance every unfinished managed run: the next segment after one ended, or after its lost site's lease ran
    out (runs.services.runs_advance)."""
    lines = runs_advance()
    for line in lines:
        log.info(line)
    return lines
