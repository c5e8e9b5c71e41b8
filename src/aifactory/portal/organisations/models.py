from __future__ import annotations

from django.conf import settings
from django.db import models

from aifactory.portal.organisations.choices import Pledge, SmeCategory


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code of the country of establishment")
    headcount = models.PositiveIntegerField()
    turnover_eur = models.DecimalField(max_digits=16, decimal_places=2)
    balance_sheet_eur = models.DecimalField(max_digits=16, decimal_places=2)
    sector = models.CharField(max_length=100)
    sme_category = models.CharField(max_length=10, choices=SmeCategory.choices)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="organisations", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(turnover_eur__gte=0), name="organisation_turnover_nonneg"),
            models.CheckConstraint(condition=models.Q(balance_sheet_eur__gte=0), name="organisation_balance_nonneg"),
        ]

    def __str__(self) -> str:
        return self.name


class PactPledge(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="pledges")
    pledge = models.CharField(max_length=20, choices=Pledge.choices)
    pledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    pledged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "pledge"], name="pledge_once_per_organisation")]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.pledge}"


class ApiToken(models.Model):
    """A personal token for the API, the CLI and the SDK. Stored as a digest; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=60, default="default")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.name}"
