from __future__ import annotations

from django.conf import settings
from django.db import models

from aifactory.portal.funding.choices import STAGE_CHOICES
from aifactory.portal.organisations.models import Organisation


class FundingProfile(models.Model):
    """The stage an organisation declares (its technology readiness level), which funding instruments ask about."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="funding_profile")
    trl = models.PositiveSmallIntegerField(choices=STAGE_CHOICES)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(trl__in=[1, 5, 6, 7, 9]), name="funding_trl_known")]

    def __str__(self) -> str:
        return f"{self.organisation}: TRL {self.trl}"
