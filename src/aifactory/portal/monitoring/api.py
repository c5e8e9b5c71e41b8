"""The AI Office's objectives under /api/v1/monitoring (observers, call managers and staff)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from aifactory.portal.monitoring.kpis import details
from aifactory.portal.monitoring.selectors import objectives_progress, observer_only
from aifactory.portal.organisations.auth import user_auth

router = Router(tags=["monitoring"], auth=user_auth)


@router.get("/monitoring/objectives", response=dict[str, Any])
def objectives(request: HttpRequest) -> Any:
    """Every objective with its KPI over time (computed from the portal's records), on track or behind."""
    observer_only(request.user)
    return {"at": timezone.now(), "objectives": objectives_progress(), "details": details(timezone.now())}
