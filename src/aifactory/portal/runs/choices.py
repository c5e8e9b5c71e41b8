"""A managed run's states and their table of moves.

    RUNNING --> COMPLETED | FAILED | CANCELLED
       |  ^
       v  |
     WAITING --> FAILED | CANCELLED

RUNNING: one segment (a job) is placed, queued or running. WAITING: the next segment could not be placed yet (no site
that can take it, or no hours left); each pass of runs_advance tries again.
"""

from __future__ import annotations

from enum import StrEnum

from aifactory.core.states import Transitions


class RunState(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return RUN_TRANSITIONS.final(self)


RUN_STATE_CHOICES = [(s.value, s.value.capitalize()) for s in RunState]

RUN_TRANSITIONS: Transitions[RunState] = Transitions("run", {
    RunState.RUNNING: {RunState.WAITING, RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED},
    RunState.WAITING: {RunState.RUNNING, RunState.FAILED, RunState.CANCELLED},
    RunState.COMPLETED: set(),
    RunState.FAILED: set(),
    RunState.CANCELLED: set(),
})
