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
