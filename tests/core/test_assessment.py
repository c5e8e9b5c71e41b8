"""Technical assessment: the request against the plan, the GPU, the fit and the mode's limits."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.core.assessment import TOLERANCE, assess, assess_split
from aifactory.core.catalog import parse_catalog
from aifactory.core.exceptions import InvalidInput
from aifactory.core.modes import load_modes
from aifactory.core.planner import Sharding, estimate_for, plan_training

FAST = load_modes().get("fast_lane")
LARGE = load_modes().get("large_scale")


def planned(params, tokens, gpus, machine="leonardo"):
    plan = plan_training(params, tokens, gpus=gpus)
    return plan, estimate_for(plan, machine).gpu_hours


def codes(a):
    return [f.code for f in a.flags]


def test_a_request_matching_its_plan_is_clean_and_names_no_sharding():
    plan, hours = planned(1e8, 2e9, 2)
    a = assess(plan, machine="leonardo", requested_gpu_hours=hours, months=1, mode=FAST)
    assert a.clean and a.passed
    assert a.sharding is Sharding.NONE
    assert a.ratio == pytest.approx(1.0)
    assert codes(a) == ["note"] and "without sharding" in a.flags[0].message
    a.check()


def test_a_large_model_fits_only_sharded_and_the_note_says_so():
    plan, hours = planned(7e9, 1e11, 8)
    a = assess(plan, machine="leonardo", requested_gpu_hours=hours, months=3, mode=FAST)
    assert a.sharding is Sharding.FULL and a.passed
    assert "ZeRO stage 3 / FSDP" in a.reasons()[0]
    assert a.memory_per_gpu_gb == pytest.approx(14.0)


def test_over_and_under_requests_are_flagged_not_refused():
    plan, hours = planned(1e9, 2e10, 8)
    over = assess(plan, machine="leonardo", requested_gpu_hours=hours * (1 + TOLERANCE) * 1.01, months=1, mode=FAST)
    under = assess(plan, machine="leonardo", requested_gpu_hours=hours / (1 + TOLERANCE) * 0.99, months=1, mode=FAST)
    inside = assess(plan, machine="leonardo", requested_gpu_hours=hours * (1 + TOLERANCE) * 0.99, months=1, mode=FAST)
    assert "over_request" in codes(over) and over.passed and not over.clean
    assert "under_request" in codes(under) and under.passed and not under.clean
    assert inside.clean
    assert over.concerns[0].field == "requested_gpu_hours"


def test_a_model_that_does_not_fit_is_refused_on_the_gpus_field_with_a_way_out():
    plan, _ = planned(70e9, 1e9, 8)
    a = assess(plan, machine="leonardo", requested_gpu_hours=1_000, months=1, mode=FAST)
    assert not a.passed and a.sharding is None
    with pytest.raises(InvalidInput) as exc:
        a.check()
    assert exc.value.field == "gpus"
    assert "at least 18 GPUs" in exc.value.message


def test_the_machine_must_offer_the_gpu_asked_for():
    plan, hours = planned(1e8, 2e9, 2)
    a = assess(plan, machine="leonardo", requested_gpu_hours=hours, months=1, mode=FAST, gpu="H100")
    assert [f.field for f in a.refusals] == ["gpu"]
    assert assess(plan, machine="leonardo", requested_gpu_hours=hours, months=1, mode=FAST, gpu="a100").passed


def test_more_gpus_than_the_machine_has_is_refused():
    plan, _ = planned(1e8, 2e9, 1_000)
    a = assess(plan, machine="vega", requested_gpu_hours=10, months=1, mode=FAST)
    assert "gpu_count" in [f.code for f in a.refusals]


@pytest.mark.parametrize(("mode", "hours", "months", "field"), [
    (FAST, 60_000, 1, "requested_gpu_hours"), (LARGE, 10_000, 6, "requested_gpu_hours"), (FAST, 100, 6, "months"),
])
def test_mode_limits_are_blocking(mode, hours, months, field):
    plan, _ = planned(1e8, 2e9, 2)
    a = assess(plan, machine="leonardo", requested_gpu_hours=hours, months=months, mode=mode)
    assert a.refusals[0].field == field
    with pytest.raises(InvalidInput) as exc:
        a.check()
    assert exc.value.field == field


def test_a_run_longer_than_the_allocation_is_flagged_on_months():
    plan, hours = planned(7e9, 2e12, 8)  # about 9 months on 8 A100s
    a = assess(plan, machine="leonardo", requested_gpu_hours=hours, months=3, mode=FAST if hours <= 5e4 else LARGE)
    assert "duration" in codes(a)


def test_unknown_peak_is_a_note_not_a_flag():
    data = json.loads(resources.files("aifactory.core").joinpath("data/catalog.json").read_text(encoding="utf-8"))
    leonardo = next(m for m in data["machines"] if m["key"] == "leonardo")
    leonardo["peak_bf16_tflops"] = None
    del leonardo["sources"]["peak_bf16_tflops"]
    plan = plan_training(1e8, 2e9, gpus=2, catalog=parse_catalog(data))
    a = assess(plan, machine="leonardo", requested_gpu_hours=10, months=1, mode=FAST)
    assert a.planned_gpu_hours is None and a.ratio is None
    assert "not known" in " ".join(a.reasons())


def test_bad_tolerance_and_months():
    plan = plan_training(1e8, 2e9, gpus=2)
    for bad in (-0.1, float("nan"), True):
        with pytest.raises(InvalidInput):
            assess(plan, machine="leonardo", requested_gpu_hours=10, months=1, mode=FAST, tolerance=bad)
    with pytest.raises(InvalidInput):
        assess(plan, machine="leonardo", requested_gpu_hours=10, months=0, mode=FAST)


@given(st.floats(0.05, 20.0), st.floats(0.0, 1.0))
def test_the_tolerance_band_is_exactly_what_the_doc_says(factor, tolerance):
    plan, hours = planned(1e9, 2e10, 8)
    a = assess(plan, machine="leonardo", requested_gpu_hours=hours * factor, months=1, mode=FAST, tolerance=tolerance)
    ratio = a.ratio
    assert ("over_request" in codes(a)) == (ratio > 1 + tolerance)
    assert ("under_request" in codes(a)) == (ratio < 1 / (1 + tolerance))


def test_a_split_request_is_checked_on_every_machine_and_covers_the_run_as_a_whole():
    plan = plan_training(1e9, 1e13, gpus=256)
    leo, lumi = estimate_for(plan, "leonardo").gpu_hours, estimate_for(plan, "lumi").gpu_hours
    large = LARGE
    half = assess_split(plan, hours={"leonardo": leo / 2, "lumi": lumi / 2}, months=3, mode=large)
    assert half.coverage == pytest.approx(1.0)
    assert half.passed and half.clean, half.reasons()
    short = assess_split(plan, hours={"leonardo": leo / 4, "lumi": lumi / 4}, months=3, mode=large)
    assert [f.code for f in short.concerns] == ["under_request"]
    assert len([f for f in short.flags if f.code == "note"]) == 2  # the fit on each machine


def test_a_split_request_refuses_a_machine_without_the_gpu_and_the_mode_limit_on_the_total():
    plan = plan_training(1e8, 2e9, gpus=2)
    a = assess_split(plan, hours={"leonardo": 20_000, "lumi": 20_000}, months=3, mode=LARGE, gpu="A100")
    fields = [f.field for f in a.refusals]
    assert fields == ["requested_gpu_hours", "gpu"]
    assert "lumi" in a.refusals[1].message
    with pytest.raises(InvalidInput):
        assess_split(plan, hours={}, months=3, mode=LARGE)
    with pytest.raises(InvalidInput) as exc:
        assess_split(plan, hours={"leonardo": -1}, months=3, mode=LARGE)
    assert exc.value.field == "machine_hours"
