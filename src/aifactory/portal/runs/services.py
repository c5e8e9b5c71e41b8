"""Writes of managed runs. A run's state changes only here, through RUN_TRANSITIONS, each move recorded.

A run is executed as segments, each a normal job (jobs.services.job_submit_spec: the broker's placement, the start
gate, failover of waiting jobs). `runs_advance` (the periodic task runs.advance; `aifactory failover` runs one pass)
looks at each unfinished run's current segment:

- the segment ended (its time limit, a preemption, a failure, or done): the run is complete when its last reported
  checkpoint has reached the run's steps; otherwise the next segment is submitted, resuming from the last
  checkpoint. A segment that ended without a new checkpoint counts as a failure; RUN_MAX_FAILED_SEGMENTS in a row
  fail the run.
- the segment runs at a site whose agent is lost: it is abandoned (jobs.services.job_abandon) only once its lease
  has run out, and the next segment is placed at another site. Why two segments never run at once: each segment has
  a lease that its site's agent renews at every pass, after reporting to the portal; the segment's batch script
  stops the commands (and train.py checkpoints and exits) when the lease is not renewed in time. The portal starts
  the next segment only when the lease plus LEASE_GRACE_S have passed since the agent's last report, and a waiting
  segment at a lost site is moved by the jobs' failover, whose start gate keeps its copy from running.

Checkpoints are reported by the site's agent (run_checkpoints_report) from the markers the training script writes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobs import JobState
from aifactory.core.jobspec import JobSpec, check_paths, spec_from_dict
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.errors import REFUSALS, BadRequest, Gone, NotFound
from aifactory.portal.federation.models import Site
from aifactory.portal.jobs.models import Job, JobRevocation
from aifactory.portal.jobs.selectors import UID_RE, job_lease_expired
from aifactory.portal.jobs.services import job_abandon, job_cancel, job_submit_spec
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.selectors import check_acts_for
from aifactory.portal.runs.choices import RUN_TRANSITIONS, RunState
from aifactory.portal.runs.models import Run, RunCheckpoint, RunSegment, RunStateChange

log = logging.getLogger("aifactory.runs")

MAX_STEPS = 10**13
MAX_TOKENS = 10**18
MAX_CHECKPOINTS_PER_REPORT = 64
FUTURE_SLACK = timedelta(hours=1)
"""A checkpoint's time may be this far ahead of the portal's clock (the site's clock may run ahead)."""


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field})


def _move(run: Run, target: RunState, reason: str) -> None:
    """The one place a run's state changes: checked against the table, saved, recorded."""
    RUN_TRANSITIONS.check(run.state, target)
    RunStateChange.objects.create(run=run, from_state=run.state, to_state=target.value, reason=reason[:300])
    run.state = target.value
    run.message = reason[:2000]
    if target.terminal:
        run.ended_at = timezone.now()
    run.save(update_fields=["state", "message", "ended_at", "steps_done", "tokens_done", "failures_in_a_row"])


def run_wait(*, run: Run, reason: str) -> None:
    """RUNNING -> WAITING: the next segment could not be placed now."""
    _move(run, RunState.WAITING, reason)


def run_resume(*, run: Run, reason: str) -> None:
    """WAITING -> RUNNING: the next segment was placed."""
    _move(run, RunState.RUNNING, reason)


def run_complete(*, run: Run, reason: str) -> None:
    """RUNNING -> COMPLETED: the last checkpoint reached the run's steps."""
    _move(run, RunState.COMPLETED, reason)


def run_fail(*, run: Run, reason: str) -> None:
    """RUNNING or WAITING -> FAILED: too many segments in a row ended without progress, or none can be placed."""
    _move(run, RunState.FAILED, reason)


# --- creation ---------------------------------------------------------------------------------------------------------


def _checked_dir(value: str) -> str:
    try:
        (clean,) = check_paths([value], "checkpoint_dir", absolute=True)
    except InvalidInput as exc:
        raise _bad("checkpoint_dir", exc.message.split(": ", 1)[-1]) from None
    return clean


def _segment_env(run: Run, index: int) -> dict[str, str]:
    """The portal's variables for a segment (a spec may not set names starting with AIF_, so the job can trust
    them): the training script takes its steps and checkpoint folder from them."""
    return {
        "AIF_RUN_ID": str(run.pk),
        "AIF_RUN_SEGMENT": str(index),
        "AIF_RUN_STEPS": str(run.target_steps),
        "AIF_RUN_CHECKPOINT_DIR": run.checkpoint_dir,
        "AIF_RUN_CHECKPOINT_EVERY": str(run.checkpoint_every),
    }


