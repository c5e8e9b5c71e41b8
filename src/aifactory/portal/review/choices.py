from __future__ import annotations

from enum import StrEnum

from django.db import models

from aifactory.core.states import Transitions


class CallMode(models.TextChoices):
    """The access modes that run as calls (core/data/modes.json: call = true)."""

    LARGE_SCALE = "large_scale", "Large Scale (cut-off)"
    GRAND_CHALLENGE = "grand_challenge", "Large AI Grand Challenge"


class Objective(models.TextChoices):
    """What the selection maximises (core/selection.py)."""

    SCORE = "score", "Total weighted score"
    SCORE_GPU_HOURS = "score_gpu_hours", "Score-weighted GPU-hours (quality times compute delivered)"


class CallState(StrEnum):
    OPEN = "open"  # proposals come in until the deadline
    REVIEW = "review"  # closed: reviewers assigned, scores come in
    SELECTED = "selected"  # winners selected and routed, waiting for acceptance
    CLOSED = "closed"  # winners accepted: allocations and provisioning orders created


CALL_STATE_CHOICES = [(s.value, s.value.capitalize()) for s in CallState]

CALL_TRANSITIONS: Transitions[CallState] = Transitions("call", {
    CallState.OPEN: {CallState.REVIEW},
    CallState.REVIEW: {CallState.SELECTED},
    CallState.SELECTED: {CallState.CLOSED},
    CallState.CLOSED: set(),
})


def check_call_transition(current: str, target: CallState) -> None:
    CALL_TRANSITIONS.check(current, target)

# The states of a call in which a reviewer may declare a conflict with one of its proposals.
DECLARABLE_CALL_STATES = (CallState.OPEN, CallState.REVIEW)
