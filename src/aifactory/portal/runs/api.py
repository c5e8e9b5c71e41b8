"""/runs: create a managed run (a job spec run as segments until its steps are done), list, read, cancel; and the
agent's report of a segment's checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import model_validator

from aifactory.core.jobspec import parse_spec, spec_from_dict
from aifactory.portal.allocations.selectors import allocations_of
from aifactory.portal.common.errors import NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.federation.auth import site_auth
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import organisation_chosen
from aifactory.portal.runs.choices import RunState
from aifactory.portal.runs.models import Run, RunSegment
from aifactory.portal.runs.selectors import run_figures, run_get, runs_of
from aifactory.portal.runs.services import MAX_CHECKPOINTS_PER_REPORT, run_cancel, run_checkpoints_report, run_create

router = Router(tags=["runs"], auth=user_auth)
agent_router = Router(tags=["agent"], auth=site_auth)


class RunIn(In):
    """A job spec (object, or its YAML or JSON text) run as segments until `steps` are done, for an `organisation`
    (default: your only one) or kept on one of its `allocation`s."""

    spec: dict[str, Any] | str = Field(..., description="each segment's job spec (see docs/jobs.md)")
    steps: int = Field(..., ge=1, le=10**13, strict=True, description="the run's steps in all")
    checkpoint_every: int = Field(..., ge=1, le=10**13, strict=True, description="steps between checkpoints")
    checkpoint_dir: str = Field(..., min_length=1, max_length=1024,
                                description="an absolute path every site the run may go to can read")
    tokens: int | None = Field(None, ge=1, le=10**18, strict=True, description="the run's tokens in all")
    organisation: int | None = Field(None, strict=True)
    allocation: int | None = Field(None, strict=True)

    @model_validator(mode="after")
    def _one_owner(self) -> RunIn:
        if self.organisation is not None and self.allocation is not None:
            raise ValueError("organisation: give an organisation or one of its allocations, not both")
        if self.checkpoint_every > self.steps:
            raise ValueError("checkpoint_every: must not exceed steps")
        return self


class SegmentOut(Schema):
    index: int
    job: str = Field(..., alias="job.uid")
    site: str = Field(..., alias="job.site.name")
    account: str = Field(..., alias="job.allocation.account")
    state: str = Field(..., alias="job.state")
    cause: str
    start_step: int
    started_at: datetime | None = Field(..., alias="job.started_at")
    ended_at: datetime | None = Field(..., alias="job.ended_at")
    exit_code: int | None = Field(..., alias="job.exit_code")
    gpu_hours: float
    message: str = Field(..., alias="job.message")

    @staticmethod
    def resolve_gpu_hours(s: RunSegment) -> float:
        return s.job.gpu_seconds / 3600


class CheckpointOut(Schema):
    step: int
    tokens: int
    path: str
    time: datetime
    segment: int


class ChangeOut(Schema):
    from_state: str
    to_state: str
    reason: str
    at: datetime


class RunOut(Schema):
    id: int
    name: str
    organisation: int
    allocation: int | None
    state: str
    message: str
    steps: int
    tokens: int | None
    checkpoint_every: int
    checkpoint_dir: str
    steps_done: int
    tokens_done: int
    progress: float
    gpu_hours: float
    steps_per_s: float | None
    tokens_per_s: float | None
    expected_finish_at: datetime | None
    created_at: datetime
    ended_at: datetime | None
    segments: list[SegmentOut]
    checkpoints: list[CheckpointOut]
    changes: list[ChangeOut]


class RunsQuery(In):
    state: Literal["open", "finished", "all", "running", "waiting", "completed", "failed", "cancelled"] = "all"
    limit: int = Field(100, ge=1, le=500)


def run_out(run: Run) -> dict[str, Any]:
    figures = run_figures(run)
    segments = list(run.segments.all())
    index = {s.pk: s.index for s in segments}
    return {
        "id": run.pk, "name": run.name, "organisation": run.organisation_id, "allocation": run.allocation_id,
        "state": run.state, "message": run.message, "steps": run.target_steps, "tokens": run.target_tokens,
        "checkpoint_every": run.checkpoint_every, "checkpoint_dir": run.checkpoint_dir,
        "steps_done": run.steps_done, "tokens_done": run.tokens_done, "progress": figures.progress,
        "gpu_hours": figures.gpu_hours, "steps_per_s": figures.steps_per_s, "tokens_per_s": figures.tokens_per_s,
        "expected_finish_at": figures.expected_finish_at, "created_at": run.created_at, "ended_at": run.ended_at,
        "segments": segments,
        "checkpoints": [{"step": c.step, "tokens": c.tokens, "path": c.path, "time": c.written_at,
                         "segment": index.get(c.segment_id, -1)} for c in run.checkpoints.all()],
        "changes": list(run.changes.all()),
    }


@router.post("/runs", response={201: RunOut}, summary="Create a managed run; its first segment is placed at once")
def create(request: HttpRequest, body: RunIn) -> Any:
    allocation = None
    if body.allocation is not None:
        allocation = allocations_of(request.user).filter(pk=body.allocation).first()
        if allocation is None:
            raise NotFound(f"allocation {body.allocation} not found")
    spec = parse_spec(body.spec) if isinstance(body.spec, str) else spec_from_dict(body.spec)
    organisation = None if allocation is not None else organisation_chosen(
        user=request.user, pk=body.organisation, what="the run is for")
    run = run_create(user=request.user, spec=spec, steps=body.steps, checkpoint_every=body.checkpoint_every,
                     checkpoint_dir=body.checkpoint_dir, tokens=body.tokens, organisation=organisation,
                     allocation=allocation)
    return answer(201, run_out(run_get(user=request.user, pk=run.pk)))


@router.get("/runs", response=list[RunOut])
def runs(request: HttpRequest, q: Query[RunsQuery]) -> list[dict[str, Any]]:
    qs = runs_of(request.user)
    unfinished = [RunState.RUNNING.value, RunState.WAITING.value]
    if q.state == "open":
        qs = qs.filter(state__in=unfinished)
    elif q.state == "finished":
        qs = qs.exclude(state__in=unfinished)
    elif q.state != "all":
        qs = qs.filter(state=q.state)
    return [run_out(r) for r in qs[: q.limit]]


@router.get("/runs/{run_id}", response=RunOut)
def run(request: HttpRequest, run_id: int) -> dict[str, Any]:
    return run_out(run_get(user=request.user, pk=run_id))


@router.post("/runs/{run_id}/cancel", response=RunOut)
def cancel(request: HttpRequest, run_id: int) -> dict[str, Any]:
    run_cancel(run=run_get(user=request.user, pk=run_id), user=request.user)
    return run_out(run_get(user=request.user, pk=run_id))


class CheckpointIn(In):
    step: int = Field(..., ge=0, le=10**13, strict=True)
    tokens: int = Field(0, ge=0, le=10**18, strict=True)
    path: str = Field(..., min_length=1, max_length=1024)
    time: datetime


class CheckpointsIn(In):
    checkpoints: list[CheckpointIn] = Field(..., max_length=MAX_CHECKPOINTS_PER_REPORT)


class CheckpointsOut(Schema):
    added: int


@agent_router.post("/jobs/{uid}/checkpoints", response=CheckpointsOut,
                   summary="Report the checkpoints a run's segment wrote (from its markers); 410 when the segment is "
                           "no longer this site's")
def agent_checkpoints(request: HttpRequest, uid: str, body: CheckpointsIn) -> dict[str, Any]:
    added = run_checkpoints_report(site=request.auth, uid=uid, checkpoints=[c.dict() for c in body.checkpoints])
    return {"added": len(added)}
