"""A state machine's table of allowed moves, one shape for every machine (jobs here; applications, calls and
provisioning orders in the portal).

Each machine is a StrEnum of states and one `Transitions` table naming, for every state, the states it may move to.
The one service per move calls `check` before it changes the state (and records the move where the machine keeps
a history); a move outside the table raises InvalidTransition, which the portal answers 409.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from aifactory.core.exceptions import InvalidTransition

S = TypeVar("S", bound=StrEnum)


class Transitions(Generic[S]):
    """The allowed moves of one machine: `entity` names it in refusals; every state is a key (a final state maps
    to no state)."""

    def __init__(self, entity: str, moves: Mapping[S, Iterable[S]]) -> None:
        self.entity = entity
        self._moves: dict[S, frozenset[S]] = {state: frozenset(targets) for state, targets in moves.items()}
        states = type(next(iter(self._moves)))
        missing = [s.value for s in states if s not in self._moves]
        if missing:
            raise ValueError(f"{entity}: the table of moves has no row for {missing}")
        self.states: tuple[S, ...] = tuple(states)

    def __getitem__(self, state: S) -> frozenset[S]:
        return self._moves[state]

    def allowed(self, current: S | str, target: S) -> bool:
        return target in self._moves[type(target)(current)]

    def check(self, current: S | str, target: S) -> None:
        """Raise InvalidTransition unless the move is in the table."""
        if not self.allowed(current, target):
            raise InvalidTransition(self.entity, str(current), target.value)

    def final(self, state: S) -> bool:
        return not self._moves[state]

    def edges(self) -> frozenset[tuple[str, str]]:
        """Every allowed move as (from, to) values: what the tests compare with the edges they write out."""
        return frozenset((a.value, b.value) for a, targets in self._moves.items() for b in targets)
