"""The periodic app's own periodic task: pruning the rows that periodic runs leave."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from aifactory.portal.periodic.schedule import periodic
from aifactory.portal.periodic.services import periodic_prune, periodic_recover


@periodic(name="periodic.prune", every=timedelta(hours=1))
@task()
def prune() -> int:
    """Delete slots and finished periodic runs older than two days."""
    return periodic_prune()


@periodic(name="periodic.recover", every=timedelta(minutes=1))
@task()
def recover() -> dict[str, int]:
    """Give back to the queue the tasks of workers that stopped while running them."""
    given_back, failed = periodic_recover()
    return {"given_back": given_back, "failed": failed}
