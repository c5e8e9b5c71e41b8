"""Errors the portal answers with a 4xx status and a {message, detail} body."""

from __future__ import annotations

from typing import Any


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


class Forbidden(PortalError):
    status = 403


class NotFound(PortalError):
    status = 404


class Conflict(PortalError):
    status = 409
