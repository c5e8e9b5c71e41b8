"""What every write of the review context checks first."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from aifactory.portal.common.errors import BadRequest, Forbidden
from aifactory.portal.organisations.selectors import is_call_manager


def refuse(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field})


def manager_only(user: AbstractBaseUser) -> None:
    if not is_call_manager(user):
        raise Forbidden("only a call manager runs calls, reviews and selections")
