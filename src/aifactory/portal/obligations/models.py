from __future__ import annotations

from django.conf import settings
from django.db import models

from aifactory.portal.access.models import Application
from aifactory.portal.common.models import StateChangeBase
from aifactory.portal.obligations.choices import OBLIGATION_STATE_CHOICES, EvidenceKind, ObligationState
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.review.models import Call


class CallRule(models.Model):
    """The template a call was opened from: its open-science rule and entry rules (core/data/call_templates.json)."""

    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="rule")
    template = models.CharField(max_length=60)

    def __str__(self) -> str:
        return f"{self.call}: {self.template}"


class Obligation(models.Model):
    """A call winner's obligation: release the model under a licence the call accepts, or publish, by a date."""

    call = models.ForeignKey(Call, on_delete=models.PROTECT, related_name="obligations")
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="obligation")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="obligations")
    template = models.CharField(max_length=60, help_text="the call template whose rule applies")
    due_on = models.DateField()
    state = models.CharField(max_length=10, choices=OBLIGATION_STATE_CHOICES, default=ObligationState.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    met_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(state="pending") | models.Q(met_at__isnull=False),
                                   name="obligation_met_has_time"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.call} by {self.due_on}"


class Evidence(models.Model):
    """What met an obligation: a release (licence expression, where) or a publication (DOI or arXiv id)."""

    obligation = models.ForeignKey(Obligation, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=12, choices=EvidenceKind.choices)
    licence = models.CharField(max_length=500, blank=True)
    url = models.URLField(max_length=500, blank=True)
    identifier = models.CharField(max_length=300, blank=True)
    reasons = models.JSONField(default=list)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.obligation}: {self.kind}"


class Reminder(models.Model):
    """A reminder mailed before the date (days_before > 0) or once it has passed (days_before = 0)."""

    obligation = models.ForeignKey(Obligation, on_delete=models.CASCADE, related_name="reminders")
    days_before = models.PositiveSmallIntegerField()
    sent_to = models.JSONField(default=list)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]
        constraints = [models.UniqueConstraint(fields=["obligation", "days_before"], name="reminder_once")]

    def __str__(self) -> str:
        return f"{self.obligation}: {self.days_before} days before"


class ObligationStateChange(StateChangeBase):
    obligation = models.ForeignKey(Obligation, on_delete=models.CASCADE, related_name="history")

    def __str__(self) -> str:
        return f"{self.obligation}: {self.from_state} -> {self.to_state}"
