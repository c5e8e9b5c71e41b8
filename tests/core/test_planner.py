import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.catalog import load_catalog, parse_catalog
from aifactory.core.exceptions import InvalidInput
from aifactory.core.planner import Sharding, estimate_for, plan_training

# 7e9 parameters x 2e12 tokens x 6 = 8.4e22 FLOP.
# A100 at 312 TFLOP/s and MFU 0.4: 312e12 x 0.4 = 1.248e14 FLOP/s; 8.4e22 / 1.248e14 = 6.7307692e8 s
#   / 3600 = 186,965.81 GPU-hours.
# H100 and GH200 at 989 TFLOP/s: 989e12 x 0.4 = 3.956e14; 8.4e22 / 3.956e14 = 2.1233569e8 s = 58,982.14 GPU-hours.
# LUMI GCD at 191.5 TFLOP/s: 191.5e12 x 0.4 = 7.66e13; 8.4e22 / 7.66e13 = 1.0966057e9 s = 304,612.71 GPU-hours.
A100_HOURS = 186_965.81
HOPPER_HOURS = 58_982.14
GCD_HOURS = 304_612.71


def test_compute_is_six_n_d():
    assert plan_training(7e9, 2e12).flops == pytest.approx(8.4e22)


def test_gpu_hours_per_machine_by_hand():
    plan = plan_training(7e9, 2e12)
    assert estimate_for(plan, "leonardo").gpu_hours == pytest.approx(A100_HOURS, abs=0.01)
    assert estimate_for(plan, "vega").gpu_hours == pytest.approx(A100_HOURS, abs=0.01)
    assert estimate_for(plan, "marenostrum5").gpu_hours == pytest.approx(HOPPER_HOURS, abs=0.01)
    assert estimate_for(plan, "jupiter").gpu_hours == pytest.approx(HOPPER_HOURS, abs=0.01)
    assert estimate_for(plan, "lumi").gpu_hours == pytest.approx(GCD_HOURS, abs=0.01)


def test_wall_time_on_512_gpus():
    e = estimate_for(plan_training(7e9, 2e12, gpus=512), "leonardo")
    # 186,965.81 / 512 = 365.168 h = 15.215 days
    assert e.wall_hours == pytest.approx(365.168, abs=1e-3)
    assert e.wall_days == pytest.approx(15.2153, abs=1e-4)


def test_mfu_scales_gpu_hours():
    # MFU 0.5 instead of 0.4: 186,965.81 x 0.4 / 0.5 = 149,572.65
    e = estimate_for(plan_training(7e9, 2e12, mfu=0.5), "leonardo")
    assert e.gpu_hours == pytest.approx(149_572.65, abs=0.01)


def test_given_flops_replace_six_n_d():
    plan = plan_training(7e9, 2e12, flops=1e23)
    assert plan.flops == 1e23 and plan.flops_given
    # 1e23 / 1.248e14 / 3600 = 222,578.35
    assert estimate_for(plan, "leonardo").gpu_hours == pytest.approx(222_578.35, abs=0.01)


def test_memory_of_model_states():
    plan = plan_training(7e9, 2e12, gpus=8)
    assert plan.bytes_per_param == 16
    assert plan.memory_unsharded_gb == pytest.approx(112.0)  # 7e9 x 16 B
    assert plan.memory_sharded_gb == pytest.approx(14.0)  # 112 / 8
    # 112 GB fits no GPU whole; 14 GB fits every one sharded
    for e in plan.estimates:
        assert (e.sharding, e.fits) == (Sharding.FULL, True)


def test_small_model_fits_unsharded():
    plan = plan_training(1e9, 2e10)  # 16 GB: under the 40 GB of the smallest GPU
    assert {e.sharding for e in plan.estimates} == {Sharding.NONE}


def test_fit_depends_on_gpu_memory():
    plan = plan_training(70e9, 1e12, gpus=16)  # 1,120 GB unsharded, 70 GB per GPU over 16
    fits = {e.machine: e.fits for e in plan.estimates}
    assert fits == {
        "lumi": False,  # 64
        "leonardo": False,  # 64
        "marenostrum5": False,  # 64
        "jupiter": True,  # 96
        "meluxina": False,  # 40
        "karolina": False,  # 40
        "vega": False,  # 40
        "deucalion": True,  # 80
    }
    leo = estimate_for(plan, "leonardo")
    assert leo.sharding is None and not leo.usable
    assert "70.0 GB per GPU" in leo.reasons[0] and "64 GB" in leo.reasons[0]
    assert estimate_for(plan, "jupiter").sharding is Sharding.FULL


def test_more_gpus_than_the_machine_has():
    plan = plan_training(7e9, 2e12, gpus=512)
    vega = estimate_for(plan, "vega")
    assert not vega.usable
    assert vega.reasons == ("512 GPUs requested but Vega has 240 GPUs in all.",)
    assert estimate_for(plan, "deucalion").usable is False  # 132 GPUs
    assert estimate_for(plan, "karolina").usable is True  # 576 GPUs
    mn5 = estimate_for(plan, "marenostrum5")  # total unknown: usable, with a caveat
    assert mn5.usable and "not known" in mn5.reasons[0]
    assert {e.machine for e in plan.usable()} == {"lumi", "leonardo", "marenostrum5", "jupiter", "meluxina", "karolina"}


def test_approximate_total_is_said_so():
    e = estimate_for(plan_training(1e9, 1e10, gpus=30_000), "jupiter")
    assert not e.usable
    assert e.reasons == ("30,000 GPUs requested but JUPITER has about 24,000 GPUs in all.",)


