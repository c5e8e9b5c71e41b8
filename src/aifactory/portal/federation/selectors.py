from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from aifactory.portal.common import tokens
from aifactory.portal.federation.models import Machine, Site


def site_by_token(token: str) -> Site | None:
    return Site.objects.select_related("machine").filter(token_digest=tokens.digest(token)).first()


def site_alive(site: Site) -> bool:
    if site.last_seen_at is None:
        return False
    return timezone.now() - site.last_seen_at < timedelta(seconds=settings.AGENT_STALE_AFTER_S)


def machines_open() -> QuerySet[Machine]:
    """Machines that have a site with an agent registered: the ones an allocation can be used on."""
    return Machine.objects.filter(sites__isnull=False).distinct()
