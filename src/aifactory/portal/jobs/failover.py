"""Failover: jobs waiting on a site whose agent stopped reporting move to a site that can take them.

`jobs_failover` moves the jobs that wait (pending, or submitted but not running) on a site whose agent has not
reported for AGENT_STALE_AFTER_S to another site that can take them; the site it left gets a JobRevocation.

    1. A job's commands start at a site only when that site's agent has released the job's start gate, and the
       agent releases it only after the portal accepted its report that the job runs there (`job_apply_report`,
       under the job's row lock, for the job's current site only).
    2. The portal moves a job only while it is pending or submitted (under the same row lock); once a running
       report is accepted the job stays where it is.
    3. So exactly one site is ever told that a job runs, and only that site's copy runs the commands. A copy left
       at a lost site waits at its gate: its agent, if it comes back, finds the job among its revocations and
       cancels the copy, and a report of the copy running is answered 410 Gone (the agent cancels instead of
       releasing); a copy that starts while its agent is away ends after the gate's wait, having run nothing.
    4. A job never goes back to a site it left, so each scheduler holds at most one copy per uid; the uid is the
       job's name in every scheduler (`aif-<uid>`).
    5. Nothing is lost: a move changes site, allocation and state in one transaction; the job always belongs to
       exactly one site, and its uid never changes.

A site is lost when its agent has not reported for AGENT_STALE_AFTER_S. When no site at all has reported for that
long, the portal was what was away (its web tier down while failover ran on the database): the sites still silent
when reports resume get that long again before they are lost (federation.services.site_heartbeat).

It runs as a periodic task on the task runner (`jobs/tasks.py`, every FAILOVER_EVERY_S), in whichever worker takes
it; `aifactory failover` and `django-admin failover` run one pass by hand. Passes may overlap (a slow pass, several
workers): each job is moved under its row lock, taken with SKIP LOCKED (a job another pass is moving is left to it),
and only while it still sits on the lost site the pass listed it under, so no job moves twice.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from aifactory.core.exceptions import NoPlacement
from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.allocations.services import allocation_hold, allocation_release
from aifactory.portal.federation.selectors import site_lost, sites_lost
from aifactory.portal.federation.services import site_wake
from aifactory.portal.jobs.broker import candidates, decide
from aifactory.portal.jobs.models import Job, JobPlacement, JobRevocation
from aifactory.portal.jobs.services import WAITING, _request_of, _revoke, job_move, job_reservation

log = logging.getLogger("aifactory.failover")


@dataclass(frozen=True)
class Move:
    uid: str
    from_site: str
    to_site: str
    account: str


@dataclass
class FailoverResult:
    moved: list[Move] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    stuck: dict[str, str] = field(default_factory=dict)
    """Jobs on a lost site that no other site can take now, with why."""


def jobs_failover() -> FailoverResult:
    """Move every job waiting on a site whose agent stopped reporting to a site that can take it (see the module
    docstring for why this never runs a job twice). Safe to run at any time, from several processes."""
    result = FailoverResult()
    lost = sites_lost()
    listed = list(Job.objects.filter(site__in=lost, state__in=WAITING).order_by("pk").values_list("uid", "site_id"))
    for uid, site_id in listed:
        _failover_one(uid, site_id, result)
    return result


@transaction.atomic
def _failover_one(uid: str, listed_site_id: int, result: FailoverResult) -> None:
    job = (Job.objects.select_for_update(skip_locked=True, of=("self",)).select_related("site", "allocation")
           .filter(uid=uid).first())
    if job is None:
        return  # another pass holds the job (it is moving it, or the agent is reporting on it)
    old_site = job.site
    if job.site_id != listed_site_id or job.state not in WAITING or not site_lost(old_site):
        return  # it moved, started, or its site came back, since the list was read
    since = old_site.last_seen_at.isoformat(timespec="seconds") if old_site.last_seen_at else "never"
    if job.cancel_requested:
        job.message = f"cancelled; site {old_site.name} is not reporting (last seen {since}) and cancels its copy"
        job_move(job, JobState.CANCELLED, reason=job.message)
        job.ended_at = timezone.now()
        job.save(update_fields=["state", "message", "ended_at"])
        allocation_release(allocation_id=job.allocation_id, gpu_seconds=job_reservation(job))
        _revoke(job, "cancelled while its site was not reporting")
        result.cancelled.append(uid)
        return
    mine = Allocation.objects.filter(pk=job.allocation_id) if job.pinned else Allocation.objects.filter(
        organisation_id=job.allocation.organisation_id)
    allocations = list(mine.select_for_update(of=("self",)).select_related("machine").order_by("pk"))
    left = set(job.placements.values_list("site_id", flat=True)) | {old_site.pk}
    request, layout = _request_of(job)
    pairs = candidates(allocations, layout=layout, left_sites=left, user_id=job.submitted_by_id)
    try:
        decision = decide(request, pairs, credit={job.allocation_id: float(job.gpus * job.time_limit_s)},
                          hold=False)
    except NoPlacement as exc:
        result.stuck[uid] = exc.message
        return
    cause = f"moved from {old_site.name}: its agent has not reported since {since}"
    JobRevocation.objects.create(job=job, site=old_site, allocation=job.allocation,
                                 reason=f"moved to {decision.site.name}"[:200])
    if job.state != JobState.PENDING:
        job_move(job, JobState.PENDING, reason=cause)
    if decision.allocation.pk != job.allocation_id:  # the reservation follows the job (rows locked above)
        allocation_release(allocation_id=job.allocation_id, gpu_seconds=job_reservation(job))
        allocation_hold(allocation=decision.allocation, gpu_seconds=job_reservation(job))
    job.site = decision.site
    job.allocation = decision.allocation
    job.scheduler_id = ""
    job.started_at = None
    job.expected_start_at = decision.expected_start_at
    job.expected_end_at = decision.expected_end_at
    job.message = cause
    job.save()
    JobPlacement.objects.create(job=job, site=decision.site, allocation=decision.allocation, cause=cause[:200],
                                reasons=decision.reasons, expected_start_at=decision.expected_start_at,
                                expected_end_at=decision.expected_end_at)
    site_wake(site_ids=[decision.site.pk, old_site.pk])
    result.moved.append(Move(uid, old_site.name, decision.site.name, decision.allocation.account))


def describe(result: FailoverResult) -> list[str]:
    """A pass in words, one line per job moved or cancelled."""
    lines = [f"moved {m.uid} from {m.from_site} to {m.to_site} (account {m.account})" for m in result.moved]
    lines += [f"cancelled {uid} (its site is not reporting)" for uid in result.cancelled]
    return lines


def result_out(result: FailoverResult) -> dict[str, Any]:
    """A pass as JSON (the failover task's return value, `aifactory failover --json`)."""
    return {"moved": [asdict(m) for m in result.moved], "cancelled": result.cancelled, "stuck": result.stuck}
