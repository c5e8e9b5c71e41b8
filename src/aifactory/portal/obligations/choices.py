"""Choices of the obligations context: the states of a winner's open-science obligation."""

from __future__ import annotations

from enum import StrEnum

from django.db import models

from aifactory.core.exceptions import InvalidTransition


class ObligationState(StrEnum):
    PENDING = "pending"  # neither a release nor a publication accepted yet (overdue once its date has passed)
    MET = "met"  # a release under an accepted licence, or a publication, was accepted


OBLIGATION_STATE_CHOICES = [(s.value, s.value.capitalize()) for s in ObligationState]

OBLIGATION_TRANSITIONS: dict[ObligationState, frozenset[ObligationState]] = {
    ObligationState.PENDING: frozenset({ObligationState.MET}),
    ObligationState.MET: frozenset(),
}


def check_obligation_transition(current: str, target: ObligationState) -> None:
    if target not in OBLIGATION_TRANSITIONS[ObligationState(current)]:
        raise InvalidTransition("obligation", current, target.value)


class EvidenceKind(models.TextChoices):
    RELEASE = "release", "Model release"
    PUBLICATION = "publication", "Publication"


REMIND_DAYS_BEFORE = (30, 7, 1)
