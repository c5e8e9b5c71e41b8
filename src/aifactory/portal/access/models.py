from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from aifactory.portal.access.choices import APPLICATION_STATE_CHOICES, AccessMode, ApplicationState, RouteMethod
from aifactory.portal.common.models import StateChangeBase
from aifactory.portal.federation.models import Machine
from aifactory.portal.organisations.models import Organisation


class Application(models.Model):
    """An organisation's request for compute, with its training plan and its AI Act screening."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="applications")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    mode = models.CharField(max_length=20, choices=AccessMode.choices, default=AccessMode.PLAYGROUND)
    call = models.ForeignKey(
        "review.Call", null=True, blank=True, on_delete=models.PROTECT, related_name="applications",
        help_text="the call a Large Scale or Grand Challenge proposal answers",
    )
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    description = models.TextField(blank=True, help_text="the project as the applicant describes it, for reviewers")
    sector = models.CharField(max_length=100, blank=True, help_text="the project's sector")
    keywords = models.JSONField(default=list, blank=True, help_text="expertise keywords, to match reviewers")
    people = models.JSONField(default=list, blank=True, help_text="people named in the proposal")
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, help_text="the machine asked for (the first)")
    machine_hours = models.JSONField(
        default=dict, blank=True, help_text="GPU-hours per machine when the request names several machines"
    )
    gpu = models.CharField(max_length=20, blank=True, help_text="GPU model asked for, if any")
    params = models.FloatField(help_text="model parameters")
    tokens = models.FloatField(help_text="training tokens")
    gpus = models.PositiveIntegerField()
    requested_gpu_hours = models.FloatField()
    months = models.PositiveSmallIntegerField(default=3)
    civil_use = models.BooleanField()
    practices = models.JSONField(default=list, blank=True, help_text="AI Act Article 5 practices named")
    areas = models.JSONField(default=list, blank=True, help_text="AI Act Annex III areas named")
    open_science = models.BooleanField(default=False, help_text="accepts the call's open-science obligation")
    pledges = models.JSONField(default=list, blank=True, help_text="the organisation's AI Pact pledges when submitted")
    plan = models.JSONField(default=dict, help_text="the planner's estimate when submitted")
    assessment = models.JSONField(default=dict, blank=True, help_text="the technical assessment when submitted")
    state = models.CharField(max_length=20, choices=APPLICATION_STATE_CHOICES, default=ApplicationState.SUBMITTED)
    reasons = models.JSONField(default=list, blank=True)
    high_risk = models.BooleanField(default=False)
    text_findings = models.JSONField(
        default=list, blank=True,
        help_text="AI Act practices and areas the text screening found, with the passages that triggered it",
    )
    systemic_risk = models.BooleanField(default=False)
    submitted_at = models.DateTimeField(auto_now_add=True)
    promised_by = models.DateField(null=True, blank=True, help_text="the day the mode or call promises a decision by")
    decided_at = models.DateTimeField(null=True, blank=True, help_text="when the application was first decided")

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


class StateChange(StateChangeBase):
    """Audit log: every state change of an application (who, when, from, to, why)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="history")

    def __str__(self) -> str:
        return f"{self.from_state or 'new'} -> {self.to_state}"


class Route(models.Model):
    """Where an accepted project goes: an AI Factory and a machine with GPU-hours, and why (single point of contact).

    A route is never changed: an override marks the routes it replaces as not current and adds new ones."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="routes")
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="+")
    factory = models.CharField(max_length=40, blank=True)
    gpu_hours = models.FloatField()
    fit = models.FloatField(null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    method = models.CharField(max_length=10, choices=RouteMethod.choices)
    reason = models.TextField(blank=True, help_text="why staff overrode the routing")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_at = models.DateTimeField(auto_now_add=True)
    current = models.BooleanField(default=True)

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(gpu_hours__gt=0), name="route_hours_positive"),
            models.UniqueConstraint(
                fields=["application", "machine"], condition=models.Q(current=True), name="route_current_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application_id} -> {self.machine.key}{'' if self.current else ' (replaced)'}"
