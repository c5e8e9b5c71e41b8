"""Writes of the jobs context. The job's state changes only here, through the core's transition table, and every
change is a JobStateChange row (job_move): who moved it (the person, the site's agent, or the portal), when, from,
to and why. A submission writes the job's first row (new -> pending), its one insert beyond the job and placement.

Submission places the job with the broker (broker.py: the portal's rules, then aifactory.core.placement). A job
that would take an allocation below zero (its GPUs x time limit against what is left after usage and unfinished
jobs) is refused before it reaches a site.

Failover (moving jobs off sites whose agent stopped reporting) is in failover.py, with why no job runs twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from aifactory.core.exceptions import InvalidInput, NoPlacement
from aifactory.core.jobs import JobState, check_transition
from aifactory.core.jobspec import JobSpec, check_script_job, spec_from_dict
from aifactory.core.placement import JobRequest
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.allocations.selectors import allocation_provisioned, gpu_seconds_left
from aifactory.portal.allocations.services import (
    allocation_add_usage,
    allocation_charge,
    allocation_release,
    allocation_reserve,
)
from aifactory.portal.common.errors import BadRequest, Conflict, Gone, NotFound, Unprocessable
from aifactory.portal.common.models import remember_related
from aifactory.portal.federation.models import Site
from aifactory.portal.federation.services import site_wake
from aifactory.portal.jobs.broker import Candidate, Decision, Layout, candidates, decide, reasons_of
from aifactory.portal.jobs.models import Job, JobPlacement, JobRevocation, JobStateChange
from aifactory.portal.jobs.selectors import UID_RE, job_lease_expired
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.selectors import check_acts_for

log = logging.getLogger("aifactory.jobs")

LOG_TAIL_MAX = 64 * 1024
MAX_OUTPUT_FILES = 64
WAITING = (JobState.PENDING.value, JobState.SUBMITTED.value)


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field})


def validate_job_fields(*, name: str, script: str, gpus: int, time_limit_s: int, env: Mapping[str, str]) -> str:
    """The script form's fields checked by the job spec's rules (core.jobspec.check_script_job); the script as it
    will run."""
    try:
        text, _ = check_script_job(name=name, script=script, gpus=gpus, time_limit_s=time_limit_s, env=env)
    except InvalidInput as exc:
        raise _bad(exc.field, exc.message[len(exc.field) + 2:]) from None
    return text


def job_reservation(job: Job) -> int:
    """What the job holds on its allocation's counter while it is unfinished: its GPUs x time limit."""
    return job.gpus * job.time_limit_s


USAGE_OVERRUN_FACTOR = 2
"""A scheduler may let a job run past its time limit (its kill grace, OverTimeLimit) and an agent may round up."""
USAGE_SLACK_S = 3600
"""GPU-seconds allowed above that for clocks and accounting granularity, whatever the job's size."""


def usage_ceiling(job: Job) -> float:
    """The most GPU-seconds a report may charge for the job: GPUs x USAGE_OVERRUN_FACTOR x time limit, plus
    USAGE_SLACK_S. A report above it is refused as out of range rather than charged."""
    return job.gpus * max(job.time_limit_s * USAGE_OVERRUN_FACTOR, 1) + USAGE_SLACK_S


# --- submission -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Once:
    """A submission's Idempotency-Key and the digest of what was submitted with it (see job_submit_once)."""

    key: str
    digest: str


def job_submit_once(*, user: AbstractBaseUser, once: Once, submit: Callable[[], Job]) -> tuple[Job, bool]:
    """Run `submit` (job_submit or job_submit_spec given `once`) unless this person already submitted with this key:
    then the job that submission made, and True (a replay). A key sent again with another request is refused.

    Two requests with the same key at once: both may pass the first look; the second insert meets the unique
    constraint (job_idempotency_key_once) once the first commits, its transaction (reservation included) is rolled
    back, and it answers with the first's job. So one key never makes two jobs nor reserves hours twice."""
    existing = _submitted_with(user=user, once=once)
    if existing is not None:
        return existing, True
    try:
        return submit(), False
    except IntegrityError:
        existing = _submitted_with(user=user, once=once)
        if existing is None:
            raise
        return existing, True


def _submitted_with(*, user: AbstractBaseUser, once: Once) -> Job | None:
    """The job this person submitted with `once.key`, or None; Unprocessable when the key came with another request."""
    job = Job.objects.filter(submitted_by=user, idempotency_key=once.key).first()
    if job is not None and job.request_digest != once.digest:
        raise Unprocessable(f"Idempotency-Key: already used for another submission (job {job.uid}); use a new key "
                            "for a new job", {"field": "Idempotency-Key", "job": job.uid})
    return job


