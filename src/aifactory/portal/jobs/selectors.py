from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Allocation, UsageCharge
from aifactory.portal.allocations.selectors import UsageEvent, orders_pending
from aifactory.portal.common.errors import NotFound
from aifactory.portal.federation.models import Site
from aifactory.portal.federation.selectors import site_alive
from aifactory.portal.jobs.models import Job, JobRevocation, JobStateChange
from aifactory.portal.siteaccess.models import SiteAccount

UID_RE = re.compile(r"^[0-9a-f]{32}$")


def jobs_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Job]:
    qs = Job.objects.select_related("allocation", "site", "allocation__machine").prefetch_related(
        "placements", "placements__site__machine", "placements__allocation", "revocations__site"
    )
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(allocation__organisation__members=user)


def job_get(*, user: AbstractBaseUser | AnonymousUser, uid: str) -> Job:
    job = jobs_of(user).filter(uid=uid).first() if UID_RE.match(uid) else None
    if job is None:
        raise NotFound(f"job {uid} not found")
    return job


def job_lease_expired(job: Job, now: datetime | None = None) -> bool:
    """Whether a job's copy at its site has certainly stopped because its lease ran out: the job has a lease, its
    site's agent is lost (no report for AGENT_STALE_AFTER_S), and the lease plus LEASE_GRACE_S have passed since the
    agent's last report. The agent renews a lease only after a report (a lease runs to at most its last report +
    lease_s, by the site's clock); the grace covers the clocks' difference and the time the copy takes to stop."""
    site = job.site
    if not job.lease_s or site_alive(site):
        return False
    if site.last_seen_at is None:
        return True
    now = now or timezone.now()
    return now >= site.last_seen_at + timedelta(seconds=job.lease_s + settings.LEASE_GRACE_S)


def job_history(job: Job) -> list[JobStateChange]:
    """The job's state changes, oldest first, with who made each (a person, a site's agent, or the portal)."""
    return list(JobStateChange.objects.filter(job=job).select_related("actor", "site").order_by("at", "pk"))


def jobs_open_for_site(site: Site) -> QuerySet[Job]:
    """Jobs the site's agent must act on: not yet finished."""
    open_states = [s.value for s in JobState if not s.terminal]
    return Job.objects.select_related("allocation").filter(site=site, state__in=open_states).order_by("pk")


def site_has_work(site: Site) -> bool:
    """Whether the site's agent has something to do now: a provisioning order, a copy to cancel, a job to hand to
    its scheduler, or a job to cancel there."""
    return (orders_pending(site).exists() or revocations_open(site).exists()
            or Job.objects.filter(site=site, state=JobState.PENDING.value).exists()
            or Job.objects.filter(site=site, cancel_requested=True)
            .exclude(state__in=[s.value for s in JobState if s.terminal]).exists())


def revocations_open(site: Site) -> QuerySet[JobRevocation]:
    """Copies of jobs the site must cancel: the jobs moved away from it, or were cancelled before it reported."""
    return JobRevocation.objects.select_related("job", "allocation").filter(site=site, done_at__isnull=True).order_by(
        "pk"
    )


def jobs_queued_at(sites: Iterable[Site]) -> QuerySet[Job]:
    """The unfinished jobs of the sites, oldest first: their queue as the portal sees it."""
    open_states = [s.value for s in JobState if not s.terminal]
    return Job.objects.select_related("allocation", "allocation__organisation", "site").filter(
        site__in=list(sites), state__in=open_states
    ).order_by("created_at", "pk")


def usage_history(allocation: Allocation) -> list[UsageEvent]:
    """The allocation's charges in time order, with the running total: the burn-down's points."""
    rows: list[tuple[datetime, str, str, float]] = [
        (c.charged_at, c.job.uid, c.job.name, c.gpu_seconds)
        for c in UsageCharge.objects.filter(allocation=allocation).select_related("job")
    ]
    rows += [
        (r.done_at, r.job.uid, f"{r.job.name} (copy at {r.site.name})", r.gpu_seconds)
        for r in JobRevocation.objects.filter(allocation=allocation, done_at__isnull=False, gpu_seconds__gt=0)
        .select_related("job", "site")
        if r.done_at is not None
    ]
    rows.sort(key=lambda row: row[0])
    used = 0.0
    out = []
    for at, uid, name, seconds in rows:
        used += seconds / 3600.0
        out.append(UsageEvent(at=at, job_uid=uid, job_name=name, gpu_seconds=seconds, used_hours=used,
                              left_hours=allocation.gpu_hours - used))
    return out


def usage_by_person(allocation: Allocation) -> list[dict[str, object]]:
    """The allocation's GPU usage per person who submitted jobs to it, with their site account names: jobs run under
    each person's account where the site runs them so, and the scheduler's accounting names that user."""
    rows = (Job.objects.filter(allocation=allocation).values("submitted_by_id", "submitted_by__username")
            .annotate(gpu_seconds=Sum("gpu_seconds"), jobs=Count("pk")).order_by("-gpu_seconds", "submitted_by_id"))
    names: dict[int, set[str]] = {}
    for user_id, username in SiteAccount.objects.filter(allocation=allocation).values_list("user_id", "username"):
        names.setdefault(user_id, set()).add(username)
    return [{"person": r["submitted_by__username"], "site_users": sorted(names.get(r["submitted_by_id"], set())),
             "gpu_hours": float(r["gpu_seconds"] or 0.0) / 3600, "jobs": int(r["jobs"])} for r in rows]
