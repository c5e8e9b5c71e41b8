"""Choices of the matchmaking context: the strategic sectors, and the states of a match."""

from __future__ import annotations

from enum import StrEnum

from django.db import models

from aifactory.core.exceptions import InvalidTransition
from aifactory.core.matchmaking import SECTORS

SECTOR_CHOICES = [(s, s.capitalize()) for s in SECTORS]


class ChallengeState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class MatchState(StrEnum):
    PROPOSED = "proposed"  # the portal proposed it (one side expressed interest, or none yet)
    COMPANY_INTERESTED = "company_interested"
    STARTUP_INTERESTED = "startup_interested"
    MUTUAL = "mutual"  # both agreed: contact details exchanged
    COLLABORATION = "collaboration"  # either side says it led to a collaboration
    DECLINED = "declined"


MATCH_STATE_CHOICES = [(s.value, s.value.replace("_", " ").capitalize()) for s in MatchState]

MATCH_TRANSITIONS: dict[MatchState, frozenset[MatchState]] = {
    MatchState.PROPOSED: frozenset({MatchState.COMPANY_INTERESTED, MatchState.STARTUP_INTERESTED,
                                    MatchState.DECLINED}),
    MatchState.COMPANY_INTERESTED: frozenset({MatchState.MUTUAL, MatchState.DECLINED}),
    MatchState.STARTUP_INTERESTED: frozenset({MatchState.MUTUAL, MatchState.DECLINED}),
    MatchState.MUTUAL: frozenset({MatchState.COLLABORATION, MatchState.DECLINED}),
    MatchState.COLLABORATION: frozenset(),
    MatchState.DECLINED: frozenset(),
}


def check_match_transition(current: str, target: MatchState) -> None:
    if target not in MATCH_TRANSITIONS[MatchState(current)]:
        raise InvalidTransition("match", current, target.value)