def job_idempotency_keys_forget(*, now: datetime | None = None) -> int:
    """Forget the Idempotency-Keys of jobs submitted more than IDEMPOTENCY_KEEP_H hours ago (and the digests kept
    with them): a resend after that makes a new job, as it would with a new key. Returns how many were forgotten."""
    before = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEEP_H)
    return (Job.objects.filter(created_at__lt=before).exclude(idempotency_key="")
            .update(idempotency_key="", request_digest=""))


def _refusal(exc: NoPlacement, pairs: list[Candidate]) -> BadRequest | Conflict:
    rows = reasons_of(exc, pairs)
    if rows and all("not provisioned" in r["reason"] for r in rows):
        return Conflict("allocation: its account is not provisioned at any site yet; try again shortly",
                        {"reasons": rows})
    return BadRequest(exc.message, {"reasons": rows})


def job_move(job: Job, target: JobState, *, reason: str, actor: AbstractBaseUser | None = None,
             site: Site | None = None) -> JobStateChange:
    """The one guarded move of a job's state: checks the move against the core's table (InvalidTransition), sets
    the state on `job` (the caller saves it, under the job's row lock) and records who moved it: a person (`actor`),
    a site's agent (`site`), or the portal itself (neither)."""
    current = JobState(job.state)
    check_transition(current, target)
    job.state = target.value
    return JobStateChange.objects.create(job=job, actor=actor, site=site, from_state=current.value,
                                         to_state=target.value, reason=reason[:2000])


def _create(*, user: AbstractBaseUser, decision: Decision, name: str, script: str, env: Mapping[str, str], gpus: int,
            nodes: int, time_limit_s: int, spec: JobSpec | None, pinned: bool, once: Once | None,
            lease_s: int = 0) -> Job:
    """The job and its first placement. The caller then reserves the job's hours on decision.allocation in the same
    transaction, last, so that the allocation's row is locked only from that UPDATE to the commit (inserting rows
    that refer to the allocation takes no lock that waits for a reservation). The job comes back with its
    placements and revocations in hand, so that answering needs no read."""
    message = ("waiting for a site: none that can take this job is reporting now; it moves to the first that does"
               if decision.held else "")
    job = Job.objects.create(
        allocation=decision.allocation, site=decision.site, submitted_by=user, name=name, script=script, env=dict(env),
        gpus=gpus, nodes=nodes, time_limit_s=time_limit_s,
        image=(spec.image or "") if spec else "", inputs=list(spec.inputs) if spec else [],
        outputs=list(spec.outputs) if spec else [], spec=spec.to_dict() if spec else {},
        expected_start_at=decision.expected_start_at, expected_end_at=decision.expected_end_at, message=message,
        pinned=pinned, idempotency_key=once.key if once else "", request_digest=once.digest if once else "",
        lease_s=lease_s,
    )
    placement = JobPlacement.objects.create(
        job=job, site=decision.site, allocation=decision.allocation, cause="submitted", held=decision.held,
        reasons=decision.reasons, expected_start_at=decision.expected_start_at,
        expected_end_at=decision.expected_end_at,
    )
    JobStateChange.objects.create(job=job, actor=user, from_state="", to_state=JobState.PENDING.value,
                                  reason=f"submitted to {decision.site.name}" + (f"; {message}" if message else ""))
    remember_related(job, placements=[placement], revocations=[])
    site_wake(site_ids=[decision.site.pk])
    return job


def _hours_refused(allocation: Allocation, need: int) -> BadRequest:
    left = max(gpu_seconds_left(allocation), 0.0)
    return BadRequest(
        f"allocation: this job may use {need / 3600:.2f} GPU-hours (GPUs x time limit) but only "
        f"{left / 3600:.2f} are left after running and queued jobs",
        {"field": "time_limit_s", "need_gpu_hours": need / 3600, "left_gpu_hours": left / 3600},
    )


