"""Writes of the federation context: catalog mirror, sites and their agents' heartbeats."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from aifactory.core.catalog import load_catalog
from aifactory.portal.common import tokens
from aifactory.portal.common.errors import BadRequest, Conflict, Forbidden
from aifactory.portal.federation.models import Machine, Site, SiteTerms, TermsAcceptance
from aifactory.portal.federation.selectors import WAKE_CHANNEL, current_terms, may_publish_terms


@transaction.atomic
def catalog_sync() -> int:
    """Mirror the shipped catalog into the database; returns the number of machines."""
    catalog = load_catalog()
    for m in catalog.machines:
        Machine.objects.update_or_create(
            key=m.key,
            defaults={
                "name": m.name,
                "country": m.country,
                "factory": m.factory or "",
                "gpu_model": m.gpu_model or "",
                "gpu_memory_gb": m.gpu_memory_gb,
                "gpus_per_node": m.gpus_per_node,
                "total_gpus": m.total_gpus,
                "peak_bf16_tflops": m.peak_bf16_tflops,
                "data": m.to_dict(),
            },
        )
    return len(catalog.machines)


@transaction.atomic
def site_create(
    *, name: str, machine_key: str, backend: str = "", personal_accounts: bool = False
) -> tuple[Site, str]:
    """Register a site for a machine; returns the site and its agent token (shown once)."""
    machine = Machine.objects.filter(key=machine_key).first()
    if machine is None:
        raise BadRequest(f"machine: unknown machine {machine_key!r}", {"field": "machine"})
    if Site.objects.filter(name=name).exists():
        raise Conflict(f"name: a site named {name!r} exists already", {"field": "name"})
    token = tokens.new_token("s")
    site = Site.objects.create(name=name, machine=machine, token_digest=tokens.digest(token), backend=backend,
                               personal_accounts=personal_accounts)
    return site, token


def site_rotate_token(*, site: Site) -> str:
    token = tokens.new_token("s")
    Site.objects.filter(pk=site.pk).update(token_digest=tokens.digest(token))
    return token


@transaction.atomic
def site_heartbeat(*, site: Site, queue_wait_s: float, backend: str) -> None:
    """The site's agent reports. When no site at all had reported for AGENT_STALE_AFTER_S, the portal (or the way to
    it) was what was away, not every agent: the sites still silent get that long again, counted from now, before
    failover takes them for lost (selectors.sites_lost)."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.AGENT_STALE_AFTER_S)
    if not Site.objects.filter(last_seen_at__gte=cutoff).exists():
        Site.objects.exclude(pk=site.pk).update(silence_counted_from=now)
    Site.objects.filter(pk=site.pk).update(last_seen_at=now, queue_wait_s=queue_wait_s, backend=backend)


def site_wake(*, site_ids: Iterable[int]) -> None:
    """Wake the agents of these sites that wait for work (federation.selectors.site_wait). On PostgreSQL this is a
    NOTIFY in the caller's transaction, so it is delivered when the work it announces is committed, and not at all
    if it is rolled back. On SQLite nothing is sent: a waiting agent looks for work itself a few times a second."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for site_id in sorted(set(site_ids)):
            cursor.execute("SELECT pg_notify(%s, %s)", [WAKE_CHANNEL, str(site_id)])
# --- terms of use -----------------------------------------------------------------------------------------------------

MAX_TERMS_CHARS = 100_000


@transaction.atomic
def terms_publish(*, site: Site, text: str, actor: AbstractBaseUser, url: str = "") -> SiteTerms:
    """Publish a new version of the site's terms; everyone is asked again."""
    if not may_publish_terms(actor, site):
        raise Forbidden("only staff and the site's factory operators publish its terms")
    text = text.strip()
    if not text:
        raise BadRequest("text: the terms are empty", {"field": "text"})
    if len(text) > MAX_TERMS_CHARS:
        raise BadRequest(f"text: longer than {MAX_TERMS_CHARS} characters", {"field": "text"})
    Site.objects.select_for_update().filter(pk=site.pk).first()  # one publisher at a time per site
    current = current_terms(site)
    return SiteTerms.objects.create(site=site, version=(current.version + 1) if current else 1, text=text,
                                    url=url.strip(), published_by=actor)


@transaction.atomic
def terms_accept(*, site: Site, user: AbstractBaseUser, version: int) -> TermsAcceptance:
    """Record that the person accepted the site's current terms (the version they read). Accepting again is
    harmless."""
    current = current_terms(site)
    if current is None:
        raise BadRequest(f"site: {site.name} has published no terms", {"field": "site"})
    if version != current.version:
        raise Conflict(f"version: {site.name}'s current terms are version {current.version}, not {version}; read "
                       "them again", {"field": "version", "current": current.version})
    try:
        with transaction.atomic():
            return TermsAcceptance.objects.create(user=user, terms=current)
    except IntegrityError:
        return TermsAcceptance.objects.get(user=user, terms=current)
