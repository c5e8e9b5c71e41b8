"""The API at /api/v1: one NinjaAPI, one router per bounded context, errors as {message, detail}."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from aifactory.core.exceptions import CoreError
from aifactory.portal.access.api import router as access_router
from aifactory.portal.allocations.api import agent_router as allocations_agent_router
from aifactory.portal.allocations.api import router as allocations_router
from aifactory.portal.common.errors import Refusal, refusal_of
from aifactory.portal.common.parser import BoundedJsonParser
from aifactory.portal.federation.api import agent_router
from aifactory.portal.federation.api import router as federation_router
from aifactory.portal.funding.api import router as funding_router
from aifactory.portal.jobs.api import agent_router as jobs_agent_router
from aifactory.portal.jobs.api import router as jobs_router
from aifactory.portal.matchmaking.api import router as matchmaking_router
from aifactory.portal.monitoring.api import router as monitoring_router
from aifactory.portal.obligations.api import router as obligations_router
from aifactory.portal.organisations.api import router as organisations_router
from aifactory.portal.review.api import router as review_router
from aifactory.portal.runs.api import agent_router as runs_agent_router
from aifactory.portal.runs.api import router as runs_router
from aifactory.portal.siteaccess.api import agent_router as siteaccess_agent_router
from aifactory.portal.siteaccess.api import public_router as siteaccess_public_router
from aifactory.portal.siteaccess.api import router as siteaccess_router
from aifactory.portal.support.api import router as support_router

api = NinjaAPI(title="aifactory", version="1", urls_namespace="api-v1", description=__doc__ or "",
               parser=BoundedJsonParser())


def _answer(request: HttpRequest, status: int, message: str, detail: object = None) -> HttpResponse:
    return api.create_response(request, {"message": message, "detail": detail}, status=status)


@api.exception_handler(Refusal)
@api.exception_handler(CoreError)
def refused(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Every refusal, the portal's own and the core's, answered in one place (common.errors.refusal_of)."""
    refusal = refusal_of(exc)
    return _answer(request, refusal.status, refusal.message, refusal.detail)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query", "path")]
        fields.append({"field": ".".join(loc), "message": err.get("msg", "invalid")})
    summary = "; ".join(f"{f['field'] or 'body'}: {f['message']}" for f in fields) or "invalid input"
    return _answer(request, 422, summary, fields)


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _answer(request, 401, "a valid token is required (Authorization: Bearer <token>)")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, Refusal | CoreError):  # the body parser's refusal, wrapped by ninja
        return refused(request, exc.__cause__)
    return _answer(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _answer(request, 404, "not found")


api.add_router("/", federation_router)
api.add_router("/agent/", agent_router)
api.add_router("/agent/", allocations_agent_router)
api.add_router("/agent/", jobs_agent_router)
api.add_router("/", organisations_router)
api.add_router("/", access_router)
api.add_router("/", allocations_router)
api.add_router("/", siteaccess_router)
api.add_router("/", siteaccess_public_router)
api.add_router("/agent/", siteaccess_agent_router)
api.add_router("/", jobs_router)
api.add_router("/", runs_router)
api.add_router("/agent/", runs_agent_router)
api.add_router("/", review_router)
api.add_router("/", support_router)
api.add_router("/", matchmaking_router)
api.add_router("/", obligations_router)
api.add_router("/", funding_router)
api.add_router("/", monitoring_router)
