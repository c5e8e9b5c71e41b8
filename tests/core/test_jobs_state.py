import itertools

import pytest

from aifactory.core.exceptions import InvalidTransition
from aifactory.core.jobs import TRANSITIONS, JobState, check_transition
from tests.state_edges import JOB_EDGES, allowed


@pytest.mark.parametrize(("current", "target"), list(itertools.product(JobState, JobState)))
def test_every_pair_follows_the_expected_edges(current, target):
    if allowed(JOB_EDGES, current, target):
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, target)


def test_the_table_holds_exactly_the_expected_edges():
    assert TRANSITIONS.edges() == JOB_EDGES


def test_terminal_states_have_no_way_out():
    for state in JobState:
        assert (not any(a == state for a, _ in JOB_EDGES)) == state.terminal