def _segment_submit(run: Run, cause: str) -> RunSegment:
    """Place the run's next segment (a job, through the broker), resuming from the last checkpoint. Raises the
    job submission's refusals."""
    index = run.segments.count()
    spec = spec_from_dict(run.spec)
    job = job_submit_spec(user=run.created_by, spec=spec, organisation=None if run.allocation_id else run.organisation,
                          allocation=run.allocation, extra_env=_segment_env(run, index), lease_s=settings.RUN_LEASE_S)
    return RunSegment.objects.create(run=run, job=job, index=index, cause=cause[:200], start_step=run.steps_done)


@transaction.atomic
def run_create(
    *,
    user: AbstractBaseUser,
    spec: JobSpec,
    steps: int,
    checkpoint_every: int,
    checkpoint_dir: str,
    tokens: int | None = None,
    organisation: Organisation | None = None,
    allocation: Allocation | None = None,
) -> Run:
    """A managed run for an organisation (or kept on one of its allocations), and its first segment, placed at
    once; a first segment no site can take refuses the run, as it would refuse the job."""
    if allocation is not None:
        organisation = allocation.organisation
    if organisation is None:
        raise _bad("organisation", "a run is created for an organisation or one of its allocations")
    check_acts_for(user, organisation.pk)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise _bad("steps", f"must be a whole number from 1 to {MAX_STEPS}")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or not \
            1 <= checkpoint_every <= steps:
        raise _bad("checkpoint_every", "must be a whole number from 1 to the run's steps")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or
                               not 1 <= tokens <= MAX_TOKENS):
        raise _bad("tokens", f"must be a whole number from 1 to {MAX_TOKENS}")
    run = Run.objects.create(
        organisation=organisation, allocation=allocation, created_by=user, name=spec.name, spec=spec.to_dict(),
        target_steps=steps, target_tokens=tokens, checkpoint_every=checkpoint_every,
        checkpoint_dir=_checked_dir(checkpoint_dir), state=RunState.RUNNING.value,
    )
    RunStateChange.objects.create(run=run, from_state="", to_state=RunState.RUNNING.value, reason="created")
    _segment_submit(run, "first segment")
    return run


# --- cancel -----------------------------------------------------------------------------------------------------------


