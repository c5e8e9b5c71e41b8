"""Access modes as data: the shipped file, size and duration limits, promised decision days."""

from __future__ import annotations

import copy
import json
from datetime import date
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput
from aifactory.core.modes import add_working_days, load_modes, parse_modes, working_days_between


def raw():
    return json.loads(resources.files("aifactory.core").joinpath("data/modes.json").read_text(encoding="utf-8"))


def test_the_four_modes_ship_with_their_figures():
    modes = load_modes()
    assert modes.keys == ("playground", "fast_lane", "large_scale", "grand_challenge")
    fast, large, gc = modes.get("fast_lane"), modes.get("large_scale"), modes.get("grand_challenge")
    assert (fast.gpu_hours_at_most, fast.months, fast.decision_working_days) == (50_000, (1, 2, 3), 4)
    assert (large.gpu_hours_above, large.months, large.decision_working_days) == (50_000, (3, 6, 12), 10)
    assert large.call and large.peer_review and not large.competition
    assert gc.competition and gc.call and gc.decision_from == "deadline"
    assert modes.get("playground").policy == ("gpu_hours_at_most",)


def test_every_value_has_a_source():
    for mode in load_modes().modes:
        for name in ("gpu_hours_above", "gpu_hours_at_most", "decision_working_days"):
            if getattr(mode, name) is not None:
                assert mode.sources[name].strip()


def test_unknown_mode_names_the_field():
    with pytest.raises(InvalidInput) as exc:
        load_modes().get("express")
    assert exc.value.field == "mode"


@pytest.mark.parametrize(
    ("mode", "hours", "months", "field"),
    [
        ("playground", 5_001, 3, "requested_gpu_hours"),
        ("playground", 0, 3, "requested_gpu_hours"),
        ("playground", 100, 4, "months"),
        ("fast_lane", 50_000.5, 2, "requested_gpu_hours"),
        ("fast_lane", -1, 2, "requested_gpu_hours"),
        ("large_scale", 50_000, 6, "requested_gpu_hours"),  # must be over 50,000
        ("large_scale", 60_000, 4, "months"),
        ("grand_challenge", 2e6, 6, "months"),
        ("fast_lane", float("nan"), 2, "requested_gpu_hours"),
    ],
)
def test_requests_outside_a_mode_are_refused_naming_the_field(mode, hours, months, field):
    with pytest.raises(InvalidInput) as exc:
        load_modes().get(mode).check_request(gpu_hours=hours, months=months)
    assert exc.value.field == field
    assert load_modes().get(mode).name in exc.value.message


@pytest.mark.parametrize(
    ("mode", "hours", "months"),
    [("playground", 5_000, 1), ("fast_lane", 50_000, 3), ("large_scale", 50_001, 12), ("grand_challenge", 2e6, 12)],
)
def test_requests_at_the_limits_pass(mode, hours, months):
    load_modes().get(mode).check_request(gpu_hours=hours, months=months)


def test_promised_decision_days():
    modes = load_modes()
    friday = date(2026, 11, 13)
    assert modes.get("playground").promised_by(submitted=friday) == date(2026, 11, 17)
    assert modes.get("fast_lane").promised_by(submitted=friday) == date(2026, 11, 19)
    assert modes.get("large_scale").promised_by(submitted=friday, cutoff=date(2026, 11, 16)) == date(2026, 11, 30)
    assert modes.get("large_scale").promised_by(submitted=friday) is None  # no cut-off yet
    assert modes.get("grand_challenge").promised_by(submitted=friday, decision_by=date(2027, 2, 1)) == date(2027, 2, 1)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 60))
def test_working_days_round_trip(start, days):
    end = add_working_days(start, days)
    assert end.weekday() < 5 or days == 0
    assert working_days_between(start, end) == days
    assert working_days_between(end, start) == -days


def test_malformed_files_name_the_record_and_field():
    bad = copy.deepcopy(raw())
    bad["modes"][1]["months"] = []
    with pytest.raises(InvalidInput) as exc:
        parse_modes(bad)
    assert exc.value.field == "modes.fast_lane.months"
    bad = copy.deepcopy(raw())
    del bad["modes"][1]["sources"]["gpu_hours_at_most"]
    with pytest.raises(InvalidInput) as exc:
        parse_modes(bad)
    assert exc.value.field == "modes.fast_lane.gpu_hours_at_most"
    bad = copy.deepcopy(raw())
    bad["modes"][2]["gpu_hours_at_most"] = 10
    with pytest.raises(InvalidInput, match="above gpu_hours_above"):
        parse_modes(bad)
    bad = copy.deepcopy(raw())
    bad["modes"].append(bad["modes"][0])
    with pytest.raises(InvalidInput, match="unique"):
        parse_modes(bad)


def test_to_dict_says_limits_and_decision_in_words():
    d = load_modes().get("large_scale").to_dict()
    assert d["limits"] == "more than 50,000 GPU-hours"
    assert d["decision"] == "within 10 working days of the call's cut-off"
