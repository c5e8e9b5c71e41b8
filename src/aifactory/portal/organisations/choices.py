from enum import StrEnum

from django.db import models


class Pledge(models.TextChoices):
    GOVERNANCE = "governance", "An AI governance strategy"
    HIGH_RISK_MAP = "high_risk_map", "A map of the organisation's likely high-risk AI systems"
    AI_LITERACY = "ai_literacy", "AI literacy for staff"


class SmeCategory(models.TextChoices):
    MICRO = "micro", "Micro enterprise"
    SMALL = "small", "Small enterprise"
    MEDIUM = "medium", "Medium-sized enterprise"
    LARGE = "large", "Not an SME"


class Role(models.TextChoices):
    """Roles beyond an applicant's (a member of an organisation sees its own rows; a reviewer is one in the pool)."""

    CALL_MANAGER = "call_manager", "Call manager"
    FACTORY_OPERATOR = "factory_operator", "Factory operator"
    OBSERVER = "observer", "Observer"


class Relation(models.TextChoices):
    """How another enterprise relates to the applicant (Recommendation 2003/361/EC, Article 3)."""

    PARTNER = "partner", "Partner enterprise (25 % to 50 % held, either way)"
    LINKED = "linked", "Linked enterprise (control)"


class TeamRole(models.TextChoices):
    """A person's role in an organisation's team."""

    PI = "pi", "Principal investigator"
    MEMBER = "member", "Member"
    CONTACT = "contact", "Billing or administrative contact"


class InvitationState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"


class InvitationMove(StrEnum):
    ACCEPT = "accept"
    REVOKE = "revoke"


# The allowed moves of an invitation: (from, move) -> to. An expired one stays pending and can only be revoked.
INVITATION_MOVES: dict[tuple[str, str], str] = {
    (InvitationState.PENDING, InvitationMove.ACCEPT): InvitationState.ACCEPTED,
    (InvitationState.PENDING, InvitationMove.REVOKE): InvitationState.REVOKED,
}


class TeamAction(models.TextChoices):
    """What a team audit row records."""

    CREATED = "created", "Organisation registered (its PI added)"
    INVITED = "invited", "Invitation sent"
    ACCEPTED = "accepted", "Invitation accepted"
    REVOKED = "revoked", "Invitation revoked"
    ROLE_CHANGED = "role_changed", "Role changed"
    REMOVED = "removed", "Member removed"
