from django.db import models


class MailKind(models.TextChoices):
    """What a message is about (for the outbox page and for not sending the same notice twice)."""

    INVITATION = "invitation", "Team invitation"
    DECISION = "decision", "Decision on an application"
    ALLOCATION_80 = "allocation_80", "Allocation 80 % used"
    ALLOCATION_100 = "allocation_100", "Allocation used up"
    CERTIFICATE_EXPIRY = "cert_expiry", "Certificate expiry"
    SUPPORT = "support", "Support answer"
    OTHER = "other", "Other"


class MailState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up after the last attempt)"
