"""What every page's navigation needs to know of the person: which of the role pages to offer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from aifactory.portal.organisations.selectors import may_see_aggregates, operator_factories, roles_of
from aifactory.portal.review.selectors import reviewer_of


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}}
    roles = roles_of(user)
    return {"nav": {
        "reviewer": reviewer_of(user) is not None,
        "operator": bool(operator_factories(user)),
        "observer": may_see_aggregates(user),
        "call_manager": "call_manager" in roles,
    }}
