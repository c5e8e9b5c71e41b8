"""Model bases shared by the apps."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StateChangeBase(models.Model):
    """An audit log entry of a state machine: who moved it, when, from, to and why."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["at", "pk"]
