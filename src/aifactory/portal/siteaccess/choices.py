"""A person's account at a site: its states and the moves between them."""

from __future__ import annotations

from enum import StrEnum

from aifactory.core.exceptions import InvalidTransition


class SiteAccountState(StrEnum):
    REQUESTED = "requested"  # the site's agent is to create the POSIX user and the association
    ACTIVE = "active"  # created: the person may log in and run jobs under the project's account
    CLOSING = "closing"  # the person left the project: the agent is to close the association to new jobs
    CLOSED = "closed"  # closed at the site; usage stays in its accounting


SITE_ACCOUNT_STATE_CHOICES = [(s.value, s.value.capitalize()) for s in SiteAccountState]

SITE_ACCOUNT_TRANSITIONS: dict[SiteAccountState, frozenset[SiteAccountState]] = {
    SiteAccountState.REQUESTED: frozenset({SiteAccountState.ACTIVE, SiteAccountState.CLOSING}),
    SiteAccountState.ACTIVE: frozenset({SiteAccountState.CLOSING}),
    SiteAccountState.CLOSING: frozenset({SiteAccountState.CLOSED, SiteAccountState.REQUESTED}),
    SiteAccountState.CLOSED: frozenset({SiteAccountState.REQUESTED}),
}

OPEN_STATES = frozenset({SiteAccountState.REQUESTED, SiteAccountState.ACTIVE})
TODO_STATES = frozenset({SiteAccountState.REQUESTED, SiteAccountState.CLOSING})


def check_site_account_transition(current: str, target: SiteAccountState) -> None:
    if target not in SITE_ACCOUNT_TRANSITIONS[SiteAccountState(current)]:
        raise InvalidTransition("site account", current, target.value)