@transaction.atomic
def job_submit(
    *,
    user: AbstractBaseUser,
    allocation: Allocation,
    name: str,
    script: str,
    gpus: int,
    time_limit_s: int,
    env: Mapping[str, str] | None = None,
    once: Once | None = None,
) -> Job:
    """A job given as a script for one allocation (the web form, and API clients that name an allocation). The
    broker picks among the sites that serve the allocation; the job stays on that allocation (pinned).

    Nothing is locked while the broker decides: the hours are reserved afterwards with one conditional UPDATE of
    the allocation's row (allocation_reserve), which refuses when a concurrent submission took them first."""
    check_acts_for(user, allocation.organisation_id)
    env = dict(env or {})
    script = validate_job_fields(name=name, script=script, gpus=gpus, time_limit_s=time_limit_s, env=env)
    allocation = Allocation.objects.select_related("machine").get(pk=allocation.pk)
    if not allocation_provisioned(allocation):
        raise Conflict("allocation: its account is not provisioned at the site yet; try again shortly")
    machine = allocation.machine
    if machine.gpus_per_node is not None and machine.total_gpus is not None and gpus > machine.total_gpus:
        raise _bad("gpus", f"{machine.name} has {machine.total_gpus} GPUs")
    need = gpus * time_limit_s
    if need > gpu_seconds_left(allocation):
        raise _hours_refused(allocation, need)
    pairs = candidates([allocation], layout=None, left_sites=set(), user_id=user.pk)
    request = JobRequest(gpus=gpus, estimate_s=float(time_limit_s), time_limit_s=float(time_limit_s))
    try:
        decision = decide(request, pairs)
    except NoPlacement as exc:
        raise _refusal(exc, pairs) from None
    job = _create(user=user, decision=decision, name=name, script=script, env=env, gpus=gpus, nodes=1,
                  time_limit_s=time_limit_s, spec=None, pinned=True, once=once)
    if not allocation_reserve(allocation=decision.allocation, gpu_seconds=need):  # last: see _create
        allocation.refresh_from_db(fields=["gpu_seconds_used", "gpu_seconds_reserved"])
        raise _hours_refused(allocation, need)  # the job's rows go with the transaction
    return job


class _HoursGone(Exception):
    """The chosen allocation's hours were taken by a concurrent submission: this attempt is rolled back."""

    def __init__(self, decision: Decision, allocations: int) -> None:
        super().__init__(decision.allocation.account)
        self.decision = decision
        self.allocations = allocations


def job_submit_spec(
    *,
    user: AbstractBaseUser,
    spec: JobSpec,
    organisation: Organisation | None = None,
    allocation: Allocation | None = None,
    once: Once | None = None,
    extra_env: Mapping[str, str] | None = None,
    lease_s: int = 0,
) -> Job:
    """A job spec for an organisation: the broker places it on whichever of the organisation's allocations and
    sites is expected to finish it first (or only on `allocation` when one is given: the job is pinned to it, and
    moves only among its sites). Only the organisation's members submit for it: the allocations are read with
    that condition, and when none is left the membership is checked on its own (check_acts_for) to say why.

    Each attempt is one transaction. The broker decides on the allocations as read, with no lock; the job and its
    placement are written, and last the chosen allocation's hours are reserved with one conditional UPDATE
    (allocation_reserve), which sees every reservation committed before it, so the allocation's row is locked
    only from that UPDATE to the commit. When the UPDATE finds the hours gone (concurrent submissions took them),
    the attempt is rolled back, job and all; a job for one allocation is then refused as the hours check refuses
    it, and a job for an organisation is placed again on fresh rows, where that allocation shows what it has
    left; so hours are never booked twice and a refusal always reflects committed reservations.

    `extra_env` (the portal's own variables, such as a managed run's, which a spec may not set) joins the job's
    environment, not its spec; `lease_s` gives the job a lease (see job_abandon)."""
    if allocation is not None:
        mine = Allocation.objects.select_related("machine").filter(pk=allocation.pk)
        organisation_id = allocation.organisation_id
    elif organisation is not None:
        mine = Allocation.objects.select_related("machine").filter(organisation=organisation).order_by("pk")
        organisation_id = organisation.pk
    else:
        raise _bad("organisation", "a job is submitted for an organisation or one of its allocations")
    mine = mine.filter(organisation__memberships__user=user)  # the member's check, in the same query
    attempts = 0
    while True:
        attempts += 1
        try:
            return _submit_spec_attempt(user=user, spec=spec, mine=mine, organisation_id=organisation_id,
                                        pinned=allocation is not None, once=once, extra_env=extra_env or {},
                                        lease_s=lease_s)
        except _HoursGone as gone:
            if gone.allocations == 1 or attempts > gone.allocations:
                taken = gone.decision.allocation
                taken.refresh_from_db(fields=["gpu_seconds_used", "gpu_seconds_reserved"])
                raise _hours_refused(taken, spec.resources.gpus * spec.resources.time_limit_s) from None


