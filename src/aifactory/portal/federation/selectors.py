from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from aifactory.core.catalog import load_catalog
from aifactory.core.exceptions import InvalidInput
from aifactory.core.sites import load_profiles
from aifactory.core.training import RunPlan, plan_run
from aifactory.portal.common import tokens
from aifactory.portal.common.errors import NotFound
from aifactory.portal.federation.models import Machine, Site, SiteTerms, TermsAcceptance
from aifactory.portal.organisations.selectors import operator_factories

WAKE_CHANNEL = "aifactory_site"
"""The PostgreSQL NOTIFY channel on which a site's agent is woken; the payload is the site's id."""


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


def site_lost(site: Site) -> bool:
    """Whether failover may take the site's waiting jobs: its agent has not reported for AGENT_STALE_AFTER_S, nor
    has that long passed since the portal was reachable again after an outage (silence_counted_from). A site can be
    neither alive nor lost for a while after the portal comes back: no new job goes there, none is taken away."""
    cutoff = timezone.now() - timedelta(seconds=settings.AGENT_STALE_AFTER_S)
    return (site.last_seen_at is None or site.last_seen_at < cutoff) and (
        site.silence_counted_from is None or site.silence_counted_from < cutoff)


def sites_lost() -> list[Site]:
    """The sites that are lost (site_lost)."""
    cutoff = timezone.now() - timedelta(seconds=settings.AGENT_STALE_AFTER_S)
    return list(Site.objects.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=cutoff))
                .filter(Q(silence_counted_from__isnull=True) | Q(silence_counted_from__lt=cutoff)))


WAIT_POLL_S = 0.25
"""Without PostgreSQL's notifications, how often a waiting agent's request looks for work."""


def site_wait(*, site: Site, timeout_s: float, ready: Callable[[], bool]) -> bool:
    """Block until `ready()` says the site has work, or `timeout_s` passes; returns what `ready()` said last.

    On PostgreSQL the request LISTENs on its own connection for the NOTIFY that services send when they commit
    work for a site (federation.services.site_wake), so it wakes as soon as the work is there and costs nothing
    while it waits; elsewhere it looks every WAIT_POLL_S seconds. The caller's worker must be one of several
    threads (gunicorn gthread), so that a waiting agent holds one thread, not the worker."""
    deadline = time.monotonic() + max(timeout_s, 0.0)
    if connection.vendor != "postgresql":
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(WAIT_POLL_S, left))
        return True
    import psycopg  # only the PostgreSQL backend has it

    db = settings.DATABASES["default"]
    with psycopg.connect(dbname=db["NAME"], user=db.get("USER") or None, password=db.get("PASSWORD") or None,
                         host=db.get("HOST") or None, port=db.get("PORT") or None, autocommit=True) as listener:
        listener.execute(f"LISTEN {WAKE_CHANNEL}")
        if ready():  # after LISTEN: work committed from now on is announced, work committed before is seen here
            return True
        mine = str(site.pk)
        while (left := deadline - time.monotonic()) > 0:
            for note in listener.notifies(timeout=left, stop_after=1):
                if note.payload == mine and ready():
                    return True
        return ready()
# --- terms of use -----------------------------------------------------------------------------------------------------


def site_get(name: str) -> Site:
    site = Site.objects.select_related("machine").filter(name=name).first()
    if site is None:
        raise NotFound(f"site {name!r} not found", {"field": "site"})
    return site


def current_terms(site: Site) -> SiteTerms | None:
    """The site's current terms (its highest version), or None where the site has published none."""
    return SiteTerms.objects.filter(site=site).order_by("-version").first()


def has_accepted_current_terms(user: AbstractBaseUser | AnonymousUser, site: Site) -> bool:
    """Whether the person may have an account and place jobs at the site: they accepted its current terms of use.
    A site that has published no terms asks for nothing; a new version asks again."""
    terms = current_terms(site)
    if terms is None:
        return True
    if not user.is_authenticated:
        return False
    return TermsAcceptance.objects.filter(user=user, terms=terms).exists()


def with_terms_of(sites: QuerySet[Site], user_id: int) -> QuerySet[Site]:
    """The sites, each annotated with its current terms' version (`terms_version`, None where it has published none)
    and whether the person accepted that version (`terms_accepted`), in the same query. The broker asks this."""
    latest = SiteTerms.objects.filter(site=OuterRef("pk")).order_by("-version")
    accepted = TermsAcceptance.objects.filter(user_id=user_id, terms__site=OuterRef("pk"),
                                              terms__version=OuterRef("terms_version"))
    current = sites.annotate(terms_version=Subquery(latest.values("version")[:1]))
    return current.annotate(terms_accepted=Exists(accepted))


def terms_refusal(site_name: str, version: int) -> str:
    """Why a site takes none of a person's jobs until they accept its terms, in the words the refusals use."""
    return f"accept the terms of use of {site_name} version {version} (at /sites/{site_name}/terms/)"


def terms_acceptance(user: AbstractBaseUser | AnonymousUser, terms: SiteTerms) -> TermsAcceptance | None:
    if not user.is_authenticated:
        return None
    return TermsAcceptance.objects.filter(user=user, terms=terms).first()


def terms_status_of(user: AbstractBaseUser | AnonymousUser) -> list[dict[str, Any]]:
    """Every site with terms, its current version and whether (and when) the person accepted it."""
    rows = []
    for site in Site.objects.select_related("machine"):
        terms = current_terms(site)
        if terms is None:
            continue
        accepted = terms_acceptance(user, terms)
        rows.append({"site": site, "terms": terms, "accepted_at": accepted.accepted_at if accepted else None})
    return rows


def may_publish_terms(user: AbstractBaseUser | AnonymousUser, site: Site) -> bool:
    """Staff, and the operators of the AI Factory the site's machine belongs to, publish its terms."""
    if not user.is_authenticated:
        return False
    return bool(user.is_staff) or (bool(site.machine.factory) and site.machine.factory in operator_factories(user))


def planned_run(machine_key: str, *, params: float, tokens: float, gpus: int) -> RunPlan | None:
    """The run planned on the machine for the GPUs asked for (whole nodes above one node); None where the planner
    cannot plan it (no GPUs per node known, or a machine outside the catalog)."""
    try:
        machine = load_catalog().machine(machine_key)
    except (KeyError, InvalidInput):
        return None
    profile = next((p for p in load_profiles().profiles if p.machine == machine.key), None)
    per_node = profile.gpus_per_node if profile else machine.gpus_per_node
    if not per_node or not machine.gpu_model:
        return None
    return plan_run(machine=machine.key, nodes=max(1, math.ceil(gpus / per_node)), tokens=tokens, params=params,
                    gpus_per_node=min(gpus, per_node))
