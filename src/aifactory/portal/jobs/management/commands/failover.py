"""`django-admin failover [--every S]`: move jobs waiting on sites whose agent stopped reporting."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aifactory.portal.jobs.failover import FailoverResult, describe, failover_run


class Command(BaseCommand):
    help = "Move jobs waiting on sites whose agent has stopped reporting to sites that can take them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0.0, help="repeat every this many seconds (0: once)")

    def handle(self, *args: Any, **options: Any) -> None:
        def report(result: FailoverResult) -> None:
            for line in describe(result):
                self.stdout.write(line)

        failover_run(every=options["every"], report=report)
