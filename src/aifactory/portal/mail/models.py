from __future__ import annotations

from django.db import models

from aifactory.portal.mail.choices import MailKind, MailState


class OutgoingMail(models.Model):
    """A message in the outbox. Written in the caller's transaction, delivered by the task runner, retried on
    failure; nothing is lost if the mail server is down."""

    to = models.JSONField(help_text="the recipients' addresses")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    kind = models.CharField(max_length=20, choices=MailKind.choices, default=MailKind.OTHER)
    key = models.CharField(max_length=200, null=True, blank=True, unique=True,
                           help_text="one message per key (e.g. one 80 % notice per allocation)")
    state = models.CharField(max_length=10, choices=MailState.choices, default=MailState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=MailState.values), name="mail_state_known"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {', '.join(self.to)}: {self.subject}"
