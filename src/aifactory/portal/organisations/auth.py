"""API authentication of people: by personal token, or by their browser session (agents: federation.auth)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from aifactory.portal.common import tokens
from aifactory.portal.organisations.models import ApiToken
from aifactory.portal.organisations.selectors import user_by_token


class UserToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = user_by_token(token)
        if user is None:
            return None
        ApiToken.objects.filter(digest=tokens.digest(token)).update(last_used_at=timezone.now())
        request.user = user
        return user


user_auth = [UserToken(), SessionAuth()]
