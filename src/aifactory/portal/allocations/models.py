from __future__ import annotations

from django.db import models

from aifactory.portal.access.models import Application
from aifactory.portal.allocations.choices import OrderState
from aifactory.portal.federation.models import Machine, Site
from aifactory.portal.organisations.models import Organisation


class Allocation(models.Model):
    """GPU-hours granted to an organisation on one machine, charged by the jobs it runs.

    An application may be granted several allocations, one per machine it is funded on."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="allocations")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="allocations")
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="allocations")
    account = models.CharField(
        max_length=63, unique=True, help_text="the scheduler account at the site"
    )
    gpu_hours = models.FloatField()
    gpu_seconds_used = models.FloatField(default=0.0)
    starts_on = models.DateField()
    ends_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(gpu_hours__gt=0), name="allocation_hours_positive"),
            models.CheckConstraint(condition=models.Q(gpu_seconds_used__gte=0), name="allocation_used_nonneg"),
            models.CheckConstraint(
                condition=models.Q(ends_on__gt=models.F("starts_on")), name="allocation_dates_order"
            ),
            models.UniqueConstraint(fields=["application", "machine"], name="allocation_once_per_machine"),
        ]

    def __str__(self) -> str:
        return f"{self.account} on {self.machine.key}"

    @property
    def gpu_hours_used(self) -> float:
        return self.gpu_seconds_used / 3600.0


class ProvisioningOrder(models.Model):
    """An order for a site's agent: create the allocation's account with its GPU-minutes limit."""

    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="orders")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="orders")
    state = models.CharField(max_length=10, choices=OrderState.choices, default=OrderState.PENDING)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["allocation", "site"], name="order_once_per_site")]

    def __str__(self) -> str:
        return f"provision {self.allocation.account} at {self.site.name} ({self.state})"


class UsageCharge(models.Model):
    """GPU usage of one finished job, charged once."""

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="charges")
    job = models.OneToOneField("jobs.Job", on_delete=models.PROTECT, related_name="charge")
    gpu_seconds = models.FloatField()
    charged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(gpu_seconds__gte=0), name="charge_nonneg")]

    def __str__(self) -> str:
        return f"{self.gpu_seconds:.0f} GPU-s to {self.allocation.account}"
