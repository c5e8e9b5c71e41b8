from __future__ import annotations

from django.conf import settings
from django.db import models

from aifactory.portal.common.models import StateChangeBase
from aifactory.portal.federation.models import Machine
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.support.choices import REQUEST_STATE_CHOICES, RequestState, Topic


class SupportCentre(models.Model):
    """An AI Factory's support centre, mirrored from core/data/support.json; the service level is set here."""

    key = models.SlugField(max_length=40, unique=True)
    factory = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    first_answer_working_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="first answer due within this many working days (portal default if empty)"
    )

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(first_answer_working_days__isnull=True)
                | models.Q(first_answer_working_days__gte=1, first_answer_working_days__lte=60),
                name="centre_sla_range",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SupportRequest(models.Model):
    """A question of a startup to the AI Factories, routed by the single point of contact to one centre."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="support_requests")
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    topic = models.CharField(max_length=20, choices=Topic.choices)
    sector = models.CharField(max_length=100, blank=True)
    machine = models.ForeignKey(Machine, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    factory = models.CharField(max_length=40, blank=True, help_text="the AI Factory named (or the machine's)")
    title = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=REQUEST_STATE_CHOICES, default=RequestState.NEW)
    centre = models.ForeignKey(SupportCentre, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="requests")
    route_reasons = models.JSONField(default=list, blank=True, help_text="why the centre was chosen")
    sla_working_days = models.PositiveSmallIntegerField(null=True, blank=True,
                                                        help_text="the centre's service level when assigned")
    opened_at = models.DateTimeField(auto_now_add=True)
    first_answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(state="assigned") | models.Q(centre__isnull=False),
                name="support_assigned_has_centre",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class SupportMessage(models.Model):
    """One message of a request's thread: the person's, or the centre's (an answer or a question)."""

    class Kind(models.TextChoices):
        REQUEST = "request", "Request"
        REPLY = "reply", "Reply"
        ANSWER = "answer", "Answer"
        QUESTION = "question", "Question to the user"

    request = models.ForeignKey(SupportRequest, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    body = models.TextField()
    at = models.DateTimeField(auto_now_add=True)
    mailed_to = models.CharField(max_length=254, blank=True, help_text="the address told of this message")

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.request}: {self.kind}"


class SupportRequestStateChange(StateChangeBase):
    """Audit log of a request's states (who, when, from, to, why)."""

    request = models.ForeignKey(SupportRequest, on_delete=models.CASCADE, related_name="history")

    def __str__(self) -> str:
        return f"{self.request}: {self.from_state or 'new'} -> {self.to_state}"
