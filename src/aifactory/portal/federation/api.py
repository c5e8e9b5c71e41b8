"""Catalog and planner for everyone; the agent protocol for sites (pull only: the portal never calls a site)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from aifactory.core.catalog import load_catalog
from aifactory.core.jobs import JobState
from aifactory.core.planner import plan_training
from aifactory.portal.allocations.selectors import orders_pending
from aifactory.portal.allocations.services import order_complete
from aifactory.portal.common.auth import site_auth
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.federation.services import site_heartbeat
from aifactory.portal.jobs.selectors import jobs_open_for_site, revocations_open
from aifactory.portal.jobs.services import job_apply_report, job_revocation_done

router = Router(tags=["catalog"])
agent_router = Router(tags=["agent"], auth=site_auth)


@router.get("/catalog", summary="The federation's machines and AI Factories, with the source of every value")
def catalog(request: HttpRequest) -> dict[str, Any]:
    data = load_catalog()
    return {"machines": [m.to_dict() for m in data.machines], "factories": [f.to_dict() for f in data.factories]}


class PlanQuery(In):
    params: float = Field(..., gt=0, le=1e15, description="model parameters, e.g. 7e9")
    tokens: float = Field(..., gt=0, le=1e17, description="training tokens, e.g. 2e12")
    gpus: int = Field(8, ge=1, le=100000)
    mfu: float = Field(0.4, gt=0, le=1)
    gpu: str | None = Field(None, max_length=20)


@router.get("/plan", summary="Training FLOPs, GPU-hours, wall time and memory fit on each machine")
def plan(request: HttpRequest, q: Query[PlanQuery]) -> dict[str, Any]:
    return plan_training(q.params, q.tokens, gpus=q.gpus, mfu=q.mfu, gpu=q.gpu).to_dict()


class HeartbeatIn(In):
    queue_wait_s: float = Field(0.0, ge=0, le=10 * 365 * 86400)
    backend: str = Field("", max_length=20)


class OrderOut(Schema):
    id: int
    account: str
    gpu_minutes: int


class OrderDoneIn(In):
    ok: bool
    message: str = Field("", max_length=2000)


class AgentJobOut(Schema):
    uid: str
    name: str
    account: str
    gpus: int
    nodes: int
    time_limit_s: int
    script: str
    env: dict[str, str]
    image: str
    inputs: list[str]
    outputs: list[str]
    state: str
    cancel_requested: bool
    scheduler_id: str


class RevocationOut(Schema):
    uid: str
    account: str
    reason: str


class RevocationDoneIn(In):
    found: bool
    state: JobState | None = None
    scheduler_id: str = Field("", max_length=64)
    gpu_seconds: float = Field(0.0, ge=0, le=1e12)
    released: bool = False
    message: str = Field("", max_length=2000)


class OutputFileIn(In):
    path: str = Field(..., min_length=1, max_length=1024)
    bytes: int = Field(..., ge=0, le=10**18)


class ReportIn(In):
    nul_stripped = frozenset({"log_tail", "message"})

    state: JobState
    scheduler_id: str = Field("", max_length=64)
    exit_code: int | None = Field(None, ge=-255, le=255)
    gpu_seconds: float = Field(0.0, ge=0)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    log_tail: str = Field("", max_length=1_000_000)
    message: str = Field("", max_length=2000)
    output_files: list[OutputFileIn] | None = Field(None, max_length=64)


@agent_router.post("/heartbeat", response={204: None})
def heartbeat(request: HttpRequest, body: HeartbeatIn) -> Any:
    site_heartbeat(site=request.auth, queue_wait_s=body.queue_wait_s, backend=body.backend)
    return answer(204, None)


@agent_router.get("/orders", response=list[OrderOut])
def orders(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"id": o.pk, "account": o.allocation.account, "gpu_minutes": int(round(o.allocation.gpu_hours * 60))}
        for o in orders_pending(request.auth)
    ]


@agent_router.post("/orders/{order_id}", response={204: None})
def order_done(request: HttpRequest, order_id: int, body: OrderDoneIn) -> Any:
    order_complete(site=request.auth, order_id=order_id, ok=body.ok, message=body.message)
    return answer(204, None)


@agent_router.get("/jobs", response=list[AgentJobOut])
def agent_jobs(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "uid": j.uid, "name": j.name, "account": j.allocation.account, "gpus": j.gpus, "nodes": j.nodes,
            "time_limit_s": j.time_limit_s, "script": j.script, "env": j.env, "image": j.image,
            "inputs": list(j.inputs), "outputs": list(j.outputs), "state": j.state,
            "cancel_requested": j.cancel_requested, "scheduler_id": j.scheduler_id,
        }
        for j in jobs_open_for_site(request.auth)
    ]


@agent_router.post("/jobs/{uid}", response={204: None}, summary="Report a job's state; 410 when it is no longer "
                   "this site's (cancel the copy, never let it start)")
def agent_report(request: HttpRequest, uid: str, body: ReportIn) -> Any:
    data = body.dict()
    files = data.pop("output_files")
    job_apply_report(site=request.auth, uid=uid, output_files=files, **data)
    return answer(204, None)


@agent_router.get("/revocations", response=list[RevocationOut],
                  summary="Jobs whose copy this site must cancel: they moved away or were cancelled")
def revocations(request: HttpRequest) -> list[dict[str, Any]]:
    return [{"uid": r.job.uid, "account": r.allocation.account, "reason": r.reason}
            for r in revocations_open(request.auth)]


@agent_router.post("/revocations/{uid}", response={204: None})
def revocation_done(request: HttpRequest, uid: str, body: RevocationDoneIn) -> Any:
    data = body.dict()
    data["state"] = data["state"].value if data["state"] is not None else ""
    job_revocation_done(site=request.auth, uid=uid, **data)
    return answer(204, None)
