"""Writes of the jobs context. The job's state changes only here, through the core's transition table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from aifactory.core.jobs import JobState, check_transition
from aifactory.portal.allocations.choices import OrderState
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.allocations.selectors import allocation_provisioned
from aifactory.portal.allocations.services import allocation_charge
from aifactory.portal.common.errors import BadRequest, Conflict, NotFound
from aifactory.portal.federation.models import Site
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.selectors import UID_RE

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_SCRIPT = 64 * 1024
MAX_TIME_LIMIT_S = 7 * 86400
MAX_GPUS = 1024
LOG_TAIL_MAX = 64 * 1024


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field})


def validate_job_fields(*, name: str, script: str, gpus: int, time_limit_s: int, env: Mapping[str, str]) -> None:
    if not NAME_RE.match(name):
        raise _bad("name", "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not script.strip():
        raise _bad("script", "must not be empty")
    if len(script.encode("utf-8")) > MAX_SCRIPT or "\x00" in script:
        raise _bad("script", f"at most {MAX_SCRIPT} bytes of text")
    if not 0 <= gpus <= MAX_GPUS:
        raise _bad("gpus", f"must be between 0 and {MAX_GPUS}")
    if not 60 <= time_limit_s <= MAX_TIME_LIMIT_S:
        raise _bad("time_limit_s", f"must be between 60 and {MAX_TIME_LIMIT_S} seconds")
    if len(env) > 64:
        raise _bad("env", "at most 64 variables")
    for key, value in env.items():
        if not ENV_NAME_RE.match(key):
            raise _bad("env", f"{key!r} is not a valid variable name")
        if not isinstance(value, str) or len(value) > 4096 or "\x00" in value:
            raise _bad("env", f"value of {key} must be text of at most 4096 characters")


def reserved_gpu_seconds(allocation: Allocation) -> float:
    """GPU-seconds that the allocation's unfinished jobs may still use, from their time limits."""
    open_states = [s.value for s in JobState if not s.terminal]
    rows = allocation.jobs.filter(state__in=open_states).values_list("gpus", "time_limit_s")
    return float(sum(g * t for g, t in rows))


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
) -> Job:
    env = dict(env or {})
    validate_job_fields(name=name, script=script, gpus=gpus, time_limit_s=time_limit_s, env=env)
    allocation = Allocation.objects.select_for_update().get(pk=allocation.pk)
    if not allocation_provisioned(allocation):
        raise Conflict("allocation: its account is not provisioned at the site yet; try again shortly")
    machine = allocation.machine
    if machine.gpus_per_node is not None and machine.total_gpus is not None and gpus > machine.total_gpus:
        raise _bad("gpus", f"{machine.name} has {machine.total_gpus} GPUs")
    left = allocation.gpu_hours * 3600 - allocation.gpu_seconds_used - reserved_gpu_seconds(allocation)
    need = gpus * time_limit_s
    if need > left:
        raise BadRequest(
            f"allocation: this job may use {need / 3600:.2f} GPU-hours (GPUs x time limit) but only "
            f"{max(left, 0) / 3600:.2f} are left after running and queued jobs",
            {"field": "time_limit_s", "need_gpu_hours": need / 3600, "left_gpu_hours": max(left, 0) / 3600},
        )
    site = (
        Site.objects.filter(machine=machine, orders__allocation=allocation, orders__state=OrderState.DONE)
        .order_by("pk")
        .first()
    )
    if site is None:
        raise Conflict("allocation: no site runs jobs for this allocation")
    return Job.objects.create(
        allocation=allocation, site=site, submitted_by=user, name=name, script=script, gpus=gpus,
        time_limit_s=time_limit_s, env=env,
    )


@transaction.atomic
def job_cancel(*, job: Job) -> Job:
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.terminal:
        raise Conflict(f"job is {job.state} already")
    if job.state == JobState.PENDING:
        check_transition(JobState.PENDING, JobState.CANCELLED)
        job.state = JobState.CANCELLED
        job.message = "cancelled before it reached the site"
        job.save(update_fields=["state", "message"])
    else:
        job.cancel_requested = True  # the agent cancels it at the scheduler and reports back
        job.save(update_fields=["cancel_requested"])
    return job


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
) -> Job:
    """Take an agent's report of a job. Repeating a report is harmless; moving backwards is refused."""
    job = Job.objects.select_for_update().filter(uid=uid, site=site).first() if UID_RE.match(uid) else None
    if job is None:
        raise NotFound(f"job {uid} not found for this site")
    current = JobState(job.state)
    if current.terminal and state == current:
        return job  # the agent repeats itself after a crash: the job, its usage and its charge stay as they are
    if state == JobState.PENDING and current != JobState.PENDING:
        raise Conflict(f"job is {current} and cannot go back to pending from a report")
    if state != current:
        if current == JobState.PENDING:
            check_transition(current, JobState.SUBMITTED)  # seen by the scheduler, whatever it says now
            current = JobState.SUBMITTED
        if state != current:
            check_transition(current, state)
    if gpu_seconds < 0 or gpu_seconds > job.gpus * max(job.time_limit_s * 2, 1) + 3600:
        raise BadRequest("gpu_seconds: out of range for this job", {"field": "gpu_seconds"})
    job.state = state.value
    job.scheduler_id = scheduler_id or job.scheduler_id
    job.exit_code = exit_code if exit_code is not None else job.exit_code
    job.gpu_seconds = gpu_seconds
    job.started_at = started_at or job.started_at
    job.ended_at = ended_at or job.ended_at
    if log_tail:
        job.log_tail = log_tail[-LOG_TAIL_MAX:]
    if message:
        job.message = message[:2000]
    job.save()
    if state.terminal:
        allocation_charge(allocation=job.allocation, job=job, gpu_seconds=gpu_seconds)
    return job

