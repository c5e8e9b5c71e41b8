"""API authentication of people: by personal token, or by their browser session (agents: federation.auth)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from aifactory.portal.organisations.selectors import api_token_of
from aifactory.portal.organisations.services import api_token_mark_used


class UserToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        row = api_token_of(token)
        if row is None:
            return None
        api_token_mark_used(token=row)  # at most once a minute
        request.user = row.user
        return row.user


user_auth = [UserToken(), SessionAuth()]
