"""`django-admin add_site NAME MACHINE [--backend slurm] [--personal-accounts] --token-file FILE`: register a site.

The site's agent token is written to FILE (mode 600), never printed. With --personal-accounts the site runs jobs under
each person's own account, which its agent creates (the agent runs with the privileged helper: docs/identity.md).
Run it with the portal's settings, e.g. `AIFACTORY_DATA_DIR=var DJANGO_SETTINGS_MODULE=aifactory.portal.settings
python -m django add_site jupiter-a jupiter --backend slurm --personal-accounts --token-file jupiter-a.token`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aifactory.portal.common.errors import REFUSALS, refusal_of
from aifactory.portal.federation.services import site_create


class Command(BaseCommand):
    help = "Register a site for a machine of the catalog and write its agent token to a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("machine", help="a machine key of the catalog, e.g. leonardo")
        parser.add_argument("--backend", default="", help="what the agent drives, e.g. slurm")
        parser.add_argument("--personal-accounts", action="store_true",
                            help="jobs run under each person's own account at the site")
        parser.add_argument("--token-file", required=True, type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        token_file: Path = options["token_file"]
        try:
            site, token = site_create(name=options["name"], machine_key=options["machine"],
                                      backend=options["backend"], personal_accounts=options["personal_accounts"])
        except REFUSALS as exc:
            raise CommandError(refusal_of(exc).message) from None
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token)
        personal = " with personal accounts" if site.personal_accounts else ""
        self.stdout.write(f"site {site.name} on {site.machine.key}{personal}; agent token in {token_file}")
