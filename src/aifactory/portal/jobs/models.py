from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.federation.models import Site

JOB_STATE_CHOICES = [(s.value, s.value.capitalize()) for s in JobState]


def new_uid() -> str:
    return uuid.uuid4().hex


class Job(models.Model):
    """A training job accepted by the portal, charged to one allocation, run by one site's agent."""

    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="jobs")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="jobs")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    name = models.CharField(max_length=64)
    script = models.TextField()
    env = models.JSONField(default=dict, blank=True)
    gpus = models.PositiveIntegerField()
    time_limit_s = models.PositiveIntegerField()
    state = models.CharField(max_length=12, choices=JOB_STATE_CHOICES, default=JobState.PENDING)
    cancel_requested = models.BooleanField(default=False)
    scheduler_id = models.CharField(max_length=64, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    gpu_seconds = models.FloatField(default=0.0)
    log_tail = models.TextField(blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["site", "state"], name="job_site_state")]
        constraints = [
            models.CheckConstraint(condition=models.Q(gpu_seconds__gte=0), name="job_gpu_seconds_nonneg"),
            models.CheckConstraint(condition=models.Q(time_limit_s__gte=60), name="job_time_limit_min"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.uid[:8]})"

    @property
    def terminal(self) -> bool:
        return JobState(self.state).terminal
