from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
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


def sites_of_factories(factories: list[str]) -> QuerySet[Site]:
    """The sites in front of the machines of the AI Factories named."""
    return Site.objects.select_related("machine").filter(machine__factory__in=factories).order_by("name")


def site_health(site: Site, now: datetime | None = None) -> dict[str, Any]:
    """What an operator needs to know of a site's agent: alive or lost, and since when it has not reported."""
    now = now or timezone.now()
    age = None if site.last_seen_at is None else (now - site.last_seen_at).total_seconds()
    return {
        "site": site,
        "alive": site_alive(site),
        "seconds_since_report": age,
        "stale_after_s": settings.AGENT_STALE_AFTER_S,
    }


def sites_lost() -> list[Site]:
    """The sites whose agent has not reported for AGENT_STALE_AFTER_S (or never)."""
    cutoff = timezone.now() - timedelta(seconds=settings.AGENT_STALE_AFTER_S)
    return list(Site.objects.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=cutoff)))
