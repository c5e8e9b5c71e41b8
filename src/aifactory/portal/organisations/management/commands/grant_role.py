"""`django-admin grant_role USERNAME ROLE [--factory KEY] [--revoke]`: give a person a role, or take it back.

Roles: call_manager, factory_operator (of one AI Factory of the catalog: --factory), observer. A reviewer is not a
role: a call manager adds the person to the reviewer pool. The person signs up first. Run it with the portal's
settings, e.g. `AIFACTORY_DATA_DIR=var DJANGO_SETTINGS_MODULE=aifactory.portal.settings python -m django grant_role
ada observer`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.organisations.choices import Role
from aifactory.portal.organisations.services import role_grant, role_revoke


class Command(BaseCommand):
    help = "Grant a role (call_manager, factory_operator --factory KEY, observer) to a person, or revoke it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("role", help=", ".join(Role.values))
        parser.add_argument("--factory", default="", help="the AI Factory a factory operator operates, e.g. it4lia")
        parser.add_argument("--revoke", action="store_true", help="take the role back instead")

    def handle(self, *args: Any, **options: Any) -> None:
        person = get_user_model().objects.filter(username=options["username"]).first()
        if person is None:
            raise CommandError(f"no user {options['username']!r}: the person signs up first")
        role, factory = options["role"], options["factory"]
        if options["revoke"]:
            done = role_revoke(user=person, role=role, factory=factory)
            self.stdout.write(f"revoked {role} from {person}" if done else f"{person} did not hold {role}")
            return
        try:
            row = role_grant(user=person, role=role, factory=factory, granted_by=None)
        except REFUSALS as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"granted {row.role}{' of ' + row.factory if row.factory else ''} to {person}")