@pytest.mark.parametrize(("flops", "systemic"), [(1e25, False), (1.0000001e25, True), (9.9e24, False), (3e25, True)])
def test_systemic_risk_above_1e25(flops, systemic):
    assert plan_training(1e9, 1e9, flops=flops).systemic_risk is systemic


def test_systemic_risk_from_six_n_d():
    assert plan_training(1e12, 2e13).systemic_risk  # 1.2e26
    assert not plan_training(7e9, 2e12).systemic_risk  # 8.4e22


def test_gpu_filter():
    assert [e.machine for e in plan_training(7e9, 2e12, gpu="h100").estimates] == ["marenostrum5"]
    assert {e.machine for e in plan_training(7e9, 2e12, gpu="A100").estimates} == {
        "leonardo",
        "meluxina",
        "karolina",
        "vega",
        "deucalion",
    }
    assert plan_training(7e9, 2e12, gpu="MI430X").estimates == ()  # no machine with known MI430X GPUs


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"params": 0}, "params"),
        ({"params": -7e9}, "params"),
        ({"params": math.nan}, "params"),
        ({"params": math.inf}, "params"),
        ({"params": "7e9"}, "params"),
        ({"tokens": 0}, "tokens"),
        ({"tokens": math.inf}, "tokens"),
        ({"gpus": 0}, "gpus"),
        ({"gpus": 100_001}, "gpus"),
        ({"gpus": 8.0}, "gpus"),
        ({"gpus": True}, "gpus"),
        ({"mfu": 0}, "mfu"),
        ({"mfu": 1.01}, "mfu"),
        ({"mfu": math.nan}, "mfu"),
        ({"gpu": "B200"}, "gpu"),
        ({"flops": 0}, "flops"),
        ({"flops": -1e20}, "flops"),
    ],
)
def test_invalid_input_names_the_field(kwargs, field):
    args = {"params": 7e9, "tokens": 2e12, **kwargs}
    with pytest.raises(InvalidInput) as err:
        plan_training(args.pop("params"), args.pop("tokens"), **args)
    assert err.value.field == field


def test_limits_are_accepted():
    plan_training(7e9, 2e12, gpus=1, mfu=1)
    plan_training(7e9, 2e12, gpus=100_000, mfu=1e-6)


def test_estimate_for_unknown_machine():
    plan = plan_training(7e9, 2e12, gpu="H100")
    with pytest.raises(InvalidInput) as err:
        estimate_for(plan, "leonardo")
    assert err.value.field == "machine"


def test_unknown_peak_or_memory_on_a_given_catalog():
    catalog = parse_catalog(
        {
            "machines": [
                {
                    "key": "new",
                    "name": "New",
                    "site": "Somewhere",
                    "country": "FR",
                    "gpu_model": "MI430X",
                    "gpus_per_node": 4,
                    "nodes": 10,
                    "total_gpus": 40,
                    "sources": {
                        f: "test"
                        for f in ("name", "site", "country", "gpu_model", "gpus_per_node", "nodes", "total_gpus")
                    },
                }
            ],
            "factories": [],
        }
    )
    e = estimate_for(plan_training(7e9, 2e12, catalog=catalog), "new")
    assert (e.gpu_hours, e.wall_hours, e.wall_days, e.fits, e.sharding) == (None, None, None, None, None)
    assert e.usable
    assert len(e.reasons) == 2


def test_to_dict_is_json():
    data = json.loads(json.dumps(plan_training(7e9, 2e12, gpus=512).to_dict()))
    assert data["flops"] == pytest.approx(8.4e22)
    assert data["systemic_risk"] is False
    leo = next(e for e in data["estimates"] if e["machine"] == "leonardo")
    assert leo["gpu_hours"] == pytest.approx(A100_HOURS, abs=0.01)
    assert leo["sharding"] == "full"


finite = st.floats(min_value=1e6, max_value=1e13, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(params=finite, tokens=finite, gpus=st.integers(1, 100_000), mfu=st.floats(0.01, 1.0))
def test_invariants(params, tokens, gpus, mfu):
    plan = plan_training(params, tokens, gpus=gpus, mfu=mfu)
    one = plan_training(params, tokens, gpus=1, mfu=mfu)
    assert plan.flops == pytest.approx(6 * params * tokens)
    assert plan.memory_sharded_gb * gpus == pytest.approx(plan.memory_unsharded_gb)
    assert plan.systemic_risk == (plan.flops > 1e25)
    for e, e1 in zip(plan.estimates, one.estimates, strict=True):
        # GPU-hours do not depend on the GPU count; wall time is GPU-hours shared over the GPUs
        assert e.gpu_hours == pytest.approx(e1.gpu_hours)
        assert e.wall_hours * gpus == pytest.approx(e.gpu_hours)
        assert e.gpu_hours * e.peak_bf16_tflops * 1e12 * mfu * 3600 == pytest.approx(plan.flops)
        # what fits unsharded on one GPU fits on more; sharding never makes a fit worse
        if e1.sharding is Sharding.NONE:
            assert e.sharding is Sharding.NONE
        if e1.fits:
            assert e.fits
        if e.total_gpus is not None and gpus > e.total_gpus:
            assert not e.usable


def test_default_catalog_is_the_shipped_one():
    assert len(plan_training(7e9, 2e12).estimates) == len(load_catalog().gpu_machines())