@transaction.atomic
def run_cancel(*, run: Run, user: AbstractBaseUser, reason: str = "cancelled by its owner") -> Run:
    """RUNNING or WAITING -> CANCELLED, by `user`; the current segment's job is cancelled as any job is, in their
    name."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    RUN_TRANSITIONS.check(run.state, RunState.CANCELLED)
    segment = run.segments.select_related("job").last()
    if segment is not None and not segment.job.terminal:
        job_cancel(job=segment.job, user=user)
    _move(run, RunState.CANCELLED, reason)
    return run


# --- checkpoints, from the site's agent -------------------------------------------------------------------------------


def _checkpoint(i: int, item: Mapping[str, Any], now: datetime) -> tuple[int, int, str, datetime]:
    at = f"checkpoints[{i}]"
    step, tokens, path, written = item.get("step"), item.get("tokens", 0), item.get("path"), item.get("time")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEPS:
        raise _bad(f"{at}.step", f"must be a whole number from 0 to {MAX_STEPS}")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens <= MAX_TOKENS:
        raise _bad(f"{at}.tokens", f"must be a whole number from 0 to {MAX_TOKENS}")
    try:
        (clean,) = check_paths([path], f"{at}.path", absolute=True)
    except InvalidInput as exc:
        raise _bad(f"{at}.path", exc.message.split(": ", 1)[-1]) from None
    if not isinstance(written, datetime) or written.tzinfo is None:
        raise _bad(f"{at}.time", "must be a date and time with its time zone")
    if written > now + FUTURE_SLACK:
        raise _bad(f"{at}.time", "is in the future")
    return step, tokens, clean, written


@transaction.atomic
def run_checkpoints_report(*, site: Site, uid: str, checkpoints: Sequence[Mapping[str, Any]]) -> list[RunCheckpoint]:
    """A site's agent reports the checkpoints a segment wrote (step, tokens, path, time). Checkpoints already known
    are skipped; the run's progress is its highest step reported. Only the site that holds the segment reports:
    another is answered 404, one whose copy was revoked (the segment moved or was abandoned) 410."""
    job = Job.objects.filter(uid=uid).first() if UID_RE.match(uid) else None
    if job is not None and JobRevocation.objects.filter(job=job, site=site).exists():
        raise Gone(f"job {uid} is no longer this site's: its checkpoints are not taken", {"revoked": True})
    segment = RunSegment.objects.filter(job=job).first() if job is not None and job.site_id == site.pk else None
    if segment is None:
        raise NotFound(f"no segment of a run is job {uid} at this site")
    if len(checkpoints) > MAX_CHECKPOINTS_PER_REPORT:
        raise _bad("checkpoints", f"at most {MAX_CHECKPOINTS_PER_REPORT} in one report")
    now = timezone.now()
    parsed = [_checkpoint(i, item, now) for i, item in enumerate(checkpoints)]
    run = Run.objects.select_for_update().get(pk=segment.run_id)
    known = set(RunCheckpoint.objects.filter(run=run, step__in=[p[0] for p in parsed]).values_list("step", flat=True))
    added = []
    for step, tokens, path, written in sorted(parsed):
        if step in known:
            continue
        known.add(step)
        added.append(RunCheckpoint.objects.create(run=run, segment=segment, step=step, tokens=tokens, path=path,
                                                  written_at=written))
    if added:
        run.steps_done = max(run.steps_done, *(c.step for c in added))
        run.tokens_done = max(run.tokens_done, *(c.tokens for c in added))
        run.save(update_fields=["steps_done", "tokens_done"])
    return added


# --- advancing runs ---------------------------------------------------------------------------------------------------


def runs_advance() -> list[str]:
    """One pass over the unfinished runs (module docstring); a line for each thing done. Safe to run at any time,
    from several processes (each run is locked while it is looked at)."""
    lines: list[str] = []
    ids = list(Run.objects.filter(state__in=[RunState.RUNNING.value, RunState.WAITING.value])
               .order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        try:
            line = _advance_one(pk)
        except Exception:  # one run's trouble never stops the others
            log.exception("advancing run %s failed", pk)
            continue
        if line:
            lines.append(line)
    return lines


def _why_ended(job: Job) -> str:
    if job.exit_code == 3:
        return "it stopped with a checkpoint (time limit near)"
    return f"it ended {job.state}" + (f" (exit code {job.exit_code})" if job.exit_code is not None else "")


@transaction.atomic
def _advance_one(pk: int) -> str:
    run = Run.objects.select_for_update().get(pk=pk)
    if run.terminal:
        return ""
    segment = run.segments.select_related("job", "job__site").last()
    if run.state == RunState.WAITING or segment is None:
        return _next_segment(run, run.message or "waiting", waiting=True)
    job = segment.job
    ended = ""
    if job.terminal:
        ended = _why_ended(job)
    elif JobState(job.state) == JobState.RUNNING and job_lease_expired(job):
        job_abandon(job=job)
        ended = f"its site {job.site.name} was lost and its lease ran out"
    if not ended:
        return ""
    name = f"run {run.pk} ({run.name})"
    if run.steps_done >= run.target_steps:
        run_complete(run=run, reason=f"reached step {run.steps_done} of {run.target_steps} in segment "
                                     f"{segment.index}")
        return f"{name}: completed at step {run.steps_done}"
    progress = run.steps_done > segment.start_step
    if progress:
        run.failures_in_a_row = 0
        cause = f"resumes from step {run.steps_done}: segment {segment.index} ended, {ended}"
    else:
        run.failures_in_a_row += 1
        if run.failures_in_a_row >= settings.RUN_MAX_FAILED_SEGMENTS:
            run_fail(run=run, reason=f"{run.failures_in_a_row} segments in a row ended without a new checkpoint; "
                                     f"the last: {ended}")
            return f"{name}: failed ({run.failures_in_a_row} segments without progress)"
        cause = (f"retry {run.failures_in_a_row} of {settings.RUN_MAX_FAILED_SEGMENTS - 1} from step "
                 f"{run.steps_done}: segment {segment.index} ended without a new checkpoint, {ended}")
    run.save(update_fields=["failures_in_a_row"])
    return _next_segment(run, cause, waiting=False)


def _next_segment(run: Run, cause: str, *, waiting: bool) -> str:
    name = f"run {run.pk} ({run.name})"
    try:
        with transaction.atomic():
            segment = _segment_submit(run, cause)
    except REFUSALS as exc:
        if not waiting:
            run_wait(run=run, reason=f"next segment not placed: {exc}"[:300])
            return f"{name}: waiting ({exc})"
        return ""
    if waiting:
        run_resume(run=run, reason=f"segment {segment.index} placed at {segment.job.site.name}")
    return f"{name}: segment {segment.index} at {segment.job.site.name} ({cause})"
