from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from aifactory.portal.organisations.choices import (
    InvitationState,
    Pledge,
    Relation,
    Role,
    SmeCategory,
    TeamAction,
    TeamRole,
)


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code of the country of establishment")
    headcount = models.DecimalField(max_digits=10, decimal_places=2,
                                    help_text="staff in annual work units (part-time and seasonal staff as fractions)")
    turnover_eur = models.DecimalField(max_digits=16, decimal_places=2)
    balance_sheet_eur = models.DecimalField(max_digits=16, decimal_places=2)
    sector = models.CharField(max_length=100)
    sme_category = models.CharField(max_length=10, choices=SmeCategory.choices)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", through_fields=("organisation", "user"),
        related_name="organisations", blank=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(headcount__gte=0), name="organisation_headcount_nonneg"),
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


class RelatedEnterprise(models.Model):
    """A partner or linked enterprise whose figures count towards the organisation's SME category."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="related_enterprises")
    name = models.CharField(max_length=200)
    relation = models.CharField(max_length=10, choices=Relation.choices)
    headcount = models.DecimalField(max_digits=10, decimal_places=2, help_text="staff in annual work units")
    turnover_eur = models.DecimalField(max_digits=16, decimal_places=2)
    balance_sheet_eur = models.DecimalField(max_digits=16, decimal_places=2)
    share = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal(1),
                                help_text="for a partner: the share held, 0.25 to 0.5")

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(headcount__gte=0), name="related_headcount_nonneg"),
            models.CheckConstraint(
                condition=models.Q(turnover_eur__gte=0, balance_sheet_eur__gte=0), name="related_figures_nonneg"
            ),
            models.CheckConstraint(
                condition=models.Q(relation="linked", share=Decimal(1))
                | models.Q(relation="partner", share__gte=Decimal("0.25"), share__lte=Decimal("0.5")),
                name="related_share_by_relation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.relation} of {self.organisation})"


class UserRole(models.Model):
    """A role granted to a person: call manager, factory operator (of one AI Factory) or observer."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=20, choices=Role.choices)
    factory = models.CharField(max_length=40, blank=True, help_text="the AI Factory key, for a factory operator")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "role", "factory"]
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "factory"], name="role_once_per_user"),
            models.CheckConstraint(
                condition=(models.Q(role="factory_operator") & ~models.Q(factory=""))
                | (~models.Q(role="factory_operator") & models.Q(factory="")),
                name="role_factory_only_for_operators",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.role}{' of ' + self.factory if self.factory else ''}"


class Membership(models.Model):
    """A person in an organisation's team, with their role in it (principal investigator, member, contact)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=TeamRole.choices, default=TeamRole.MEMBER)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation_id", "role", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_once_per_person"),
            models.CheckConstraint(condition=models.Q(role__in=TeamRole.values), name="membership_role_known"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"


class Invitation(models.Model):
    """An invitation to join a team, sent by e-mail. The link carries a token kept here as a digest only; it
    expires, is used once, and is accepted by a signed-in person."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=TeamRole.choices, default=TeamRole.MEMBER)
    token_digest = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=10, choices=InvitationState.choices, default=InvitationState.PENDING)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=TeamRole.values), name="invitation_role_known"),
            models.CheckConstraint(
                condition=models.Q(state="accepted", accepted_by__isnull=False) | ~models.Q(state="accepted"),
                name="invitation_accepted_names_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organisation} ({self.state})"


class TeamEvent(models.Model):
    """The team's audit log: every invitation, acceptance, role change and removal, by whom and when."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="team_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    action = models.CharField(max_length=20, choices=TeamAction.choices)
    subject = models.CharField(max_length=254, help_text="the person's user name or the invited e-mail address")
    role = models.CharField(max_length=10, blank=True)
    detail = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.action} {self.subject}"


class FederatedIdentity(models.Model):
    """A person's identity at an OpenID Connect provider (MyAccessID in production): the stable subject finds the
    person again at each login; the claims are those of the last login."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities")
    issuer = models.URLField(max_length=300)
    subject = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=300, blank=True)
    assurance = models.JSONField(default=list, blank=True, help_text="eduperson_assurance values")
    entitlements = models.JSONField(default=list, blank=True, help_text="eduperson_entitlement values")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["issuer", "subject"]
        verbose_name_plural = "federated identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="identity_subject_once_per_issuer")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
