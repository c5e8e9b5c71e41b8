"""A person's account at a site: its states and the moves between them."""

from __future__ import annotations

from enum import StrEnum

from aifactory.core.states import Transitions


class SiteAccountState(StrEnum):
    REQUESTED = "requested"  # the site's agent is to create the POSIX user and the association
    ACTIVE = "active"  # created: the person may log in and run jobs under the project's account
    CLOSING = "closing"  # the person left the project: the agent is to close the association to new jobs
    CLOSED = "closed"  # closed at the site; usage stays in its accounting


SITE_ACCOUNT_STATE_CHOICES = [(s.value, s.value.capitalize()) for s in SiteAccountState]

SITE_ACCOUNT_TRANSITIONS: Transitions[SiteAccountState] = Transitions("site account", {
    SiteAccountState.REQUESTED: {SiteAccountState.ACTIVE, SiteAccountState.CLOSING},
    SiteAccountState.ACTIVE: {SiteAccountState.CLOSING},
    SiteAccountState.CLOSING: {SiteAccountState.CLOSED, SiteAccountState.REQUESTED},
    SiteAccountState.CLOSED: {SiteAccountState.REQUESTED},
})

OPEN_STATES = frozenset({SiteAccountState.REQUESTED, SiteAccountState.ACTIVE})
TODO_STATES = frozenset({SiteAccountState.REQUESTED, SiteAccountState.CLOSING})


def check_site_account_transition(current: str, target: SiteAccountState) -> None:
    SITE_ACCOUNT_TRANSITIONS.check(current, target)
