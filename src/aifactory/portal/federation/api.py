"""Catalog and planner for everyone; the agent's heartbeat (its orders: allocations.api, its jobs: jobs.api; pull only:
the portal never calls a site)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from aifactory.core.catalog import load_catalog
from aifactory.core.planner import plan_training
from aifactory.portal.common.errors import NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.federation.auth import site_auth
from aifactory.portal.federation.models import SiteTerms
from aifactory.portal.federation.selectors import current_terms, site_get, terms_acceptance
from aifactory.portal.federation.services import site_heartbeat, terms_accept, terms_publish
from aifactory.portal.organisations.auth import user_auth

router = Router(tags=["catalog"])
agent_router = Router(tags=["agent"], auth=site_auth)


class CatalogMachineOut(Schema):
    """A machine of the catalog (core.catalog.Machine); null where no source states the value."""

    key: str
    name: str
    partition: str | None
    site: str
    country: str
    factory: str | None = Field(..., description="the AI Factory at its site or hosted on it")
    gpu_model: str | None
    gpu_name: str | None
    gpu_memory_gb: float | None
    gpus_per_node: int | None
    nodes: int | None
    total_gpus: int | None
    peak_bf16_tflops: float | None = Field(..., description="vendor peak dense BF16 per GPU")
    sectors: list[str] | None = Field(..., description="its factory's sectors; null: not named")
    approximate: list[str] = Field(..., description="the fields whose value is approximate")
    note: str | None
    sources: dict[str, str] = Field(..., description="field -> source")


class CatalogFactoryOut(Schema):
    """An AI Factory of the catalog (core.catalog.Factory)."""

    key: str
    name: str
    wave: int = Field(..., description="the selection wave")
    selected: str = Field(..., description="year-month of the selection wave")
    country: str
    partners: list[str]
    host: str | None
    host_system: str | None
    host_machine: str | None
    sectors: list[str] | None
    note: str | None
    source: str


class CatalogOut(Schema):
    machines: list[CatalogMachineOut]
    factories: list[CatalogFactoryOut]


@router.get("/catalog", response=CatalogOut,
            summary="The federation's machines and AI Factories, with the source of every value")
def catalog(request: HttpRequest) -> dict[str, Any]:
    data = load_catalog()
    return {"machines": [m.to_dict() for m in data.machines], "factories": [f.to_dict() for f in data.factories]}


class PlanQuery(In):
    params: float = Field(..., gt=0, le=1e15, description="model parameters, e.g. 7e9")
    tokens: float = Field(..., gt=0, le=1e17, description="training tokens, e.g. 2e12")
    gpus: int = Field(8, ge=1, le=100000)
    mfu: float = Field(0.4, gt=0, le=1)
    gpu: str | None = Field(None, max_length=20)


class MachineEstimateOut(Schema):
    """The plan on one machine (core.planner.MachineEstimate)."""

    machine: str
    name: str
    gpu_model: str
    gpus: int
    total_gpus: int | None
    peak_bf16_tflops: float | None
    gpu_memory_gb: float | None
    gpu_hours: float | None = Field(..., description="null when the machine's peak throughput is unknown")
    wall_hours: float | None
    wall_days: float | None
    sharding: str | None = Field(..., description="none or full; null when the model states do not fit, or the "
                                 "GPU memory is unknown")
    fits: bool | None = Field(..., description="null when the GPU memory is unknown")
    usable: bool
    reasons: list[str] = Field(..., description="why not usable, and caveats")


class PlanOut(Schema):
    """A training plan (core.planner.TrainingPlan): 6 N D FLOPs, memory per GPU and the estimate per machine."""

    params: float
    tokens: float
    flops: float
    flops_given: bool
    gpus: int
    mfu: float
    gpu: str | None
    bytes_per_param: int
    memory_unsharded_gb: float
    memory_sharded_gb: float
    systemic_risk: bool
    systemic_risk_threshold_flops: float
    estimates: list[MachineEstimateOut]


@router.get("/plan", response=PlanOut, summary="Training FLOPs, GPU-hours, wall time and memory fit on each machine")
def plan(request: HttpRequest, q: Query[PlanQuery]) -> dict[str, Any]:
    return plan_training(q.params, q.tokens, gpus=q.gpus, mfu=q.mfu, gpu=q.gpu).to_dict()


class HeartbeatIn(In):
    queue_wait_s: float = Field(0.0, ge=0, le=10 * 365 * 86400)
    backend: str = Field("", max_length=20)


@agent_router.post("/heartbeat", response={204: None})
def heartbeat(request: HttpRequest, body: HeartbeatIn) -> Any:
    site_heartbeat(site=request.auth, queue_wait_s=body.queue_wait_s, backend=body.backend)
    return answer(204, None)


# --- terms of use -----------------------------------------------------------------------------------------------------


class TermsOut(Schema):
    """A version of a site's terms (a SiteTerms), with the caller's acceptance of it."""

    site: str = Field(..., alias="site.name")
    version: int
    text: str
    url: str
    published_at: datetime
    accepted_at: datetime | None = Field(None, description="when the caller accepted this version, if they did")

    @staticmethod
    def resolve_accepted_at(terms: SiteTerms, context: dict[str, Any]) -> datetime | None:
        accepted = terms_acceptance(context["request"].user, terms)
        return accepted.accepted_at if accepted else None


class TermsAcceptIn(In):
    version: int = Field(..., ge=1, le=1_000_000, description="the version the person read")


class TermsPublishIn(In):
    text: str = Field(..., min_length=1, max_length=100_000)
    url: str = Field("", max_length=200, pattern=r"^(https?://\S+)?$")


@router.get("/sites/{site}/terms", response=TermsOut, auth=user_auth, tags=["terms"],
            summary="A site's current terms of use, and whether the caller accepted them")
def site_terms(request: HttpRequest, site: str) -> SiteTerms:
    row = site_get(site)
    terms = current_terms(row)
    if terms is None:
        raise NotFound(f"site: {row.name} has published no terms", {"field": "site"})
    return terms


@router.post("/sites/{site}/terms/accept", response={201: TermsOut}, auth=user_auth, tags=["terms"],
             summary="Accept the current version of a site's terms")
def site_terms_accept(request: HttpRequest, site: str, body: TermsAcceptIn) -> Any:
    acceptance = terms_accept(site=site_get(site), user=request.user, version=body.version)
    return answer(201, acceptance.terms)


@router.post("/sites/{site}/terms", response={201: TermsOut}, auth=user_auth, tags=["terms"],
             summary="Publish a new version of a site's terms (staff, the site's factory operators)")
def site_terms_publish(request: HttpRequest, site: str, body: TermsPublishIn) -> Any:
    terms = terms_publish(site=site_get(site), text=body.text, url=body.url, actor=request.user)
    return answer(201, terms)
