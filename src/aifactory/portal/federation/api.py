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


# --- terms of use -----------------------------------------------------------------------------------------------------


class TermsOut(Schema):
    site: str
    version: int
    text: str
    url: str
    published_at: datetime
    accepted_at: datetime | None = Field(None, description="when the caller accepted this version, if they did")


class TermsAcceptIn(In):
    version: int = Field(..., ge=1, le=1_000_000, description="the version the person read")


class TermsPublishIn(In):
    text: str = Field(..., min_length=1, max_length=100_000)
    url: str = Field("", max_length=200, pattern=r"^(https?://\S+)?$")


def _terms_out(request: HttpRequest, terms: SiteTerms) -> dict[str, Any]:
    accepted = terms_acceptance(request.user, terms)
    return {"site": terms.site.name, "version": terms.version, "text": terms.text, "url": terms.url,
            "published_at": terms.published_at, "accepted_at": accepted.accepted_at if accepted else None}


@router.get("/sites/{site}/terms", response=TermsOut, auth=user_auth, tags=["terms"],
            summary="A site's current terms of use, and whether the caller accepted them")
def site_terms(request: HttpRequest, site: str) -> dict[str, Any]:
    row = site_get(site)
    terms = current_terms(row)
    if terms is None:
        raise NotFound(f"site: {row.name} has published no terms", {"field": "site"})
    return _terms_out(request, terms)


@router.post("/sites/{site}/terms/accept", response={201: TermsOut}, auth=user_auth, tags=["terms"],
             summary="Accept the current version of a site's terms")
def site_terms_accept(request: HttpRequest, site: str, body: TermsAcceptIn) -> Any:
    acceptance = terms_accept(site=site_get(site), user=request.user, version=body.version)
    return answer(201, _terms_out(request, acceptance.terms))


@router.post("/sites/{site}/terms", response={201: TermsOut}, auth=user_auth, tags=["terms"],
             summary="Publish a new version of a site's terms (staff, the site's factory operators)")
def site_terms_publish(request: HttpRequest, site: str, body: TermsPublishIn) -> Any:
    terms = terms_publish(site=site_get(site), text=body.text, url=body.url, actor=request.user)
    return answer(201, _terms_out(request, terms))
