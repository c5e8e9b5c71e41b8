from __future__ import annotations

from django.db import models


class Machine(models.Model):
    """A GPU partition of the federation, mirrored from the catalog data file shipped in the package."""

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    country = models.CharField(max_length=2)
    factory = models.CharField(max_length=40, blank=True)
    gpu_model = models.CharField(max_length=20, blank=True)
    gpu_memory_gb = models.FloatField(null=True, blank=True)
    gpus_per_node = models.PositiveIntegerField(null=True, blank=True)
    total_gpus = models.PositiveIntegerField(null=True, blank=True)
    peak_bf16_tflops = models.FloatField(null=True, blank=True)
    data = models.JSONField(default=dict, help_text="the catalog entry as shipped, with its sources")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    """Where an agent runs: one scheduler in front of one machine. The agent authenticates with its token."""

    name = models.SlugField(max_length=40, unique=True)
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="sites")
    token_digest = models.CharField(max_length=64, unique=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    queue_wait_s = models.FloatField(default=0.0)
    backend = models.CharField(max_length=20, blank=True)
    personal_accounts = models.BooleanField(
        default=False, help_text="jobs run under each person's own account, which the agent creates at the site"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(queue_wait_s__gte=0), name="site_queue_wait_nonneg")]

    def __str__(self) -> str:
        return self.name
