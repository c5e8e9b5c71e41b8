from __future__ import annotations

from django.conf import settings
from django.db import models

from aifactory.portal.common.models import StateChangeBase
from aifactory.portal.matchmaking.choices import MATCH_STATE_CHOICES, SECTOR_CHOICES, ChallengeState, MatchState
from aifactory.portal.organisations.models import Organisation


class Challenge(models.Model):
    """A problem an established company posts for AI startups, in one of the strategic sectors."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="challenges")
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    description = models.TextField()
    sector = models.CharField(max_length=40, choices=SECTOR_CHOICES)
    model_types = models.JSONField(default=list)
    data_kinds = models.JSONField(default=list)
    min_team = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=10, choices=ChallengeState.choices, default=ChallengeState.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.CheckConstraint(condition=models.Q(min_team__gte=1), name="challenge_min_team")]

    def __str__(self) -> str:
        return self.title


class StartupProfile(models.Model):
    """A startup's capabilities, shown to companies under a pseudonym until both sides agree."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="startup_profile")
    sectors = models.JSONField(default=list)
    model_types = models.JSONField(default=list)
    data_kinds = models.JSONField(default=list)
    team_size = models.PositiveIntegerField()
    summary = models.TextField(blank=True, help_text="what the startup builds; shown without its name")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=models.Q(team_size__gte=1), name="profile_team_size")]

    def __str__(self) -> str:
        return self.pseudonym

    @property
    def pseudonym(self) -> str:
        return f"Startup S-{self.pk}"


class Match(models.Model):
    """A challenge and a startup: the interest of each side, and contact once both agree."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="matches")
    profile = models.ForeignKey(StartupProfile, on_delete=models.CASCADE, related_name="matches")
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    state = models.CharField(max_length=20, choices=MATCH_STATE_CHOICES, default=MatchState.PROPOSED)
    company_contact = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    startup_contact = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    mutual_at = models.DateTimeField(null=True, blank=True)
    collaboration_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "profile"], name="match_once_per_pair"),
            models.CheckConstraint(
                condition=~models.Q(state__in=["mutual", "collaboration"])
                | models.Q(company_contact__isnull=False, startup_contact__isnull=False),
                name="match_mutual_has_both_contacts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.challenge} x {self.profile}"


class MatchStateChange(StateChangeBase):
    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="history")

    def __str__(self) -> str:
        return f"{self.match}: {self.from_state} -> {self.to_state}"
