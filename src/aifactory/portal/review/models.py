from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from aifactory.portal.common.models import StateChangeBase
from aifactory.portal.federation.models import Machine
from aifactory.portal.review.choices import CALL_STATE_CHOICES, OBJECTIVE_CHOICES, CallMode, CallState, Objective


class CallQuerySet(models.QuerySet["Call"]):
    def taking_proposals(self, at: datetime | None = None) -> CallQuerySet:
        """Open calls whose deadline is still ahead, the nearest deadline first."""
        return self.filter(state=CallState.OPEN, deadline__gt=at or timezone.now()).order_by("deadline")


class Call(models.Model):
    """A call for proposals: a Large Scale cut-off or a competition such as the Large AI Grand Challenge."""

    title = models.CharField(max_length=200)
    mode = models.CharField(max_length=20, choices=CallMode.choices)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=CALL_STATE_CHOICES, default=CallState.OPEN)
    deadline = models.DateTimeField(help_text="cut-off or deadline: proposals are taken until then")
    decision_by = models.DateField(help_text="the day the call promises its decisions by")
    starts_on = models.DateField(null=True, blank=True, help_text="allocations start; the day of acceptance if empty")
    months = models.PositiveSmallIntegerField(default=12, help_text="duration of the allocations granted")
    winner_limit = models.PositiveIntegerField(null=True, blank=True, help_text="at most this many winners")
    threshold = models.FloatField(null=True, blank=True, help_text="a proposal scoring below this is never funded")
    objective = models.CharField(max_length=20, choices=OBJECTIVE_CHOICES, default=Objective.SCORE)
    reviewers_per_proposal = models.PositiveSmallIntegerField(default=2)
    same_country_conflict = models.BooleanField(
        default=False, help_text="a reviewer from the proposal's country is in conflict"
    )
    prize_eur = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    open_science = models.BooleanField(
        default=False,
        help_text="winners release their model under an open-source licence for non-commercial use, or publish",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CallQuerySet.as_manager()

    class Meta:
        ordering = ["-deadline", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(reviewers_per_proposal__gte=1), name="call_k_positive"),
            models.CheckConstraint(condition=models.Q(months__gte=1, months__lte=36), name="call_months_range"),
            models.CheckConstraint(
                condition=models.Q(prize_eur__isnull=True) | models.Q(prize_eur__gte=0), name="call_prize_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def takes_proposals(self, at: datetime | None = None) -> bool:
        return self.state == CallState.OPEN and (at or timezone.now()) < self.deadline


class CallStateChange(StateChangeBase):
    """Audit log of a call's states (who, when, from, to, why)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="history")

    def __str__(self) -> str:
        return f"{self.call}: {self.from_state or 'new'} -> {self.to_state}"


class Criterion(models.Model):
    """One criterion of a call's rubric, with its weight and its scale."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="criteria")
    name = models.CharField(max_length=60)
    weight = models.FloatField()
    low = models.FloatField(default=0.0)
    high = models.FloatField(default=5.0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["call", "name"], name="criterion_once_per_call"),
            models.CheckConstraint(condition=models.Q(weight__gt=0), name="criterion_weight_positive"),
            models.CheckConstraint(condition=models.Q(high__gt=models.F("low")), name="criterion_scale_order"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.weight:g})"


class Budget(models.Model):
    """GPU-hours a call may fund on one machine."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="budgets")
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="+")
    gpu_hours = models.FloatField()

    class Meta:
        ordering = ["machine__key"]
        constraints = [
            models.UniqueConstraint(fields=["call", "machine"], name="budget_once_per_machine"),
            models.CheckConstraint(condition=models.Q(gpu_hours__gt=0), name="budget_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.call}: {self.gpu_hours:g} GPU-hours on {self.machine.key}"


class Reviewer(models.Model):
    """A person in the reviewer pool, with expertise keywords and the most reviews they take per call."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer")
    name = models.CharField(max_length=200)
    affiliation = models.CharField(max_length=200, help_text="the organisation the reviewer works for")
    country = models.CharField(max_length=2)
    keywords = models.JSONField(default=list, blank=True)
    max_load = models.PositiveSmallIntegerField(default=5)
    active = models.BooleanField(default=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Assignment(models.Model):
    """A reviewer assigned to a proposal by the call's assignment program, with the keywords they share."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="assignments")
    application = models.ForeignKey("access.Application", on_delete=models.PROTECT, related_name="assignments")
    reviewer = models.ForeignKey(Reviewer, on_delete=models.PROTECT, related_name="assignments")
    match = models.FloatField(help_text="Jaccard similarity of their keywords")
    reason = models.TextField()
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["application_id", "reviewer_id"]
        constraints = [models.UniqueConstraint(fields=["application", "reviewer"], name="assignment_once_per_pair")]

    def __str__(self) -> str:
        return f"{self.reviewer} reviews {self.application_id}"


class Review(models.Model):
    """A reviewer's marks on the call's rubric for one proposal."""

    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="review")
    marks = models.JSONField(help_text="criterion name -> mark")
    score = models.FloatField(help_text="the weighted mean of the marks")
    comment = models.TextField(blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["submitted_at", "pk"]

    def __str__(self) -> str:
        return f"{self.assignment}: {self.score:.2f}"


class SelectionRun(models.Model):
    """The call's selection: the optimum and the rank-order greedy on the same proposals, with the ranking."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="selections")
    objective = models.CharField(max_length=20, choices=OBJECTIVE_CHOICES)
    ranking = models.JSONField(help_text="entries with their scores and tie-break explanations")
    optimum = models.JSONField(help_text="the integer program's funded set, value, use, gap, status and time")
    greedy = models.JSONField(help_text="the rank-order greedy's funded set, value and use")
    funded = models.JSONField(help_text="application ids funded (the optimum's)")
    run_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    run_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-run_at", "-pk"]

    def __str__(self) -> str:
        return f"selection of {self.call} at {self.run_at:%Y-%m-%d %H:%M}"


class ConflictDeclaration(models.Model):
    """A reviewer's own word that they are in conflict with a proposal (a collaboration, a competitor, a
    relative...): the assignment keeps the pair apart, and the reviewer may not mark it."""

    reviewer = models.ForeignKey(Reviewer, on_delete=models.CASCADE, related_name="declarations")
    application = models.ForeignKey("access.Application", on_delete=models.CASCADE, related_name="declarations")
    reason = models.TextField()
    declared_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["declared_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["reviewer", "application"], name="declaration_once_per_pair"),
            models.CheckConstraint(condition=~models.Q(reason=""), name="declaration_reason_given"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} declared a conflict with {self.application_id}"
