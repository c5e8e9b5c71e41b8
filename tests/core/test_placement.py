"""The broker's placement rules and choice, with answers worked out by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput, NoPlacement
from aifactory.core.placement import (
    JobRequest,
    MachineView,
    allocated_gpus,
    earliest_completion,
    fits,
    gpu_hours_charged,
    nodes_needed,
    place,
    rejection,
    speed_from_peak,
)


def view(key: str, **kw: object) -> MachineView:
    base: dict[str, object] = dict(key=key, gpu_model="A100", gpu_memory_gb=64.0, gpus_per_node=4,
                                   total_gpus=64, speed=1.0, expected_wait_s=0.0)
    base.update(kw)
    return MachineView(**base)  # type: ignore[arg-type]


JOB = JobRequest(gpus=4, estimate_s=3600.0)


def test_speed_from_peak():
    assert speed_from_peak(312.0) == 1.0
    assert speed_from_peak(989.0) == pytest.approx(3.1699, abs=1e-4)
    assert speed_from_peak(None) is None
    assert speed_from_peak(0.0) is None


def test_shapes():
    assert nodes_needed(3, 4) == 1
    assert nodes_needed(4, 4) == 1
    assert nodes_needed(5, 4) == 2
    assert nodes_needed(12, 8) == 2
    assert allocated_gpus(3, 4) == 3
    assert allocated_gpus(6, 4) == 8
    assert fits(16, 4, 16)
    assert not fits(17, 4, 16)
    assert fits(8, 8, 8)
    assert not fits(6, 4, 4)  # two whole nodes, machine has one


def test_earliest_completion_is_wait_plus_runtime_over_speed():
    # A: 0 s + 3600 s = 3600; B (3x speed): 1000 + 1200 = 2200; C: 100 + 3600 / 2 = 1900 -> C
    waits = [0.0, 1000.0, 100.0]
    speeds = [1.0, 3.0, 2.0]
    assert earliest_completion(3600.0, waits, speeds, range(3)) == 2
    assert earliest_completion(3600.0, waits, speeds, [0, 1]) == 1
    assert earliest_completion(3600.0, waits, speeds, []) == -1


def test_earliest_completion_ties_go_to_the_first_listed():
    assert earliest_completion(100.0, [0.0, 50.0], [1.0, 2.0], [0, 1]) == 0
    assert earliest_completion(100.0, [0.0, 50.0], [1.0, 2.0], [1, 0]) == 1


def test_place_chooses_the_earliest_completion_and_explains_each_machine():
    # leonardo: 600 + 3600 = 4200; jupiter (speed 989/312): 3000 + 1135.7 = 4135.7 -> jupiter
    machines = [view("leonardo", expected_wait_s=600.0),
                view("jupiter", gpu_model="GH200", speed=989 / 312, expected_wait_s=3000.0)]
    p = place(JOB, machines, now=1000.0)
    assert p.machine == "jupiter"
    assert p.expected_start_s == 4000.0
    assert p.expected_end_s == pytest.approx(4000.0 + 3600 * 312 / 989)
    assert p.reasons["jupiter"].startswith("chosen")
    assert p.reasons["leonardo"].startswith("later")
    assert list(p.reasons) == ["leonardo", "jupiter"]


def test_a_dead_site_is_not_a_candidate():
    machines = [view("a", alive=False), view("b", expected_wait_s=10_000.0)]
    p = place(JOB, machines)
    assert p.machine == "b"
    assert p.reasons["a"] == "site agent not responding"


def test_not_enough_gpu_hours_left():
    # 4 GPUs x 1 h at speed 1 = 4 GPU-hours; at speed 2, 2 GPU-hours
    machines = [view("short", gpu_hours_left=3.9), view("fast", speed=2.0, gpu_hours_left=2.0),
                view("exact", gpu_hours_left=4.0)]
    assert rejection(JOB, machines[0]) is not None
    assert "3.9 GPU-hours left" in str(rejection(JOB, machines[0]))
    assert rejection(JOB, machines[1]) is None
    assert rejection(JOB, machines[2]) is None
    assert gpu_hours_charged(JOB, 4, 2.0) == 2.0


def test_wide_jobs_are_charged_whole_nodes():
    job = JobRequest(gpus=6, estimate_s=3600.0)
    assert gpu_hours_charged(job, 4, 1.0) == 8.0
    assert rejection(job, view("m", gpu_hours_left=7.0)) is not None
    assert rejection(job, view("m", gpu_hours_left=8.0)) is None


def test_gpu_type_and_memory_must_match():
    machines = [view("lumi", gpu_model="MI250X", gpu_memory_gb=64.0),
                view("meluxina", gpu_memory_gb=40.0),
                view("leonardo", gpu_memory_gb=64.0, expected_wait_s=500.0),
                view("unknown", gpu_model=None, gpu_memory_gb=None)]
    job = JobRequest(gpus=1, estimate_s=60.0, gpu_type="a100", min_gpu_memory_gb=48.0)
    p = place(job, machines)
    assert p.machine == "leonardo"
    assert p.reasons["lumi"] == "GPU type MI250X, job asks for a100"
    assert p.reasons["meluxina"] == "40 GB per GPU, job needs 48 GB"
    assert p.reasons["unknown"] == "GPU model unknown, job asks for a100"
    assert rejection(JobRequest(gpus=1, estimate_s=1.0, min_gpu_memory_gb=8.0), machines[3]) == \
        "memory per GPU unknown, job needs 8 GB"


def test_gpu_count_must_fit():
    job = JobRequest(gpus=12, estimate_s=60.0)
    assert rejection(job, view("small", total_gpus=8)) == "job needs 3 nodes of 4 GPUs, machine has 2"
    assert rejection(job, view("unknown", total_gpus=None)) == "GPU count unknown"
    assert rejection(job, view("nospeed", speed=None)) == "GPU speed unknown"


def test_no_placement_carries_a_reason_per_machine():
    machines = [view("a", alive=False), view("b", gpu_hours_left=0.0)]
    with pytest.raises(NoPlacement) as err:
        place(JOB, machines)
    assert set(err.value.reasons) == {"a", "b"}
    assert "site agent" in err.value.reasons["a"]
    with pytest.raises(NoPlacement):
        place(JOB, [])


@pytest.mark.parametrize("job, machines, field", [
    (JobRequest(gpus=0, estimate_s=1.0), [view("a")], "gpus"),
    (JobRequest(gpus=1, estimate_s=-1.0), [view("a")], "estimate_s"),
    (JobRequest(gpus=1, estimate_s=math.nan), [view("a")], "estimate_s"),
    (JobRequest(gpus=1, estimate_s=1.0, min_gpu_memory_gb=-1.0), [view("a")], "min_gpu_memory_gb"),
    (JOB, [view("a"), view("a")], "machines"),
    (JOB, [view("a", expected_wait_s=-5.0)], "expected_wait_s"),
    (JOB, [view("a", speed=0.0)], "speed"),
    (JOB, [view("a", gpus_per_node=0)], "gpus_per_node"),
])
def test_bad_input_is_refused(job, machines, field):
    with pytest.raises(InvalidInput) as err:
        place(job, machines)
    assert err.value.field == field


waits = st.floats(0, 1e6, allow_nan=False)
speeds = st.floats(0.1, 10, allow_nan=False)


@given(st.lists(st.tuples(waits, speeds, st.booleans()), min_size=1, max_size=8), st.floats(0, 1e6))
def test_the_choice_is_a_candidate_and_none_ends_earlier(rows, estimate):
    machines = [view(f"m{i}", expected_wait_s=w, speed=s, alive=a) for i, (w, s, a) in enumerate(rows)]
    job = JobRequest(gpus=1, estimate_s=estimate)
    alive = [m for m in machines if m.alive]
    if not alive:
        with pytest.raises(NoPlacement):
            place(job, machines)
        return
    p = place(job, machines)
    chosen = next(m for m in machines if m.key == p.machine)
    assert chosen.alive
    assert p.expected_end_s == chosen.expected_wait_s + estimate / chosen.speed
    for m in alive:
        assert p.expected_end_s <= m.expected_wait_s + estimate / m.speed
