"""Writes of the monitoring context: the objectives, loaded from data and changed by staff only.

    objectives_sync    load core/data/objectives.json (an objective already here keeps what staff set)
    objective_update   staff change a target, a baseline or a deadline (the KPI is never typed in)
"""

from __future__ import annotations

import math
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from aifactory.core import objectives as core_objectives
from aifactory.portal.common.errors import BadRequest, Forbidden
from aifactory.portal.monitoring.models import Objective


def objectives_sync() -> int:
    specs = core_objectives.load_objectives()
    for s in specs:
        Objective.objects.get_or_create(key=s.key, defaults={
            "title": s.title, "kpi": s.kpi, "unit": s.unit, "direction": s.direction, "baseline": s.baseline,
            "target": s.target, "start": s.start, "deadline": s.deadline})
    return len(specs)


@transaction.atomic
def objective_update(*, user: AbstractBaseUser, objective: Objective, target: float | None = None,
                     baseline: float | None = None, deadline: date | None = None) -> Objective:
    if not getattr(user, "is_staff", False):
        raise Forbidden("only staff change an objective")
    for name, value in (("target", target), ("baseline", baseline)):
        if value is not None:
            if not math.isfinite(value):
                raise BadRequest(f"{name}: must be a finite number", {"field": name})
            setattr(objective, name, value)
    if deadline is not None:
        if deadline <= objective.start:
            raise BadRequest("deadline: must come after the start", {"field": "deadline"})
        objective.deadline = deadline
    objective.save()
    return objective
