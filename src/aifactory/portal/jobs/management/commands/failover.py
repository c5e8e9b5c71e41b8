"""`django-admin failover [--every S]`: move jobs waiting on sites whose agent stopped reporting."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aifactory.portal.jobs.services import FailoverResult, jobs_failover


def describe(result: FailoverResult) -> list[str]:
    lines = [f"moved {m.uid} from {m.from_site} to {m.to_site} (account {m.account})" for m in result.moved]
    lines += [f"cancelled {uid} (its site is not reporting)" for uid in result.cancelled]
    return lines


class Command(BaseCommand):
    help = "Move jobs waiting on sites whose agent has stopped reporting to sites that can take them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0.0, help="repeat every this many seconds (0: once)")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            for line in describe(jobs_failover()):
                self.stdout.write(line)
            if options["every"] <= 0:
                return
            time.sleep(options["every"])
