"""Calls: opened with their rubric and budgets, closed at the deadline; every move of a call in call_move."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from aifactory.core import review as core_review
from aifactory.core.exceptions import InvalidInput
from aifactory.core.modes import load_modes
from aifactory.portal.federation.models import Machine
from aifactory.portal.review.choices import (
    CallMode,
    CallState,
    Objective,
    check_call_transition,
)
from aifactory.portal.review.models import (
    Budget,
    Call,
    CallStateChange,
    Criterion,
)
from aifactory.portal.review.services.base import manager_only, refuse


def call_move(call: Call, target: CallState, *, actor: AbstractBaseUser | None, reason: str) -> None:
    check_call_transition(call.state, target)
    CallStateChange.objects.create(call=call, actor=actor, from_state=call.state, to_state=target.value, reason=reason)
    call.state = target.value
    call.save(update_fields=["state"])




# --- opening and closing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionSpec:
    name: str
    weight: float
    low: float = 0.0
    high: float = 5.0


@transaction.atomic
def call_open(
    *,
    user: AbstractBaseUser,
    title: str,
    mode: str,
    deadline: datetime,
    criteria: Sequence[CriterionSpec],
    budgets: Mapping[str, float],
    decision_by: date | None = None,
    description: str = "",
    winner_limit: int | None = None,
    threshold: float | None = None,
    objective: str = Objective.SCORE,
    reviewers_per_proposal: int = 2,
    same_country_conflict: bool = False,
    prize_eur: Decimal | None = None,
    open_science: bool = False,
    months: int = 12,
    starts_on: date | None = None,
) -> Call:
    """Open a call (rules in the module doc); every value is checked and refused with its field named."""
    manager_only(user)
    if mode not in CallMode.values:
        raise refuse("mode", f"{mode!r} is not a mode run as a call ({', '.join(CallMode.values)})")
    spec = load_modes().get(mode)
    if not title.strip():
        raise refuse("title", "a call needs a title")
    if timezone.is_naive(deadline):
        raise refuse("deadline", "give the time zone (e.g. 2027-03-01T17:00:00+01:00)")
    if deadline <= timezone.now():
        raise refuse("deadline", f"{deadline.isoformat()} has passed")
    cutoff = timezone.localtime(deadline).date()
    promised = spec.promised_by(submitted=cutoff, cutoff=cutoff, decision_by=decision_by)
    if promised is None:
        raise refuse("decision_by", f"a {spec.name} call promises its decision date: give it")
    if promised < cutoff:
        raise refuse("decision_by", f"{promised.isoformat()} is before the deadline")
    if months not in spec.months:
        raise refuse("months", f"{spec.name} grants {', '.join(map(str, spec.months))} months")
    if objective not in {o.value for o in Objective}:
        raise refuse("objective", f"{objective!r} is not one of {', '.join(o.value for o in Objective)}")
    if winner_limit is not None and winner_limit < 1:
        raise refuse("winner_limit", "at least one winner, or no limit")
    if reviewers_per_proposal < 1:
        raise refuse("reviewers_per_proposal", "at least one reviewer per proposal")
    if prize_eur is not None and prize_eur < 0:
        raise refuse("prize_eur", "a prize is 0 or more euros")
    if starts_on is not None and starts_on < promised:
        raise refuse("starts_on", f"allocations cannot start before the decision ({promised.isoformat()})")
    try:
        rubric = core_review.Rubric(tuple(core_review.Criterion(c.name, c.weight, c.low, c.high) for c in criteria))
    except InvalidInput as exc:
        raise refuse("criteria", exc.message) from exc
    if threshold is not None:
        low = min(c.low for c in rubric.criteria)
        high = max(c.high for c in rubric.criteria)
        if not low <= threshold <= high:
            raise refuse("threshold", f"{threshold:g} is outside the rubric's scale {low:g}..{high:g}")
    if not budgets:
        raise refuse("budgets", "a call funds GPU-hours on at least one machine")
    machines: list[tuple[Machine, float]] = []
    for key, hours in budgets.items():
        machine = Machine.objects.filter(key=key).first()
        if machine is None:
            raise refuse("budgets", f"unknown machine {key!r}")
        if not machine.sites.exists():
            raise refuse("budgets", f"{key!r} has no site taking allocations yet")
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours > 0:
            raise refuse("budgets", f"{key}: a budget is a positive number of GPU-hours")
        machines.append((machine, float(hours)))
    call = Call.objects.create(
        title=title.strip(), mode=mode, description=description, deadline=deadline, decision_by=promised,
        starts_on=starts_on, months=months, winner_limit=winner_limit, threshold=threshold, objective=objective,
        reviewers_per_proposal=reviewers_per_proposal, same_country_conflict=same_country_conflict,
        prize_eur=prize_eur, open_science=open_science, created_by=user,
    )
    for position, c in enumerate(rubric.criteria):
        Criterion.objects.create(call=call, name=c.name, weight=c.weight, low=c.low, high=c.high, position=position)
    for machine, hours in machines:
        Budget.objects.create(call=call, machine=machine, gpu_hours=hours)
    CallStateChange.objects.create(call=call, actor=user, from_state="", to_state=call.state, reason="opened")
    return call


@transaction.atomic
def call_close(*, call: Call, user: AbstractBaseUser, reason: str = "") -> Call:
    """End the call's intake; before the deadline only with a reason."""
    manager_only(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    early = timezone.now() < call.deadline
    if early and not reason.strip():
        raise refuse("reason", f"the call takes proposals until {call.deadline:%Y-%m-%d %H:%M} UTC: closing it "
                                "earlier needs a reason")
    call_move(call, CallState.REVIEW, actor=user, reason=reason.strip() or "deadline passed")
    return call
