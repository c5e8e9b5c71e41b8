"""The portal's refusals, and the one translation of every refusal into an HTTP answer.

A `Refusal` is a request the portal turns down with a 4xx status, a message and a detail (the field at fault, the
reasons per site, the proposals that block ...). The core raises its own exceptions (aifactory.core.exceptions);
`refusal_of` turns either kind into a Refusal, keeping its data, and is the only place that knows which status each
core exception gets. The API answers a Refusal as {message, detail} (aifactory.portal.api); pages show it next to
the field it names, or next to the action that was refused (RefusalMiddleware, `add_refusal`).

    Refusal (status, message, detail)
     +-- BadRequest    400
     +-- Unauthorized  401
     +-- Forbidden     403  (also Django's PermissionDenied)
     +-- NotFound      404  (also Django's Http404)
     +-- Conflict      409  the move is not possible in the current state
     +-- Gone          410

    core exception          status  detail
    InvalidInput            400     {"field"}                  (CatalogError: also {"record"})
    InvalidTransition       409     {"entity", "current", "target"}
    Ineligible              400     {"reasons": [...]}
    NoPlacement             400     {"reasons": {machine: why}}
    TraceError              400     {"field", "path", "line"}
    InfeasibleAssignment    409     {"status", "proposals": [...]}
    SolverError             422     {"status"}
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from aifactory.core.catalog import CatalogError
from aifactory.core.exceptions import (
    CoreError,
    Ineligible,
    InvalidInput,
    InvalidTransition,
    NoPlacement,
    SolverError,
    TraceError,
)
from aifactory.core.review import InfeasibleAssignment


class Refusal(Exception):
    """A request the portal refuses: `status` is its HTTP status, `detail` the data that explains it."""

    status = 400

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    @property
    def field(self) -> str | None:
        """The input field at fault, when the refusal names one."""
        field = self.detail.get("field") if isinstance(self.detail, dict) else None
        return field if isinstance(field, str) and field else None

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "detail": self.detail}


class BadRequest(Refusal):
    status = 400


class Unauthorized(Refusal):
    status = 401


class Forbidden(Refusal, PermissionDenied):
    """Also a PermissionDenied, so that Django's own handling answers 403 as the API does."""

    status = 403


class NotFound(Refusal, Http404):
    """Also an Http404, so that Django's own handling answers 404 as the API does."""

    status = 404


class Conflict(Refusal):
    status = 409


class Gone(Refusal):
    """What was asked for is no longer the caller's (a job that moved away from a site)."""

    status = 410


class Unprocessable(Refusal):
    """The input is well formed but no answer can be computed from it (a solver found none)."""

    status = 422


#: What a view catches to show a refusal next to its form: the portal's refusals and the core's exceptions.
REFUSALS: tuple[type[Exception], ...] = (Refusal, CoreError)


def refusal_of(exc: Exception) -> Refusal:
    """The refusal that answers `exc`, a Refusal (returned as it is) or a core exception (translated, its data kept).

    Anything else is a fault of the portal, not a refusal, and is raised again."""
    if isinstance(exc, Refusal):
        return exc
    if isinstance(exc, CatalogError):
        return BadRequest(exc.message, {"field": exc.field, "record": exc.record})
    if isinstance(exc, InvalidInput):
        return BadRequest(exc.message, {"field": exc.field})
    if isinstance(exc, InvalidTransition):
        return Conflict(exc.message, {"entity": exc.entity, "current": exc.current, "target": exc.target})
    if isinstance(exc, Ineligible):
        return BadRequest(exc.message, {"reasons": list(exc.reasons)})
    if isinstance(exc, NoPlacement):
        return BadRequest(exc.message, {"reasons": dict(exc.reasons)})
    if isinstance(exc, TraceError):
        return BadRequest(exc.message, {"field": exc.field, "path": exc.path, "line": exc.line})
    if isinstance(exc, InfeasibleAssignment):
        return Conflict(exc.message, {"status": exc.status, "proposals": list(exc.proposals)})
    if isinstance(exc, SolverError):
        return Unprocessable(exc.message, {"status": exc.status})
    if isinstance(exc, CoreError):
        return BadRequest(exc.message)
    raise exc
