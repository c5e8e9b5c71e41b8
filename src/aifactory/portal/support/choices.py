"""Choices of the support context: the topics a request is about and the states of a request."""

from __future__ import annotations

from enum import StrEnum

from django.db import models

from aifactory.core.exceptions import InvalidTransition
from aifactory.core.support import KINDS


class Topic(models.TextChoices):
    PORTING = "porting", KINDS["porting"]
    ALGORITHMIC = "algorithmic", KINDS["algorithmic"]
    DATA = "data", KINDS["data"]
    ACCESS = "access", KINDS["access"]
    AI_ACT = "ai_act", KINDS["ai_act"]
    DOMAIN = "domain", KINDS["domain"]


class RequestState(StrEnum):
    NEW = "new"  # opened, not yet routed
    ASSIGNED = "assigned"  # with a centre, the centre's turn
    WAITING_USER = "waiting_user"  # the centre asked the person something
    ANSWERED = "answered"  # the centre answered
    CLOSED = "closed"


REQUEST_STATE_CHOICES = [
    ("new", "New"),
    ("assigned", "Assigned"),
    ("waiting_user", "Waiting for the user"),
    ("answered", "Answered"),
    ("closed", "Closed"),
]

REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.NEW: frozenset({RequestState.ASSIGNED, RequestState.CLOSED}),
    RequestState.ASSIGNED: frozenset({RequestState.WAITING_USER, RequestState.ANSWERED, RequestState.CLOSED}),
    RequestState.WAITING_USER: frozenset({RequestState.ASSIGNED, RequestState.CLOSED}),
    RequestState.ANSWERED: frozenset({RequestState.ASSIGNED, RequestState.CLOSED}),
    RequestState.CLOSED: frozenset(),
}

OPEN_STATES = frozenset({RequestState.NEW, RequestState.ASSIGNED, RequestState.WAITING_USER})


def check_request_transition(current: str, target: RequestState) -> None:
    if target not in REQUEST_TRANSITIONS[RequestState(current)]:
        raise InvalidTransition("support request", current, target.value)