@transaction.atomic
def _submit_spec_attempt(*, user: AbstractBaseUser, spec: JobSpec, mine: Any, organisation_id: int,
                         pinned: bool, once: Once | None, extra_env: Mapping[str, str], lease_s: int) -> Job:
    r = spec.resources
    allocations = list(mine)
    if not allocations:
        check_acts_for(user, organisation_id)  # Forbidden for a person who is not a member
        raise Conflict("organisation: has no allocation to run jobs on; apply for access first",
                       {"field": "organisation"})
    pairs = candidates(allocations, layout=Layout(r.gpus_per_node, r.nodes), left_sites=set(), user_id=user.pk)
    if not pairs:
        raise Conflict("organisation: no site serves its allocations' machines yet", {"field": "organisation"})
    try:
        decision = decide(spec.request(), pairs)
    except NoPlacement as exc:
        raise _refusal(exc, pairs) from None
    job = _create(user=user, decision=decision, name=spec.name, script=spec.script(), env={**spec.env, **extra_env},
                  gpus=r.gpus, nodes=r.nodes, time_limit_s=r.time_limit_s, spec=spec, pinned=pinned, once=once,
                  lease_s=lease_s)
    if not allocation_reserve(allocation=decision.allocation, gpu_seconds=r.gpus * r.time_limit_s):
        raise _HoursGone(decision, len(allocations))  # rolls this attempt back
    return job


def _request_of(job: Job) -> tuple[JobRequest, Layout | None]:
    if job.spec:
        spec = spec_from_dict(job.spec)
        return spec.request(), Layout(spec.resources.gpus_per_node, spec.resources.nodes)
    limit = float(job.time_limit_s)
    return JobRequest(gpus=job.gpus, estimate_s=limit, time_limit_s=limit), None


# --- cancel -----------------------------------------------------------------------------------------------------------


def _revoke(job: Job, reason: str) -> None:
    JobRevocation.objects.get_or_create(job=job, site=job.site,
                                        defaults={"allocation": job.allocation, "reason": reason[:200]})


