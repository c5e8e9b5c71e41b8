"""Reads of managed runs: who sees which, and a run's figures (GPU-hours, progress, expected finish)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from aifactory.portal.common.errors import NotFound
from aifactory.portal.runs.models import Run, RunCheckpoint


def runs_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Run]:
    """The runs of the person's organisations (staff: every run), as for jobs."""
    qs = Run.objects.select_related("organisation", "allocation").prefetch_related(
        "segments__job__site", "segments__job__allocation", "checkpoints")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(organisation__members=user)


def run_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Run:
    run = runs_of(user).filter(pk=pk).first() if 0 < pk < 2**63 else None
    if run is None:
        raise NotFound(f"run {pk} not found")
    return run


@dataclass(frozen=True)
class RunFigures:
    gpu_hours: float
    progress: float
    """The last checkpoint's step over the run's steps, 0 to 1."""
    steps_per_s: float | None
    tokens_per_s: float | None
    expected_finish_at: datetime | None
    """From the rate measured between the checkpoints of the latest segment that reported two or more; None until
    then."""


def _rate(points: list[RunCheckpoint]) -> tuple[float | None, float | None]:
    if len(points) < 2:
        return None, None
    first, last = points[0], points[-1]
    seconds = (last.written_at - first.written_at).total_seconds()
    if seconds <= 0 or last.step <= first.step:
        return None, None
    tokens = (last.tokens - first.tokens) / seconds if last.tokens > first.tokens else None
    return (last.step - first.step) / seconds, tokens


def run_figures(run: Run, now: datetime | None = None) -> RunFigures:
    segments = list(run.segments.all())
    checkpoints = list(run.checkpoints.all())
    gpu_hours = sum(s.job.gpu_seconds for s in segments) / 3600
    steps_per_s = tokens_per_s = None
    for segment in reversed(segments):
        steps_per_s, tokens_per_s = _rate([c for c in checkpoints if c.segment_id == segment.pk])
        if steps_per_s is not None:
            break
    finish = None
    if run.terminal:
        finish = run.ended_at
    elif steps_per_s:
        left = max(run.target_steps - run.steps_done, 0)
        since = checkpoints[-1].written_at if checkpoints else (now or timezone.now())
        finish = since + timedelta(seconds=left / steps_per_s)
    return RunFigures(gpu_hours=gpu_hours, progress=min(run.steps_done / run.target_steps, 1.0),
                      steps_per_s=steps_per_s, tokens_per_s=tokens_per_s, expected_finish_at=finish)
