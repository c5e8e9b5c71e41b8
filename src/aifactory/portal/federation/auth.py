"""API authentication of agents: a site by its site token."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from aifactory.portal.federation.selectors import site_by_token


class SiteToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return site_by_token(token)


site_auth = [SiteToken()]
