from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from aifactory.portal.access.choices import APPLICATION_STATE_CHOICES, AccessMode, ApplicationState
from aifactory.portal.federation.models import Machine
from aifactory.portal.organisations.models import Organisation


class Application(models.Model):
    """An organisation's request for compute, with its training plan and its AI Act screening."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="applications")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    mode = models.CharField(max_length=20, choices=AccessMode.choices, default=AccessMode.PLAYGROUND)
    title = models.CharField(max_length=200)
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT)
    params = models.FloatField(help_text="model parameters")
    tokens = models.FloatField(help_text="training tokens")
    gpus = models.PositiveIntegerField()
    requested_gpu_hours = models.FloatField()
    months = models.PositiveSmallIntegerField(default=3)
    civil_use = models.BooleanField()
    practices = models.JSONField(default=list, blank=True, help_text="AI Act Article 5 practices named")
    areas = models.JSONField(default=list, blank=True, help_text="AI Act Annex III areas named")
    plan = models.JSONField(default=dict, help_text="the planner's estimate when submitted")
    state = models.CharField(max_length=20, choices=APPLICATION_STATE_CHOICES, default=ApplicationState.SUBMITTED)
    reasons = models.JSONField(default=list, blank=True)
    high_risk = models.BooleanField(default=False)
    systemic_risk = models.BooleanField(default=False)
    submitted_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(requested_gpu_hours__gt=0), name="application_hours_positive"),
            models.CheckConstraint(condition=models.Q(params__gt=0, tokens__gt=0), name="application_plan_positive"),
            models.CheckConstraint(condition=models.Q(months__gte=1, months__lte=12), name="application_months_range"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.organisation})"

    @property
    def allocation(self) -> Any:
        """The application's first allocation (None before any): most applications are granted one machine."""
        allocations = self.allocations.all()
        return min(allocations, key=lambda a: a.pk) if allocations else None


class StateChange(models.Model):
    """Audit log: every state change of an application (who, when, from, to, why)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="history")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_state or 'new'} -> {self.to_state}"
