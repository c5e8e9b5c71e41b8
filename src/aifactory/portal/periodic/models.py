from __future__ import annotations

from django.db import models


class PeriodicSlot(models.Model):
    """One period of one periodic task, enqueued on the task runner. The row is written in the same transaction as
    the task it enqueues, and (name, slot) is unique: however many schedulers run, a period's task is enqueued at most
    once."""

    name = models.CharField(max_length=100, help_text="the periodic task's name")
    slot = models.BigIntegerField(help_text="the period's number: its start (seconds since 1970) over its length")
    starts_at = models.DateTimeField(help_text="when the period starts")
    task_id = models.CharField(max_length=64, blank=True, help_text="the task runner's id of the enqueued task")
    enqueued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "slot"], name="periodic_slot_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.slot}"


class WorkerBeat(models.Model):
    """A worker of the task runner, alive as of `seen_at`: a thread in each `tasks_worker` writes it every eighth of
    AIFACTORY_TASK_ABANDONED_AFTER_S (15 s by default). A task left running by a worker silent for longer than
    AIFACTORY_TASK_ABANDONED_AFTER_S is given back to the queue (`periodic.recover`)."""

    worker_id = models.CharField(max_length=64, unique=True, help_text="the worker's id (`--worker-id`)")
    seen_at = models.DateTimeField(help_text="when the worker last said it was alive")

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return self.worker_id
