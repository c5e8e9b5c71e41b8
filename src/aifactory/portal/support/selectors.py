"""Reads of the support context: the centres' catalog, who may see which request, queues and service clocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from aifactory.core import support as core_support
from aifactory.portal.common.errors import Forbidden, NotFound
from aifactory.portal.organisations.selectors import operator_factories
from aifactory.portal.support.choices import OPEN_STATES
from aifactory.portal.support.models import SupportCentre, SupportRequest


def is_centre_staff(user: AbstractBaseUser | AnonymousUser, centre: SupportCentre) -> bool:
    """The operators of the centre's AI Factory, and portal staff."""
    if not user.is_authenticated:
        return False
    return bool(user.is_staff) or centre.factory in operator_factories(user)


def is_requester(user: AbstractBaseUser | AnonymousUser, request: SupportRequest) -> bool:
    return bool(user.is_authenticated) and request.organisation.members.filter(pk=user.pk).exists()


def centres_catalog() -> list[dict[str, Any]]:
    """Every centre as shipped (offers with sources, unknowns null) with the service level in force here."""
    set_here = dict(SupportCentre.objects.values_list("key", "first_answer_working_days"))
    rows = []
    for centre in core_support.load_centres():
        row = centre.to_dict()
        days = set_here.get(centre.key) or centre.first_answer_working_days
        row["sla_working_days"] = days or settings.SUPPORT_FIRST_ANSWER_WORKING_DAYS
        row["sla_basis"] = "set by the centre" if days else "the portal's default (no source gives one)"
        rows.append(row)
    return rows


def centres_staffed_by(user: AbstractBaseUser | AnonymousUser) -> QuerySet[SupportCentre]:
    if not user.is_authenticated:
        return SupportCentre.objects.none()
    if user.is_staff:
        return SupportCentre.objects.all()
    return SupportCentre.objects.filter(factory__in=operator_factories(user))


def centre_get(*, user: AbstractBaseUser | AnonymousUser, key: str) -> SupportCentre:
    centre = SupportCentre.objects.filter(key=key).first()
    if centre is None:
        raise NotFound(f"support centre {key!r} not found")
    if not is_centre_staff(user, centre):
        raise Forbidden("this queue is for the centre's staff")
    return centre


def requests_visible(user: AbstractBaseUser | AnonymousUser) -> QuerySet[SupportRequest]:
    """A person's organisations' requests; for a centre's staff, the requests assigned to it; all for staff."""
    qs = SupportRequest.objects.select_related("centre", "organisation", "machine", "opened_by")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    visible = Q(organisation__members=user) | Q(centre__factory__in=operator_factories(user))
    return qs.filter(visible).distinct()


def request_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> SupportRequest:
    request = requests_visible(user).filter(pk=pk).first()
    if request is None:
        raise NotFound(f"support request {pk} not found")
    return request


@dataclass(frozen=True)
class RequestClock:
    request: SupportRequest
    clock: core_support.Clock | None  # None: not assigned yet


def clock_of(request: SupportRequest) -> core_support.Clock | None:
    if request.sla_working_days is None:
        return None
    answered = timezone.localdate(request.first_answered_at) if request.first_answered_at else None
    return core_support.sla(timezone.localdate(request.opened_at), request.sla_working_days, answered,
                            timezone.localdate())


def centre_queue(centre: SupportCentre) -> list[RequestClock]:
    """The centre's requests, escalated ones first (overdue, then near), then by due day."""
    rows = [RequestClock(r, clock_of(r)) for r in centre.requests.select_related("organisation", "machine")]
    order = {"overdue": 0, "near": 1, "ok": 2, "missed": 3, "met": 4}

    def key(row: RequestClock) -> tuple[int, int, str]:
        open_ = row.request.state in OPEN_STATES
        state = row.clock.state if row.clock else "ok"
        due = row.clock.due.isoformat() if row.clock else ""
        return (0 if open_ else 1, order.get(state, 5), due)

    return sorted(rows, key=key)


def escalated(user: AbstractBaseUser | AnonymousUser) -> list[RequestClock]:
    """Open requests near or past their first-answer day, among those the person may see as staff."""
    rows = []
    for centre in centres_staffed_by(user):
        rows += [r for r in centre_queue(centre)
                 if r.request.first_answered_at is None and r.request.state in OPEN_STATES
                 and r.clock is not None and r.clock.escalated]
    return rows
