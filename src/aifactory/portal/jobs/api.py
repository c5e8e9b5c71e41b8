from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from aifactory.portal.allocations.selectors import allocations_of
from aifactory.portal.common.auth import user_auth
from aifactory.portal.common.errors import NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.selectors import job_get, jobs_of
from aifactory.portal.jobs.services import job_cancel, job_submit

router = Router(tags=["jobs"], auth=user_auth)


class JobIn(In):
    allocation: int = Field(..., strict=True)
    name: str = Field(..., min_length=1, max_length=64)
    script: str = Field(..., min_length=1, max_length=65536, description="bash commands, run as a file")
    gpus: int = Field(1, ge=0, le=1024, strict=True)
    time_limit_s: int = Field(3600, ge=60, le=7 * 86400, strict=True)
    env: dict[str, str] = Field(default_factory=dict)


class JobOut(Schema):
    uid: str
    name: str
    allocation: int
    machine: str
    site: str
    state: str
    cancel_requested: bool
    gpus: int
    time_limit_s: int
    scheduler_id: str
    exit_code: int | None
    gpu_seconds: float
    message: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class LogsOut(Schema):
    uid: str
    log: str


def _out(j: Job) -> dict[str, Any]:
    return {
        "uid": j.uid, "name": j.name, "allocation": j.allocation_id, "machine": j.allocation.machine.key,
        "site": j.site.name, "state": j.state, "cancel_requested": j.cancel_requested, "gpus": j.gpus,
        "time_limit_s": j.time_limit_s, "scheduler_id": j.scheduler_id, "exit_code": j.exit_code,
        "gpu_seconds": j.gpu_seconds, "message": j.message, "created_at": j.created_at,
        "started_at": j.started_at, "ended_at": j.ended_at,
    }


@router.post("/jobs", response={201: JobOut})
def submit(request: HttpRequest, body: JobIn) -> Any:
    allocation = allocations_of(request.user).filter(pk=body.allocation).first()
    if allocation is None:
        raise NotFound(f"allocation {body.allocation} not found")
    data = body.dict()
    data.pop("allocation")
    job = job_submit(user=request.user, allocation=allocation, **data)
    return answer(201, _out(job))


@router.get("/jobs", response=list[JobOut])
def jobs(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(j) for j in jobs_of(request.user)[:500]]


@router.get("/jobs/{uid}", response=JobOut)
def job(request: HttpRequest, uid: str) -> dict[str, Any]:
    return _out(job_get(user=request.user, uid=uid))


@router.post("/jobs/{uid}/cancel", response=JobOut)
def cancel(request: HttpRequest, uid: str) -> dict[str, Any]:
    return _out(job_cancel(job=job_get(user=request.user, uid=uid)))


@router.get("/jobs/{uid}/logs", response=LogsOut)
def logs(request: HttpRequest, uid: str) -> dict[str, Any]:
    j = job_get(user=request.user, uid=uid)
    return {"uid": j.uid, "log": j.log_tail}
