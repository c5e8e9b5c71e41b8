"""Catalog and planner for everyone; the agent's heartbeat (its orders: allocations.api, its jobs: jobs.api; pull only:
the portal never calls a site)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router

from aifactory.core.catalog import load_catalog
from aifactory.core.planner import plan_training
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.federation.auth import site_auth
from aifactory.portal.federation.services import site_heartbeat

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


@agent_router.post("/heartbeat", response={204: None})
def heartbeat(request: HttpRequest, body: HeartbeatIn) -> Any:
    site_heartbeat(site=request.auth, queue_wait_s=body.queue_wait_s, backend=body.backend)
    return answer(204, None)
