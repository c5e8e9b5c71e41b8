"""Choices of the funding context: the stages (technology readiness levels) a startup declares."""

from __future__ import annotations

from aifactory.core.funding import STAGES

STAGE_CHOICES = [(k, v) for k, v in STAGES.items()]
