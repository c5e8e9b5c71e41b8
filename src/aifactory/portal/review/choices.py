from __future__ import annotations

from enum import StrEnum

from django.db import models

from aifactory.core.selection import Objective
from aifactory.core.states import Transitions


class CallMode(models.TextChoices):
    """The access modes that run as calls (core/data/modes.json: call = true)."""

    LARGE_SCALE = "large_scale", "Large Scale (cut-off)"
    GRAND_CHALLENGE = "grand_challenge", "Large AI Grand Challenge"


# What the selection maximises: the core's Objective (core/selection.py), with the labels the pages show.
OBJECTIVE_LABELS = {
    Objective.SCORE: "Total weighted score",
    Objective.SCORE_GPU_HOURS: "Score-weighted GPU-hours (quality times compute delivered)",
}
OBJECTIVE_CHOICES = [(o.value, OBJECTIVE_LABELS[o]) for o in Objective]


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
