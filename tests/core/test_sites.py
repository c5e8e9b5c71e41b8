"""Site profiles: the data file is complete and sourced, unknowns stay null, options are rendered from it."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest

from aifactory.core.catalog import load_catalog
from aifactory.core.exceptions import InvalidInput
from aifactory.core.sites import GENERIC, ProfileError, load_profiles, parse_profiles, sbatch_options, site_profile

EIGHT = ("lumi", "leonardo", "marenostrum5", "jupiter", "meluxina", "karolina", "vega", "deucalion")


def raw() -> dict[str, Any]:
    text = resources.files("aifactory.core").joinpath("data/sites.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_every_gpu_machine_of_the_eight_has_a_profile_matching_the_catalog() -> None:
    profiles = load_profiles()
    catalog = load_catalog()
    assert set(EIGHT) <= set(profiles.keys())
    for profile in profiles.profiles:
        machine = catalog.machine(profile.machine)
        assert machine.gpus_per_node == profile.gpus_per_node, profile.key


def test_facts_as_the_sites_state_them() -> None:
    lumi = site_profile("lumi")
    assert [q.partition for q in lumi.queues] == ["standard-g", "small-g", "dev-g"]
    assert lumi.queues[0].max_time_min == 2 * 24 * 60 and lumi.queues[0].max_nodes == 1024
    assert lumi.gpus_per_node == 8 and lumi.cpus_per_gpu == 7 and lumi.exclusive is True
    assert lumi.billing is not None and lumi.billing.per_node_hour == 4
    leonardo = site_profile("Leonardo")
    assert {q.partition for q in leonardo.queues} == {"boost_usr_prod"}
    assert leonardo.exclusive is False and leonardo.cpus_per_gpu == 8
    karolina = site_profile("karolina")
    assert karolina.gpus_per_node == 8 and karolina.billing is not None and karolina.billing.unit == "node-hours"


def test_unknowns_stay_null() -> None:
    deucalion = site_profile("deucalion")
    assert deucalion.queues == () and deucalion.default_partition is None and deucalion.launcher is None
    assert deucalion.billing is None and deucalion.container_runtime is None and deucalion.cpus_per_node is None
    mn5 = site_profile("marenostrum5")
    assert all(q.max_time_min is None for q in mn5.queues)  # third-party hints are not facts
    assert site_profile("vega").default_partition is None


def test_every_value_names_a_source_of_the_file() -> None:
    data = raw()
    for profile in load_profiles().profiles:
        assert profile.sources, profile.key
        for queue in profile.queues:
            assert queue.source.split(" ")[0] in data["sources"]


def test_rendering_per_site() -> None:
    assert sbatch_options(site_profile("lumi"), nodes=4, gpus_per_node=8, time_min=600) == [
        "--partition=standard-g", "--gpus-per-node=8", "--cpus-per-gpu=7", "--exclusive"]
    assert sbatch_options(site_profile("leonardo"), nodes=2, gpus_per_node=4, time_min=600) == [
        "--partition=boost_usr_prod", "--qos=normal", "--gres=gpu:4", "--cpus-per-gpu=8"]
    # Longer than 24 h on at most 3 nodes: the long QoS; bigger than 64 nodes: the bprod QoS.
    assert "--qos=boost_qos_lprod" in sbatch_options(site_profile("leonardo"), nodes=2, gpus_per_node=4,
                                                     time_min=48 * 60)
    assert "--qos=boost_qos_bprod" in sbatch_options(site_profile("leonardo"), nodes=100, gpus_per_node=4)
    assert sbatch_options(site_profile("deucalion"), nodes=1, gpus_per_node=4) == ["--gres=gpu:4"]
    assert sbatch_options(site_profile("vega"), nodes=1, gpus_per_node=0) == []
    assert sbatch_options(GENERIC, nodes=1, gpus_per_node=2, partition="main") == ["--partition=main", "--gres=gpu:2"]


def test_rendering_refusals() -> None:
    with pytest.raises(InvalidInput, match="node has 4"):
        sbatch_options(site_profile("leonardo"), nodes=1, gpus_per_node=8)
    with pytest.raises(InvalidInput, match="no queue"):
        sbatch_options(site_profile("lumi"), nodes=2000, gpus_per_node=8)
    with pytest.raises(InvalidInput, match="no queue"):
        sbatch_options(site_profile("leonardo"), nodes=8, gpus_per_node=4, time_min=5 * 24 * 60)
    with pytest.raises(InvalidInput, match="unknown site profile"):
        site_profile("frontier")


def test_queue_and_limits() -> None:
    lumi = site_profile("lumi")
    queue = lumi.queue_for(8, 47 * 60)
    assert queue is not None and queue.partition == "standard-g"
    assert lumi.max_time_min() == 3 * 24 * 60 and lumi.max_nodes() == 1024
    assert site_profile("marenostrum5").max_time_min() is None
    assert site_profile("jupiter").queue_for(4) is None


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("gpus_per_node",), 0, "gpus_per_node"),
        (("gpu_request",), "--gpus=all", "gpu_request"),
        (("setup",), ["module load x; rm -rf /"], "setup"),
        (("env",), {"NCCL_SOCKET_IFNAME": "hsn; id"}, "env"),
        (("scratch",), "/scratch/$(id)", "scratch"),
        (("default_partition",), "a b", "default_partition"),
        (("launcher",), "mpirun", "launcher"),
        (("partitions", 0, "name"), "standard g", "partitions"),
        (("partitions", 0, "source"), "Z9", "source"),
        (("sources", "billing"), "somewhere", "billing"),
    ],
)
def test_malformed_profiles_are_refused_naming_the_field(path: tuple[Any, ...], value: object, field: str) -> None:
    data = copy.deepcopy(raw())
    target: Any = data["profiles"][0]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(ProfileError) as caught:
        parse_profiles(data)
    assert field in caught.value.field or field in caught.value.message


def test_a_value_without_a_source_is_refused() -> None:
    data = copy.deepcopy(raw())
    del data["profiles"][0]["sources"]["exclusive"]
    with pytest.raises(ProfileError, match="no source"):
        parse_profiles(data)
