"""The broker's placement rules and choice, with answers worked out by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput, NoPlacement
from aifactory.core.placement import (
    SIZE_CLASSES,
    SIZE_LIMITS_MIN_JOBS,
    JobRequest,
    MachineView,
    admitted,
    allocated_gpus,
    broker_choice,
    earliest_completion,
    fits,
    gpu_hours_charged,
    nodes_needed,
    place,
    rejection,
    size_class,
    size_class_end,
    size_limits,
    speed_from_peak,
    work_by_size,
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
    (JOB, [view("a", size_limit_s=0.0)], "size_limit_s"),
    (JOB, [view("a", size_limit_s=math.nan)], "size_limit_s"),
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


def test_size_classes_are_quarter_octaves():
    # 100 s: 4 log2(100) = 26.58 -> class 27, from 2 ** 6.5 = 90.5 s up to 2 ** 6.75 = 107.6 s
    assert size_class(0.5) == 0
    assert size_class(1.0) == 1
    assert size_class(100.0) == 27
    assert 2 ** 6.5 <= 100.0 < size_class_end(27) == 2 ** 6.75
    assert size_class(3600.0) == 48  # 4 log2(3600) = 47.26
    assert size_class(math.inf) == size_class(1e300) == SIZE_CLASSES - 1
    assert size_class_end(SIZE_CLASSES - 1) == math.inf
    assert work_by_size([(1, 100.0), (4, 100.0), (2, 3600.0)])[27] == 500.0
    assert work_by_size([(2, 3600.0)])[48] == 7200.0


def test_size_limits_give_the_small_machines_the_short_end_of_the_work():
    # capacities 12 (listed first) and 4: the small one holds 4 / 16 = 25% of the capacity.
    # Work: three jobs of 1 GPU x 100 s (class 27, 300 GPU-s), one of 1 GPU x 900 s (class 40, 900 GPU-s): class 27
    # alone reaches 25% of 1200 -> the small machine takes jobs under 2 ** (27 / 4) = 107.6 s; the large one all.
    work = work_by_size([(1, 100.0)] * 3 + [(1, 900.0)])
    assert size_limits([12.0, 4.0], work, 4, min_jobs=1) == [math.inf, 2 ** 6.75]
    # one GPU-second less at 100 s and class 27 no longer reaches 25%: the limit moves up to class 40's end
    work[27] -= 1.0
    assert size_limits([12.0, 4.0], work, 4, min_jobs=1) == [math.inf, 2 ** 10]


def test_size_limits_rank_by_capacity_ties_to_the_first_listed():
    # capacities 4, 4, 8: shares 25% and 50% for the first two. Work 1, 1, 2 in classes 10, 20, 30:
    # 25% of 4 is reached at class 10 (end 2 ** 2.5), 50% at class 20 (end 2 ** 5); the largest has no limit.
    work = [0.0] * SIZE_CLASSES
    work[10], work[20], work[30] = 1.0, 1.0, 2.0
    assert size_limits([4.0, 4.0, 8.0], work, 3, min_jobs=1) == [2 ** 2.5, 2 ** 5, math.inf]
    # a machine of unknown capacity gets no limit and does not count: 4 of 12 is 33%, reached at class 20
    assert size_limits([4.0, None, 8.0], work, 3, min_jobs=1) == [2 ** 5, math.inf, math.inf]


def test_no_size_limits_before_enough_jobs_or_without_a_choice():
    work = work_by_size([(1, 100.0), (1, 900.0)])
    assert size_limits([12.0, 4.0], work, SIZE_LIMITS_MIN_JOBS - 1) == [math.inf, math.inf]
    assert size_limits([12.0, 4.0], work, SIZE_LIMITS_MIN_JOBS) != [math.inf, math.inf]
    assert size_limits([12.0, 4.0], [0.0] * SIZE_CLASSES, 1000) == [math.inf, math.inf]
    assert size_limits([12.0], work, 1000) == [math.inf]


def test_admitted_keeps_the_machines_whose_limit_is_above_the_estimate_else_all():
    limits = [100.0, math.inf, 1000.0]
    assert admitted(50.0, limits, [0, 1, 2]) == [0, 1, 2]
    assert admitted(100.0, limits, [0, 1, 2]) == [1, 2]  # a limit is an upper bound it must stay below
    assert admitted(5000.0, limits, [0, 1, 2]) == [1]
    assert admitted(5000.0, limits, [0, 2]) == [0, 2]  # none takes it: every candidate is open to it


def test_broker_choice_is_the_earliest_completion_among_the_admitted():
    # a: starts at 0, done at 3600 but kept under 1000 s; b: 1000 + 3600 / 2 = 2800; c: 500 + 3600 = 4100 -> b.
    asked: list[int] = []
    starts = [0.0, 1000.0, 500.0]

    def start(i: int) -> float:
        asked.append(i)
        return starts[i]

    assert broker_choice(3600.0, [0, 1, 2], [1.0, 2.0, 1.0], [1000.0, math.inf, math.inf], start) == 1
    assert asked == [1, 2]  # the site is not asked about a machine the job may not use
    # a short job may use every machine: a ends first
    assert broker_choice(100.0, [0, 1, 2], [1.0, 2.0, 1.0], [1000.0, math.inf, math.inf], starts.__getitem__) == 0
    assert broker_choice(100.0, [], [1.0], [math.inf], starts.__getitem__) == -1


def test_place_keeps_a_long_job_off_a_machine_kept_for_short_ones():
    # small is free but takes jobs under 2 ** 6.75 = 107.6 s; big waits 600 s. A 1 h job goes to big (600 + 3600)
    # although small would end it first (3600); a 60 s job may go anywhere and small ends it first (60 < 660).
    machines = [view("small", size_limit_s=2 ** 6.75), view("big", expected_wait_s=600.0)]
    p = place(JOB, machines, now=100.0)
    assert p.machine == "big"
    assert (p.expected_start_s, p.expected_end_s) == (700.0, 4300.0)
    assert p.reasons["small"] == ("not used: kept for jobs estimated under 0.0299 h, this one is estimated at 1 h "
                                  "(waits 0 s, runs 3600 s)")
    assert p.reasons["big"] == ("chosen: earliest expected completion among the machines whose size interval takes "
                                "the job (waits 600 s, runs 3600 s)")
    short = place(JobRequest(gpus=4, estimate_s=60.0), machines)
    assert short.machine == "small"
    assert short.reasons["small"] == "chosen: earliest expected completion (waits 0 s, runs 60 s)"
    assert short.reasons["big"].startswith("later: expected completion 600 s after the chosen machine")


def test_place_sends_a_long_job_to_a_limited_machine_when_no_other_can_take_it():
    machines = [view("small", size_limit_s=2 ** 6.75), view("big", alive=False)]
    p = place(JOB, machines)
    assert p.machine == "small"
    assert p.reasons["small"] == "chosen: earliest expected completion (waits 0 s, runs 3600 s)"
    # infinity is the same as no limit
    assert place(JOB, [view("a", size_limit_s=math.inf, expected_wait_s=9.0), view("b", expected_wait_s=10.0)]
                 ).machine == "a"


@given(st.lists(st.tuples(waits, speeds, st.floats(1, 1e5) | st.none()), min_size=1, max_size=8),
       st.floats(0, 1e6))
def test_with_size_limits_the_choice_ends_first_among_the_machines_that_take_the_job(rows, estimate):
    machines = [view(f"m{i}", expected_wait_s=w, speed=s, size_limit_s=lim) for i, (w, s, lim) in enumerate(rows)]
    p = place(JobRequest(gpus=1, estimate_s=estimate), machines)
    open_to = [m for m in machines if m.size_limit_s is None or estimate < m.size_limit_s] or machines
    assert p.machine in {m.key for m in open_to}
    for m in open_to:
        assert p.expected_end_s <= m.expected_wait_s + estimate / m.speed
