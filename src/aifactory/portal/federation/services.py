"""Writes of the federation context: catalog mirror, sites and their agents' heartbeats."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from aifactory.core.catalog import load_catalog
from aifactory.portal.common import tokens
from aifactory.portal.common.errors import BadRequest, Conflict
from aifactory.portal.federation.models import Machine, Site
from aifactory.portal.federation.selectors import WAKE_CHANNEL


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


def site_heartbeat(*, site: Site, queue_wait_s: float, backend: str) -> None:
    Site.objects.filter(pk=site.pk).update(last_seen_at=timezone.now(), queue_wait_s=queue_wait_s, backend=backend)


def site_wake(*, site_ids: Iterable[int]) -> None:
    """Wake the agents of these sites that wait for work (federation.selectors.site_wait). On PostgreSQL this is a
    NOTIFY in the caller's transaction, so it is delivered when the work it announces is committed, and not at all
    if it is rolled back. On SQLite nothing is sent: a waiting agent looks for work itself a few times a second."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for site_id in sorted(set(site_ids)):
            cursor.execute("SELECT pg_notify(%s, %s)", [WAKE_CHANNEL, str(site_id)])
