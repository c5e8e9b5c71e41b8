from __future__ import annotations

from django.db import models

from aifactory.portal.allocations.choices import ORDER_STATE_CHOICES, OrderState
from aifactory.portal.common.models import StateChangeBase
from aifactory.portal.federation.models import Machine, Site
from aifactory.portal.organisations.models import Organisation


class Allocation(models.Model):
    """GPU-hours granted to an organisation on one machine, charged by the jobs it runs.

    An application may be granted several allocations, one per machine it is funded on.

    `gpu_seconds_reserved` is what the allocation's unfinished jobs may still use (each job's GPUs x time limit),
    kept as a counter: a submission adds its job's share with one conditional UPDATE in the transaction that
    creates the job (allocations.services.allocation_reserve), and a job that ends, is cancelled or moves away
    gives it back in the transaction that changes its state. It is exact (whole GPU-seconds), so it always equals
    the sum over the allocation's unfinished jobs."""

    application = models.ForeignKey("access.Application", on_delete=models.PROTECT, related_name="allocations")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="allocations")
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="allocations")
    account = models.CharField(
        max_length=63, unique=True, help_text="the scheduler account at the site"
    )
    gpu_hours = models.FloatField()
    gpu_seconds_used = models.FloatField(default=0.0)
    gpu_seconds_reserved = models.PositiveBigIntegerField(
        default=0, help_text="GPUs x time limit of the unfinished jobs, kept with the jobs")
    starts_on = models.DateField()
    ends_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(gpu_hours__gt=0), name="allocation_hours_positive"),
            models.CheckConstraint(condition=models.Q(gpu_seconds_used__gte=0), name="allocation_used_nonneg"),
            models.CheckConstraint(condition=models.Q(gpu_seconds_reserved__gte=0), name="allocation_reserved_nonneg"),
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

    @property
    def provisioned(self) -> bool:
        """Whether the sites have created the allocation's account (no provisioning order is pending or failed)."""
        return not any(o.state != OrderState.DONE for o in self.orders.all())


class ProvisioningOrder(models.Model):
    """An order for a site's agent: create the allocation's account with its GPU-minutes limit."""

    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="orders")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="orders")
    state = models.CharField(max_length=10, choices=ORDER_STATE_CHOICES, default=OrderState.PENDING)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["allocation", "site"], name="order_once_per_site")]

    def __str__(self) -> str:
        return f"provision {self.allocation.account} at {self.site.name} ({self.state})"


class OrderStateChange(StateChangeBase):
    """A provisioning order's move (order_complete), with the agent's message as its reason."""

    order = models.ForeignKey(ProvisioningOrder, on_delete=models.CASCADE, related_name="history")

    class Meta(StateChangeBase.Meta):
        pass


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


NOTICE_THRESHOLDS = (80, 100)


class Notice(models.Model):
    """An allocation's usage crossed a threshold (80 % or 100 % of its GPU-hours): shown to its organisation's
    members, the allocation's owners. Recorded once per allocation and threshold."""

    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="notices")
    threshold = models.PositiveSmallIntegerField(help_text="percent of the granted GPU-hours")
    gpu_hours_used = models.FloatField(help_text="usage when the threshold was crossed")
    gpu_hours = models.FloatField(help_text="GPU-hours granted")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["allocation", "threshold"], name="notice_once_per_threshold"),
            models.CheckConstraint(condition=models.Q(threshold__in=NOTICE_THRESHOLDS), name="notice_threshold_known"),
        ]

    def __str__(self) -> str:
        return f"{self.allocation.account}: {self.threshold}%"

    @property
    def message(self) -> str:
        if self.threshold >= 100:
            return (f"{self.allocation.account} on {self.allocation.machine.key} has used all its "
                    f"{self.gpu_hours:g} GPU-hours ({self.gpu_hours_used:.2f} used); new jobs are refused")
        return (f"{self.allocation.account} on {self.allocation.machine.key} has used {self.threshold}% of its "
                f"{self.gpu_hours:g} GPU-hours ({self.gpu_hours_used:.2f} used)")
