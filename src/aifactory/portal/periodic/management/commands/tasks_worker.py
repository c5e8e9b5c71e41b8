"""`django-admin tasks_worker`: django-tasks' database worker (`db_worker`, the same options) with the periodic
tasks' scheduler running beside it in the same process (with `--batch`: the due periodic tasks are enqueued once, then
the worker runs everything due and leaves).

Run as many as you like (on PostgreSQL): every worker takes tasks from the queue one at a time, and every worker's
scheduler offers the due periodic tasks, each slot enqueued exactly once between them (periodic/services.py)."""

from __future__ import annotations

import logging
import os
from argparse import ArgumentParser, BooleanOptionalAction
from typing import Any

from django.conf import settings
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.compat import TASKS_LOGGER
from django_tasks_db.management.commands.db_worker import Command as DbWorker
from django_tasks_db.management.commands.db_worker import valid_interval

from aifactory.portal.periodic.services import periodic_enqueue_due, worker_beat
from aifactory.portal.periodic.worker import scheduler_start


class Command(DbWorker):
    help = "Run a worker of the task runner and the periodic tasks' scheduler beside it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--schedule", action=BooleanOptionalAction, default=True,
                            help="also enqueue the periodic tasks that are due (default: yes)")
        parser.add_argument("--tick", type=valid_interval, default=settings.PERIODIC_TICK_S,
                            help="seconds between the scheduler's looks at what is due (default: %(default)s)")

    def configure_logging(self, verbosity: int) -> None:
        """As db_worker's, one step quieter: by default a task's start and end are not printed (the failover task
        runs every few seconds), its failures are; `-v 2` prints every task, `-v 3` everything."""
        super().configure_logging(verbosity)
        level = {0: logging.CRITICAL, 1: logging.WARNING, 2: logging.INFO}.get(verbosity, logging.DEBUG)
        for name in (TASKS_LOGGER, "django_tasks_db"):
            logging.getLogger(name).setLevel(level)

    def handle(self, *args: Any, schedule: bool, tick: float, **options: Any) -> None:
        if options.get("batch"):  # once, before the worker runs what is due and leaves
            worker_beat(options["worker_id"])
            if schedule:
                periodic_enqueue_due()
        elif not (options.get("reload") and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true"):
            # not in the reloader's watching parent: its child works. The thread says every eighth of
            # AIFACTORY_TASK_ABANDONED_AFTER_S (15 s by default) that the worker is alive, so that its running tasks
            # are not taken for abandoned (periodic.recover), and schedules.
            scheduler_start(tick=tick, worker_id=options["worker_id"], schedule=schedule)
        super().handle(*args, **options)
