"""Mail the reminders of open-science obligations that are due today (run daily, e.g. from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from aifactory.portal.obligations.services import obligations_remind


class Command(BaseCommand):
    help = "Mail the open-science reminders due today (30, 7 and 1 day(s) before the date, and once overdue)."

    def handle(self, *args: Any, **options: Any) -> None:
        sent = obligations_remind()
        self.stdout.write(f"{len(sent)} reminder(s) sent")
