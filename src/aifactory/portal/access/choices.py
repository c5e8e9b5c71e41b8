from __future__ import annotations

from enum import StrEnum

from django.db import models

from aifactory.core.exceptions import InvalidTransition


class AccessMode(models.TextChoices):
    PLAYGROUND = "playground", "Playground"


class ApplicationState(StrEnum):
    SUBMITTED = "submitted"
    ETHICS_REVIEW = "ethics_review"
    APPROVED = "approved"
    REFUSED = "refused"


APPLICATION_STATE_CHOICES = [(s.value, s.value.replace("_", " ").capitalize()) for s in ApplicationState]

APPLICATION_TRANSITIONS: dict[ApplicationState, frozenset[ApplicationState]] = {
    ApplicationState.SUBMITTED: frozenset(
        {ApplicationState.ETHICS_REVIEW, ApplicationState.APPROVED, ApplicationState.REFUSED}
    ),
    ApplicationState.ETHICS_REVIEW: frozenset({ApplicationState.APPROVED, ApplicationState.REFUSED}),
    ApplicationState.APPROVED: frozenset(),
    ApplicationState.REFUSED: frozenset(),
}


def check_application_transition(current: str, target: ApplicationState) -> None:
    if target not in APPLICATION_TRANSITIONS[ApplicationState(current)]:
        raise InvalidTransition("application", current, target.value)


# Our own policy figures for Playground: the public pages say only "limited" and "1-3 months".
PLAYGROUND_MAX_GPU_HOURS = 5_000
PLAYGROUND_MONTHS = (1, 3)
