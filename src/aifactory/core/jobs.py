"""The job state machine, shared by the portal (which stores it) and the agent (which reports it).

    PENDING --> SUBMITTED --> RUNNING --> COMPLETED | FAILED | CANCELLED
       |            |            ^
       |            +------------+  (a job may finish before the agent saw it run)
       +--> CANCELLED, and SUBMITTED --> PENDING when a site is lost (placed again elsewhere)
"""

from __future__ import annotations

from enum import StrEnum

from aifactory.core.states import Transitions


class JobState(StrEnum):
    PENDING = "pending"  # accepted by the portal, waiting for its site's agent
    SUBMITTED = "submitted"  # handed to the site's scheduler
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

TRANSITIONS: Transitions[JobState] = Transitions("job", {
    JobState.PENDING: {JobState.SUBMITTED, JobState.CANCELLED},
    JobState.SUBMITTED: {JobState.PENDING, JobState.RUNNING, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED},
    JobState.RUNNING: {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED},
    JobState.COMPLETED: set(),
    JobState.FAILED: set(),
    JobState.CANCELLED: set(),
})


def check_transition(current: JobState, target: JobState) -> None:
    """Raise InvalidTransition unless the move is in the table."""
    TRANSITIONS.check(current, target)
