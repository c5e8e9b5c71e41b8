"""`django-admin failover`: one failover pass by hand (the task runner runs it every FAILOVER_EVERY_S)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from aifactory.portal.jobs.failover import describe, jobs_failover


class Command(BaseCommand):
    help = ("Move jobs waiting on sites whose agent has stopped reporting to sites that can take them, once (the "
            "task runner's workers do it every AIFACTORY_FAILOVER_EVERY_S).")

    def handle(self, *args: Any, **options: Any) -> None:
        for line in describe(jobs_failover()):
            self.stdout.write(line)