@transaction.atomic
def job_cancel(*, job: Job, user: AbstractBaseUser) -> Job:
    """Cancel a job for `user`: a pending job at once (pending -> cancelled, by that person); a job its site has
    already is cancelled there by the agent, which reports the move."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.terminal:
        raise Conflict(f"job is {job.state} already")
    if job.state == JobState.PENDING:
        job.message = "cancelled before it reached the site"
        job_move(job, JobState.CANCELLED, actor=user, reason=job.message)
        job.ended_at = timezone.now()
        job.save(update_fields=["state", "message", "ended_at"])
        allocation_release(allocation_id=job.allocation_id, gpu_seconds=job_reservation(job))
        # The site may have handed it to its scheduler without having said so yet: it cancels that copy.
        _revoke(job, "cancelled before the site reported it")
    else:
        job.cancel_requested = True  # the agent cancels it at the scheduler and reports back
        job.save(update_fields=["cancel_requested"])
    site_wake(site_ids=[job.site_id])
    return job


# --- a running job whose site is lost ---------------------------------------------------------------------------------


@transaction.atomic
def job_abandon(*, job: Job) -> Job:
    """Give up a running job whose site's agent is lost, once its lease has run out (job_lease_expired): the job is
    failed, its reservation released, and its site told to cancel its copy (the copy's usage is charged when the
    agent confirms, as for any revocation). Only a job with a lease can be abandoned: its copy stops by itself when
    the agent no longer renews the lease, so nothing of it runs once the lease and its grace have passed."""
    job = Job.objects.select_for_update().select_related("site").get(pk=job.pk)
    if JobState(job.state) != JobState.RUNNING:
        raise Conflict(f"job is {job.state}: only a running job is abandoned")
    if not job_lease_expired(job):
        raise Conflict("job: its site is reporting, or its lease has not run out yet", {"field": "lease_s"})
    since = job.site.last_seen_at.isoformat(timespec="seconds") if job.site.last_seen_at else "never"
    job.message = (f"site {job.site.name} lost (last report {since}); the job's lease of {job.lease_s} s ran out, "
                   "so its copy has stopped")
    job_move(job, JobState.FAILED, reason=job.message)
    job.ended_at = timezone.now()
    job.save(update_fields=["state", "message", "ended_at"])
    allocation_release(allocation_id=job.allocation_id, gpu_seconds=job_reservation(job))
    allocation_charge(allocation=job.allocation, job=job, gpu_seconds=0.0)
    _revoke(job, "abandoned: its site was lost and its lease ran out")
    return job


# --- agents' reports --------------------------------------------------------------------------------------------------


def _output_files(value: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if len(value) > MAX_OUTPUT_FILES:
        raise BadRequest(f"output_files: at most {MAX_OUTPUT_FILES}", {"field": "output_files"})
    return [{"path": str(f["path"])[:1024], "bytes": int(f["bytes"])} for f in value]


@transaction.atomic
def job_apply_report(
    *,
    site: Site,
    uid: str,
    state: JobState,
    scheduler_id: str = "",
    exit_code: int | None = None,
    gpu_seconds: float = 0.0,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    log_tail: str = "",
    message: str = "",
    output_files: Sequence[Mapping[str, Any]] | None = None,
) -> Job:
    """Take an agent's report of a job. Repeating a report is harmless; moving backwards is refused.

    A report from a site the job is no longer at (it moved, or was cancelled before the site reported it) is
    answered Gone: the site must cancel its copy, and must not let it start."""
    job = Job.objects.select_for_update().filter(uid=uid).first() if UID_RE.match(uid) else None
    revoked = job is not None and JobRevocation.objects.filter(job=job, site=site).exists()
    if job is not None and revoked and not (job.site_id == site.pk and job.terminal and JobState(job.state) == state):
        raise Gone(f"job {uid} is no longer this site's (it moved or was cancelled): cancel your copy",
                   {"revoked": True})
    if job is None or job.site_id != site.pk:
        raise NotFound(f"job {uid} not found for this site")
    current = JobState(job.state)
    if current.terminal and state == current:
        return job  # the agent repeats itself after a crash: the job, its usage and its charge stay as they are
    if state == JobState.PENDING and current != JobState.PENDING:
        raise Conflict(f"job is {current} and cannot go back to pending from a report")
    if state != current:  # each move checked and recorded; a refusal below rolls them back with the rest
        reason = message[:2000] or f"reported by {site.name}"
        if current == JobState.PENDING:
            job_move(job, JobState.SUBMITTED, site=site, reason=reason)  # seen by the scheduler, whatever it says now
        if state != JobState(job.state):
            job_move(job, state, site=site, reason=reason)
    if gpu_seconds < 0 or gpu_seconds > usage_ceiling(job):
        raise BadRequest("gpu_seconds: out of range for this job", {"field": "gpu_seconds"})
    files = _output_files(output_files)
    job.scheduler_id = scheduler_id or job.scheduler_id
    job.exit_code = exit_code if exit_code is not None else job.exit_code
    job.gpu_seconds = gpu_seconds
    job.started_at = started_at or job.started_at
    job.ended_at = ended_at or job.ended_at
    if log_tail:
        job.log_tail = log_tail[-LOG_TAIL_MAX:]
    if message:
        job.message = message[:2000]
    if files is not None:
        job.output_files = files
    job.save()
    if state.terminal:
        allocation_release(allocation_id=job.allocation_id, gpu_seconds=job_reservation(job))
        allocation_charge(allocation=job.allocation, job=job, gpu_seconds=gpu_seconds)
    return job


@transaction.atomic
def job_revocation_done(
    *,
    site: Site,
    uid: str,
    found: bool,
    state: str = "",
    scheduler_id: str = "",
    gpu_seconds: float = 0.0,
    released: bool = False,
    message: str = "",
) -> JobRevocation:
    """A site has cancelled (or never had) its copy of a job that is no longer its own. The copy's GPU usage, as
    the site's scheduler recorded it, is charged once to the allocation it ran under. Repeating is harmless."""
    revocation = (JobRevocation.objects.select_for_update().select_related("job", "allocation")
                  .filter(job__uid=uid, site=site).first() if UID_RE.match(uid) else None)
    if revocation is None:
        raise NotFound(f"no revocation of job {uid} for this site")
    if revocation.done_at is not None:
        return revocation
    job = revocation.job
    if gpu_seconds < 0 or gpu_seconds > usage_ceiling(job):
        raise BadRequest("gpu_seconds: out of range for this job", {"field": "gpu_seconds"})
    if state and state not in {s.value for s in JobState}:
        raise BadRequest(f"state: unknown job state {state!r}", {"field": "state"})
    revocation.found = found
    revocation.state = state
    revocation.scheduler_id = scheduler_id[:64]
    revocation.gpu_seconds = gpu_seconds
    revocation.released = released
    revocation.done_at = timezone.now()
    revocation.save()
    if released:  # the site let a copy that was not its own start: say so loudly
        log.error("site %s released its copy of job %s after the job had left it (%s)", site.name, uid, message)
    if gpu_seconds > 0:
        allocation_add_usage(allocation=revocation.allocation, gpu_seconds=gpu_seconds)
    return revocation
