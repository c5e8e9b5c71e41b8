"""Reads of the access context, each for one person: an applicant sees their organisations' applications, a call
manager (and staff) every application, a factory operator those routed to their AI Factories' machines. An
observer sees aggregates only (stats)."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from aifactory.core.modes import load_modes, working_days_between
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.access.models import Application
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.errors import BadRequest, NotFound
from aifactory.portal.organisations.selectors import readable_by


def calls() -> Any:
    """The calls, reached through the relation an application has to the call it answers.

    Calls belong to the review app, which sits above this one (it reviews and selects applications); this app
    reads a call only as the other end of `Application.call`, and asks it the questions its model answers
    (`takes_proposals`, and the `taking_proposals()` queryset)."""
    return Application._meta.get_field("call").related_model._default_manager  # type: ignore[union-attr]


def call_get(call_id: int) -> Any:
    """The call an application may answer, or a 400 naming the field."""
    found = calls().filter(pk=call_id).first()
    if found is None:
        raise BadRequest(f"call: no call {call_id}", {"field": "call"})
    return found


def applications_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Application]:
    qs = Application.objects.select_related("organisation", "machine")
    return readable_by(user, qs, organisation="organisation", factory="routes__machine__factory",
                       also={"routes__current": True})


def with_details(qs: QuerySet[Application]) -> QuerySet[Application]:
    return qs.prefetch_related("allocations", "routes__machine", "routes__decided_by", "history__actor")


def application_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Application:
    app = with_details(applications_of(user)).filter(pk=pk).first()
    if app is None:
        raise NotFound(f"application {pk} not found")
    return app


def on_time(app: Application) -> bool | None:
    """Decided by the promised day (True/False); False also while pending past it; None otherwise."""
    if app.promised_by is None:
        return None
    if app.decided_at is not None:
        return timezone.localtime(app.decided_at).date() <= app.promised_by
    return False if timezone.localdate() > app.promised_by else None


def decision_working_days(app: Application) -> int | None:
    """Working days from submission to the first decision."""
    if app.decided_at is None:
        return None
    return working_days_between(timezone.localtime(app.submitted_at).date(), timezone.localtime(app.decided_at).date())


def stats() -> dict[str, Any]:
    """Aggregates for observers: per mode, promised against actual decision times, states, and GPU-hours granted."""
    modes = []
    for spec in load_modes().modes:
        apps = list(Application.objects.filter(mode=spec.key).only(
            "state", "promised_by", "decided_at", "submitted_at", "requested_gpu_hours"
        ))
        decided = [a for a in apps if a.decided_at is not None]
        days = [d for a in decided if (d := decision_working_days(a)) is not None]
        verdicts = [on_time(a) for a in apps]
        modes.append({
            "mode": spec.key,
            "name": spec.name,
            "promised": spec.decision_text(),
            "applications": len(apps),
            "decided": len(decided),
            "decided_on_time": sum(1 for a in decided if on_time(a) is True),
            "late": sum(1 for v in verdicts if v is False),
            "median_working_days_to_decision": statistics.median(days) if days else None,
            "states": dict(Counter(a.state for a in apps)),
            "gpu_hours_requested": sum(a.requested_gpu_hours for a in apps),
        })
    granted: dict[str, float] = {}
    for machine, hours in Allocation.objects.values_list("machine__key", "gpu_hours"):
        granted[machine] = granted.get(machine, 0.0) + hours
    return {
        "modes": modes,
        "approved": Application.objects.filter(state=ApplicationState.APPROVED).count(),
        "refused": Application.objects.filter(state=ApplicationState.REFUSED).count(),
        "gpu_hours_granted_by_machine": dict(sorted(granted.items())),
    }
