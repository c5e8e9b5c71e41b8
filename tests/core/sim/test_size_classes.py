"""The simulator's runtime classes are the broker's size classes, computed from logarithms kept per job."""

from __future__ import annotations

import math

import pytest

from aifactory.core.placement import SIZE_CLASSES, size_class
from aifactory.core.sim.machine import CLASSES, runtime_class


def test_one_set_of_classes():
    assert CLASSES == SIZE_CLASSES


@pytest.mark.parametrize("estimate_s", [1.0, 1.5, 59.0, 3600.0, 86400.0 * 7, 1e30])
def test_the_same_class_either_way(estimate_s):
    assert runtime_class(4.0 * math.log2(estimate_s), 0.0) == size_class(estimate_s)


def test_runs_under_a_second_are_class_zero():
    assert runtime_class(4.0 * math.log2(0.5), 0.0) == size_class(0.5) == 0
