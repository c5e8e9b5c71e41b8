from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.models import StateChangeBase
from aifactory.portal.federation.models import Site

JOB_STATE_CHOICES = [(s.value, s.value.capitalize()) for s in JobState]


def new_uid() -> str:
    return uuid.uuid4().hex


class Job(models.Model):
    """A training job accepted by the portal, charged to one allocation, run by one site's agent.

    The broker places it on one of its organisation's allocations and one of the sites that serve it; when that
    site's agent stops reporting while the job waits, the job moves (site and allocation change together, the uid
    stays) and the site it left is told to cancel its copy (JobRevocation). Each placement is kept (JobPlacement).

    A submission that carries an Idempotency-Key is accepted once per person and key (job_idempotency_key_once): a
    client that lost the answer sends the same request again with the same key and gets this job back.
    """

    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="jobs")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="jobs")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    name = models.CharField(max_length=64)
    script = models.TextField()
    env = models.JSONField(default=dict, blank=True)
    gpus = models.PositiveIntegerField(help_text="GPUs in all: GPUs per node x nodes")
    nodes = models.PositiveIntegerField(default=1)
    time_limit_s = models.PositiveIntegerField()
    image = models.CharField(max_length=512, blank=True, help_text="Apptainer image the commands run in")
    inputs = models.JSONField(default=list, blank=True, help_text="paths at the site, bound read-only")
    outputs = models.JSONField(default=list, blank=True, help_text="paths under the job's folder to list at the end")
    spec = models.JSONField(default=dict, blank=True, help_text="the job spec as accepted, in canonical form")
    expected_start_at = models.DateTimeField(null=True, blank=True)
    expected_end_at = models.DateTimeField(null=True, blank=True)
    output_files = models.JSONField(default=list, blank=True, help_text="outputs found at the end, with sizes")
    pinned = models.BooleanField(default=False, help_text="kept on its allocation: moves only among its sites")
    lease_s = models.PositiveIntegerField(
        default=0, help_text="the site's agent renews the job's lease at each pass; the job stops when it is not "
                             "renewed for this long (0: no lease)")
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
    idempotency_key = models.CharField(
        max_length=128, blank=True,
        help_text="the Idempotency-Key its submitter sent: the same key from the same person returns this job",
    )
    request_digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the submission as accepted")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["site", "state"], name="job_site_state"),
            models.Index(fields=["created_at"], name="job_created_at"),  # the broker's size limits read a window
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(gpu_seconds__gte=0), name="job_gpu_seconds_nonneg"),
            models.CheckConstraint(condition=models.Q(time_limit_s__gte=60), name="job_time_limit_min"),
            models.CheckConstraint(condition=models.Q(nodes__gte=1), name="job_nodes_min"),
            models.UniqueConstraint(fields=["submitted_by", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                                    name="job_idempotency_key_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.uid[:8]})"

    @property
    def terminal(self) -> bool:
        return JobState(self.state).terminal


class JobPlacement(models.Model):
    """One decision of the broker for a job: where it went, when it was expected to start and end, and why, with
    the reason for every site it considered. The first is made at submission; a move adds another."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="placements")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="+")
    cause = models.CharField(max_length=200, help_text="submitted, or why the job moved")
    held = models.BooleanField(default=False, help_text="no site that can take the job was reporting")
    reasons = models.JSONField(default=list, help_text="[{site, machine, account, reason, chosen}]")
    expected_start_at = models.DateTimeField(null=True, blank=True)
    expected_end_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.job} at {self.site} ({self.cause})"


class JobRevocation(models.Model):
    """A site must cancel its copy of a job that is no longer its own (the job moved, or was cancelled before the
    site reported it). Its agent confirms with what its scheduler says of the copy; usage of the copy is charged to
    the allocation it ran under."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="revocations")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="revocations")
    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    found = models.BooleanField(null=True, blank=True, help_text="whether the site's scheduler had a copy")
    state = models.CharField(max_length=12, blank=True, help_text="the copy's last state at the site")
    scheduler_id = models.CharField(max_length=64, blank=True)
    gpu_seconds = models.FloatField(default=0.0)
    released = models.BooleanField(default=False, help_text="whether the site had let the copy's commands start")

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "site"], name="revocation_once_per_site"),
            models.CheckConstraint(condition=models.Q(gpu_seconds__gte=0), name="revocation_gpu_seconds_nonneg"),
        ]

    def __str__(self) -> str:
        return f"revoke {self.job} at {self.site}"


class JobStateChange(StateChangeBase):
    """Audit log: every move of a job's state (when, from, to, why) and who moved it: a person (`actor`, who
    submitted or cancelled it), a site's agent (`site`, whose report moved it), or the portal itself (neither: a
    failover)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="history")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             help_text="the site whose agent reported the move")

    class Meta(StateChangeBase.Meta):
        constraints = [
            models.CheckConstraint(condition=models.Q(actor__isnull=True) | models.Q(site__isnull=True),
                                   name="job_state_change_one_mover"),
        ]

    def __str__(self) -> str:
        return f"{self.from_state or 'new'} -> {self.to_state}"

    @property
    def moved_by(self) -> str:
        """person, agent or system."""
        if self.actor_id is not None:
            return "person"
        return "agent" if self.site_id is not None else "system"
