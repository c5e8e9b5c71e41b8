import itertools

import pytest

from aifactory.core.exceptions import InvalidTransition
from aifactory.core.jobs import TRANSITIONS, JobState, check_transition


@pytest.mark.parametrize(("current", "target"), list(itertools.product(JobState, JobState)))
def test_every_pair_follows_the_table(current, target):
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, target)


def test_terminal_states_have_no_way_out():
    for state in JobState:
        assert (not TRANSITIONS[state]) == state.terminal
