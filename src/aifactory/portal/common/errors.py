"""Errors the portal answers with a 4xx status and a {message, detail} body."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404


class PortalError(Exception):
    status = 400

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class BadRequest(PortalError):
    status = 400


class Unauthorized(PortalError):
    status = 401


class Forbidden(PortalError, PermissionDenied):
    """Also a PermissionDenied, so that a page that lets it through answers 403 like the API."""

    status = 403


class NotFound(PortalError, Http404):
    """Also an Http404, so that a page that lets it through answers 404 like the API."""

    status = 404


class Conflict(PortalError):
    status = 409


class Gone(PortalError):
    """What was asked for is no longer the caller's (a job that moved away from a site)."""

    status = 410
