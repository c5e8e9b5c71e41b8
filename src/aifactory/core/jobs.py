"""The job state machine, shared by the portal (which stores it) and the agent (which reports it).

    PENDING --> SUBMITTED --> RUNNING --> COMPLETED | FAILED | CANCELLED
       |            |            ^
       |            +------------+  (a job may finish before the agent saw it run)
       +--> CANCELLED, and SUBMITTED --> PENDING when a site is lost (placed again elsewhere)
"""

from __future__ import annotations

from enum import StrEnum

from aifactory.core.exceptions import InvalidTransition


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

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.SUBMITTED, JobState.CANCELLED}),
    JobState.SUBMITTED: frozenset(
        {JobState.PENDING, JobState.RUNNING, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.RUNNING: frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def check_transition(current: JobState, target: JobState) -> None:
    """Raise InvalidTransition unless the move is in the table."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition("job", current.value, target.value)
