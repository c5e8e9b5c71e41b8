from __future__ import annotations

from django.conf import settings
from django.db import models

from aifactory.portal.allocations.models import Allocation
from aifactory.portal.jobs.models import Job
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.runs.choices import RUN_STATE_CHOICES, RunState


class Run(models.Model):
    """A managed training run: a job spec run as a sequence of segments (jobs placed by the broker) until the run
    has reached its steps. Each segment resumes from the last checkpoint in `checkpoint_dir`, which every site the
    run may go to must be able to read (docs/training.md)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="runs")
    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, null=True, blank=True, related_name="runs",
                                   help_text="kept on this allocation; otherwise any of the organisation's")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=64)
    spec = models.JSONField(help_text="each segment's job spec, in canonical form")
    target_steps = models.PositiveBigIntegerField()
    target_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    checkpoint_every = models.PositiveIntegerField(help_text="steps between checkpoints")
    checkpoint_dir = models.CharField(max_length=1024, help_text="where the segments read and write checkpoints")
    state = models.CharField(max_length=12, choices=RUN_STATE_CHOICES, default=RunState.RUNNING)
    steps_done = models.PositiveBigIntegerField(default=0, help_text="the step of the last checkpoint reported")
    tokens_done = models.PositiveBigIntegerField(default=0)
    failures_in_a_row = models.PositiveIntegerField(default=0, help_text="segments ended without progress, in a row")
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(target_steps__gte=1), name="run_target_steps_min"),
            models.CheckConstraint(condition=models.Q(checkpoint_every__gte=1), name="run_checkpoint_every_min"),
        ]

    def __str__(self) -> str:
        return f"run {self.name} ({self.pk})"

    @property
    def terminal(self) -> bool:
        return RunState(self.state).terminal


class RunSegment(models.Model):
    """One job of a run, with why it was started and the step the run had reached then."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="segments")
    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="run_segment")
    index = models.PositiveIntegerField()
    cause = models.CharField(max_length=200)
    start_step = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="run_segment_index_once")]

    def __str__(self) -> str:
        return f"{self.run} segment {self.index}"


class RunCheckpoint(models.Model):
    """A checkpoint a segment wrote, as its site's agent reported it (from the marker the training script writes)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="checkpoints")
    segment = models.ForeignKey(RunSegment, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveBigIntegerField()
    tokens = models.PositiveBigIntegerField(default=0)
    path = models.CharField(max_length=1024)
    written_at = models.DateTimeField()
    reported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="run_checkpoint_step_once")]

    def __str__(self) -> str:
        return f"{self.run} step {self.step}"


class RunStateChange(models.Model):
    """Every move of a run's state, with why."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="changes")
    from_state = models.CharField(max_length=12, blank=True)
    to_state = models.CharField(max_length=12)
    reason = models.CharField(max_length=300)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.run}: {self.from_state or '-'} -> {self.to_state}"
