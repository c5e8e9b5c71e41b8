"""Reads of the obligations context: who sees which obligation, overdue ones, the call templates as shown."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from aifactory.core import call_templates as core_templates
from aifactory.core.catalog import load_catalog
from aifactory.portal.common.errors import NotFound
from aifactory.portal.obligations.choices import ObligationState
from aifactory.portal.obligations.models import CallRule, Obligation
from aifactory.portal.organisations.selectors import is_call_manager
from aifactory.portal.review.models import Call

DEFAULT_TEMPLATE = "large-ai-grand-challenge"


def template_of(call: Call) -> core_templates.CallTemplate:
    """The call's template, or the Large AI Grand Challenge's rule for an open-science call opened without one."""
    rule = CallRule.objects.filter(call=call).first()
    return core_templates.template(rule.template if rule else DEFAULT_TEMPLATE)


def obligations_visible(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Obligation]:
    qs = Obligation.objects.select_related("call", "organisation", "application")
    if not user.is_authenticated:
        return qs.none()
    if is_call_manager(user):
        return qs
    return qs.filter(organisation__members=user).distinct()


def obligation_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Obligation:
    o = obligations_visible(user).filter(pk=pk).first()
    if o is None:
        raise NotFound(f"obligation {pk} not found")
    return o


def is_overdue(o: Obligation, today: date | None = None) -> bool:
    return o.state == ObligationState.PENDING and o.due_on < (today or timezone.localdate())


def overdue(today: date | None = None) -> QuerySet[Obligation]:
    return Obligation.objects.filter(state=ObligationState.PENDING, due_on__lt=today or timezone.localdate())


def templates_shown() -> list[dict[str, Any]]:
    """Each template as its announcement states it, with the capacity prize computed from the catalog."""
    machines = load_catalog().machines
    rows = []
    for t in core_templates.load_templates():
        prize = core_templates.capacity_prize(t, machines)
        rows.append({**t.raw, "capacity_prize": None if prize is None else {
            "gpu_hours": round(prize.gpu_hours), "gpus_counted": prize.gpus_counted,
            "machines_left_out": list(prize.machines_left_out),
            "note": "a lower bound: machines whose GPU count no source gives are left out"}})
    return rows
