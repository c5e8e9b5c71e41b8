from __future__ import annotations

from enum import StrEnum

from django.db import models

from aifactory.core.states import Transitions


class AccessMode(models.TextChoices):
    """The keys of the access modes in core/data/modes.json (their figures live there)."""

    PLAYGROUND = "playground", "Playground"
    FAST_LANE = "fast_lane", "Fast Lane"
    LARGE_SCALE = "large_scale", "Large Scale"
    GRAND_CHALLENGE = "grand_challenge", "Large AI Grand Challenge"


class ApplicationState(StrEnum):
    SUBMITTED = "submitted"  # recorded, before the gate
    ETHICS_REVIEW = "ethics_review"  # an Annex III area: a person decides
    TECHNICAL_REVIEW = "technical_review"  # the technical assessment flagged something: a person decides
    IN_REVIEW = "in_review"  # in a call, waiting for peer review and selection
    SELECTED = "selected"  # funded by the call's selection, routed, waiting for acceptance
    NOT_SELECTED = "not_selected"  # not funded by the call's selection
    APPROVED = "approved"  # accepted: allocations created
    REFUSED = "refused"  # the gate, the ethics review or the technical review refused it

    @property
    def final(self) -> bool:
        return APPLICATION_TRANSITIONS.final(self)

    @property
    def decision(self) -> bool:
        """Whether reaching this state decides the application for the applicant."""
        return self in DECISIONS


APPLICATION_STATE_CHOICES = [(s.value, s.value.replace("_", " ").capitalize()) for s in ApplicationState]

_S = ApplicationState
APPLICATION_TRANSITIONS: Transitions[ApplicationState] = Transitions("application", {
    _S.SUBMITTED: {_S.ETHICS_REVIEW, _S.TECHNICAL_REVIEW, _S.IN_REVIEW, _S.APPROVED, _S.REFUSED},
    _S.ETHICS_REVIEW: {_S.TECHNICAL_REVIEW, _S.IN_REVIEW, _S.APPROVED, _S.REFUSED},
    _S.TECHNICAL_REVIEW: {_S.IN_REVIEW, _S.APPROVED, _S.REFUSED},
    # A proposal reaches review past the gate and the ethics and technical reviews (the refusals); peer review
    # ends in the call's selection, and a proposal it does not fund is not selected, never refused.
    _S.IN_REVIEW: {_S.SELECTED, _S.NOT_SELECTED},
    _S.SELECTED: {_S.APPROVED},
    _S.NOT_SELECTED: set(),
    _S.APPROVED: set(),
    _S.REFUSED: set(),
})
DECISIONS = frozenset({_S.APPROVED, _S.REFUSED, _S.NOT_SELECTED, _S.SELECTED})


def check_application_transition(current: str, target: ApplicationState) -> None:
    APPLICATION_TRANSITIONS.check(current, target)


# Our own policy figure for Playground (the public pages say only "limited"); the same as core/data/modes.json.
PLAYGROUND_MAX_GPU_HOURS = 5_000
PLAYGROUND_MONTHS = (1, 3)


class RouteMethod(models.TextChoices):
    OPTIMISER = "optimiser", "Assignment under capacities"
    REQUESTED = "requested", "As requested (several machines)"
    OVERRIDE = "override", "Staff override"
