from __future__ import annotations

from django.db import models

from aifactory.portal.monitoring.choices import Direction, Kpi


class Objective(models.Model):
    """An objective defined ahead of time: its KPI, the baseline at the start, the target by the deadline.
    Loaded from core/data/objectives.json; the KPI's value is always computed from the portal's records."""

    key = models.SlugField(max_length=60, unique=True)
    title = models.CharField(max_length=200)
    kpi = models.CharField(max_length=40, choices=Kpi.choices)
    unit = models.CharField(max_length=30)
    direction = models.CharField(max_length=4, choices=Direction.choices)
    baseline = models.FloatField()
    target = models.FloatField()
    start = models.DateField()
    deadline = models.DateField()

    class Meta:
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=models.Q(deadline__gt=models.F("start")),
                                              name="objective_deadline_after_start")]

    def __str__(self) -> str:
        return self.title
