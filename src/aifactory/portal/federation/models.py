from __future__ import annotations

from django.conf import settings
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
    silence_counted_from = models.DateTimeField(
        null=True, blank=True,
        help_text="when agents reached the portal again after none had for AGENT_STALE_AFTER_S (the portal was "
                  "away): a silent site is lost only once that long has passed since then as well")
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


class SiteTerms(models.Model):
    """One version of a site's terms of use. The highest version is the current one; publishing a new version asks
    everyone again."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="terms")
    version = models.PositiveIntegerField()
    text = models.TextField()
    url = models.URLField(blank=True, help_text="where the site publishes these terms, if anywhere")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["site", "version"], name="terms_version_once_per_site"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="terms_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.site} terms v{self.version}"


class TermsAcceptance(models.Model):
    """A person's acceptance of one version of a site's terms: who, which version, when."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="terms_accepted")
    terms = models.ForeignKey(SiteTerms, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["accepted_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["user", "terms"], name="terms_accepted_once")]

    def __str__(self) -> str:
        return f"{self.user} accepted {self.terms}"
