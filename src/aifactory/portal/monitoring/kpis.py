"""The KPIs, each computed from the portal's own records as they stood at a moment (never typed in).

    startups_served           organisations of SME category micro, small or medium holding an allocation created
                              by then (allocations.Allocation.created_at)
    median_days_to_first_job  median over allocations with a job, of days from the application's submission
                              (access.Application.submitted_at) to the allocation's first job (jobs.Job.created_at)
    gpu_hours_delivered       GPU-seconds charged by then / 3600 (allocations.UsageCharge.charged_at), broken down
                              by the organisation's sector and member state
    open_science_met_share    obligations met by then (obligations.Obligation.met_at) / obligations created by then
    support_within_sla        support requests whose first-answer clock was decided by then (answered, or due day
                              passed): the share answered on or before the due day (support.SupportRequest)
    matches_to_collaboration  matches recorded as having led to a collaboration by then
                              (matchmaking.Match.collaboration_at)
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Min, Sum
from django.utils import timezone

from aifactory.core.modes import add_working_days
from aifactory.portal.access.models import Application
from aifactory.portal.allocations.models import Allocation, UsageCharge
from aifactory.portal.jobs.models import Job
from aifactory.portal.matchmaking.models import Match
from aifactory.portal.obligations.models import Obligation
from aifactory.portal.support.models import SupportRequest

SMES = ("micro", "small", "medium")


def startups_served(at: datetime) -> float:
    return float(Allocation.objects.filter(created_at__lte=at, organisation__sme_category__in=SMES)
                 .values("organisation").distinct().count())


def median_days_to_first_job(at: datetime) -> float | None:
    firsts = dict(Job.objects.filter(created_at__lte=at).values("allocation__application_id")
                  .annotate(first=Min("created_at")).values_list("allocation__application_id", "first"))
    if not firsts:
        return None
    submitted = dict(Application.objects.filter(pk__in=firsts).values_list("pk", "submitted_at"))
    days = [(firsts[pk] - submitted[pk]).total_seconds() / 86400 for pk in firsts if pk in submitted]
    return round(statistics.median(days), 6) if days else None


def gpu_hours_delivered(at: datetime) -> float:
    seconds = UsageCharge.objects.filter(charged_at__lte=at).aggregate(s=Sum("gpu_seconds"))["s"] or 0.0
    return round(seconds / 3600.0, 6)


def gpu_hours_breakdown(at: datetime) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {"sector": {}, "country": {}}
    rows = (UsageCharge.objects.filter(charged_at__lte=at)
            .values("allocation__organisation__sector", "allocation__organisation__country")
            .annotate(s=Sum("gpu_seconds")))
    for row in rows:
        hours = (row["s"] or 0.0) / 3600.0
        for name, key in (("sector", "allocation__organisation__sector"),
                          ("country", "allocation__organisation__country")):
            label = row[key] or "unknown"
            out[name][label] = round(out[name].get(label, 0.0) + hours, 6)
    return out


def open_science_counts(at: datetime) -> tuple[int, int]:
    created = Obligation.objects.filter(created_at__lte=at)
    return created.filter(met_at__lte=at).count(), created.count()


def open_science_met_share(at: datetime) -> float | None:
    met, total = open_science_counts(at)
    return round(met / total, 4) if total else None


def support_within_sla(at: datetime) -> float | None:
    met, decided = support_counts(at)
    return round(met / decided, 4) if decided else None


def support_counts(at: datetime) -> tuple[int, int]:
    day = timezone.localdate(at)
    met = decided = 0
    for r in SupportRequest.objects.filter(opened_at__lte=at, sla_working_days__isnull=False):
        due = add_working_days(timezone.localdate(r.opened_at), r.sla_working_days or 1)
        if r.first_answered_at is not None and r.first_answered_at <= at:
            decided += 1
            met += timezone.localdate(r.first_answered_at) <= due
        elif day > due:
            decided += 1
    return met, decided


def matches_to_collaboration(at: datetime) -> float:
    return float(Match.objects.filter(collaboration_at__lte=at).count())


KPIS: dict[str, Callable[[datetime], float | None]] = {
    "startups_served": startups_served,
    "median_days_to_first_job": median_days_to_first_job,
    "gpu_hours_delivered": gpu_hours_delivered,
    "open_science_met_share": open_science_met_share,
    "support_within_sla": support_within_sla,
    "matches_to_collaboration": matches_to_collaboration,
}

# The counts behind a share: (how many met it, out of how many).
BASIS: dict[str, Callable[[datetime], tuple[int, int]]] = {
    "open_science_met_share": open_science_counts,
    "support_within_sla": support_counts,
}

SOURCES: dict[str, str] = {
    "startups_served": "allocations of micro, small and medium organisations (Allocation.created_at)",
    "median_days_to_first_job": "application submitted (Application.submitted_at) to first job (Job.created_at)",
    "gpu_hours_delivered": "usage charged for finished jobs (UsageCharge.gpu_seconds, charged_at)",
    "open_science_met_share": "winners' obligations met (Obligation.met_at) over those created",
    "support_within_sla": "first answers on or before the centre's due day (SupportRequest)",
    "matches_to_collaboration": "matches recorded as a collaboration (Match.collaboration_at)",
}


def details(at: datetime) -> dict[str, Any]:
    """Figures that go with the KPIs: GPU-hours per sector and member state, overdue obligations, open requests."""
    return {
        "gpu_hours": gpu_hours_breakdown(at),
        "obligations_overdue": Obligation.objects.filter(state="pending", due_on__lt=timezone.localdate(at)).count(),
        "support_open": SupportRequest.objects.filter(state__in=["new", "assigned", "waiting_user"]).count(),
    }
