"""Choices of the monitoring context: the KPIs the portal computes from its own records."""

from __future__ import annotations

from django.db import models


class Kpi(models.TextChoices):
    STARTUPS_SERVED = "startups_served", "Startups and SMEs served"
    MEDIAN_DAYS_TO_FIRST_JOB = "median_days_to_first_job", "Median days from application to first job"
    GPU_HOURS_DELIVERED = "gpu_hours_delivered", "GPU-hours delivered"
    OPEN_SCIENCE_MET_SHARE = "open_science_met_share", "Share of winners who met their open-science obligation"
    SUPPORT_WITHIN_SLA = "support_within_sla", "Support requests answered within their service level"
    MATCHES_TO_COLLABORATION = "matches_to_collaboration", "Matches that led to a collaboration"


class Direction(models.TextChoices):
    UP = "up", "Higher is better"
    DOWN = "down", "Lower is better"
