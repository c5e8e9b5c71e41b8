import copy
import json
from importlib import resources

import pytest

from aifactory.core.catalog import GPU_MODELS, MACHINE_FIELDS, CatalogError, load_catalog, parse_catalog
from aifactory.core.eligibility import load_countries
from aifactory.core.exceptions import InvalidInput


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture
def raw():
    text = resources.files("aifactory.core").joinpath("data/catalog.json").read_text(encoding="utf-8")
    return json.loads(text)


def _machine(raw, key):
    return next(m for m in raw["machines"] if m["key"] == key)


def test_machines_and_factories_of_the_federation(catalog):
    assert {m.key for m in catalog.machines} == {
        "leonardo",
        "lumi",
        "marenostrum5",
        "jupiter",
        "alice-recoque",
        "meluxina",
        "karolina",
        "vega",
        "deucalion",
        "discoverer",
        "daedalus",
    }
    assert len(catalog.factories) == 19
    waves = [f.wave for f in catalog.factories]
    assert (waves.count(1), waves.count(2), waves.count(3)) == (7, 6, 6)


def test_leonardo_booster(catalog):
    leo = catalog.machine("leonardo")
    assert (leo.partition, leo.country, leo.gpu_model) == ("Booster", "IT", "A100")
    assert (leo.nodes, leo.gpus_per_node, leo.total_gpus) == (3456, 4, 13824)
    assert leo.gpu_memory_gb == 64
    assert leo.peak_bf16_tflops == 312
    assert leo.factory == "it4lia"
    assert leo.sectors == ("agrifood", "cybersecurity", "earth sciences", "manufacturing")
    assert leo.approximate == ()


def test_lumi_is_counted_in_gcds_as_slurm_shows_it(catalog):
    lumi = catalog.machine("lumi")
    assert lumi.gpu_model == "MI250X"
    assert lumi.gpus_per_node == 8  # 4 MI250X packages x 2 GCDs
    assert lumi.gpu_memory_gb == 64  # 128 GB package / 2
    assert lumi.peak_bf16_tflops == 191.5  # 383 / 2
    assert lumi.total_gpus == 2978 * 8 == 23824
    assert "GCD" in lumi.sources["gpus_per_node"]
    assert any("GCD" in note for note in load_catalog().notes)


def test_unconfirmed_values_are_null_not_guessed(catalog):
    mn5 = catalog.machine("marenostrum5")
    assert (mn5.nodes, mn5.total_gpus, mn5.gpus_per_node) == (None, None, 4)
    alice = catalog.machine("alice-recoque")
    assert alice.gpu_model == "MI430X"
    assert (alice.peak_bf16_tflops, alice.gpu_memory_gb, alice.total_gpus) == (None, None, None)
    daedalus = catalog.machine("daedalus")
    assert (daedalus.gpu_model, daedalus.nodes, daedalus.total_gpus) == (None, None, None)
    discoverer = catalog.machine("discoverer")
    assert (discoverer.gpu_model, discoverer.total_gpus) == (None, 0)
    assert catalog.machine("lumi").sectors is None  # LUMI AI Factory names no sectors


def test_approximate_values_are_flagged(catalog):
    jupiter = catalog.machine("jupiter")
    assert (jupiter.nodes, jupiter.total_gpus) == (6000, 24000)
    assert set(jupiter.approximate) == {"nodes", "total_gpus"}
    assert jupiter.is_approximate("total_gpus") and not jupiter.is_approximate("gpu_memory_gb")
    assert all(not m.approximate for m in catalog.machines if m.key != "jupiter")


def test_every_known_value_has_a_source(catalog):
    for m in catalog.machines:
        for name in MACHINE_FIELDS:
            if getattr(m, name) is not None:
                assert m.sources.get(name), (m.key, name)
    for f in catalog.factories:
        assert f.source


def test_codes_and_references_are_consistent(catalog):
    iso = load_countries().names
    machine_keys = {m.key for m in catalog.machines}
    factory_keys = {f.key for f in catalog.factories}
    for m in catalog.machines:
        assert m.country in iso
        assert m.gpu_model is None or m.gpu_model in GPU_MODELS
        assert m.factory is None or m.factory in factory_keys
    for f in catalog.factories:
        assert f.country in iso
        assert all(p in iso for p in f.partners)
        assert f.host_machine is None or f.host_machine in machine_keys
    assert catalog.factory("bsc-aif").partners == ("PT", "TR", "RO")


def test_gpu_machines_have_a_model_and_gpus(catalog):
    assert {m.key for m in catalog.gpu_machines()} == {
        "lumi",
        "leonardo",
        "marenostrum5",
        "jupiter",
        "meluxina",
        "karolina",
        "vega",
        "deucalion",
    }


def test_unknown_machine_is_invalid_input(catalog):
    with pytest.raises(InvalidInput) as err:
        catalog.machine("frontier")
    assert err.value.field == "machine"
    assert "frontier" in err.value.message


def test_load_is_cached():
    assert load_catalog() is load_catalog()


def test_to_dict_is_json_with_sources(catalog):
    data = json.loads(json.dumps(catalog.to_dict()))
    leo = next(m for m in data["machines"] if m["key"] == "leonardo")
    assert leo["total_gpus"] == 13824
    assert leo["sources"]["total_gpus"] == "leonardo-supercomputer.cineca.eu/hpc-system"
    jupiter = next(m for m in data["machines"] if m["key"] == "jupiter")
    assert jupiter["approximate"] == ["nodes", "total_gpus"]
    assert len(data["factories"]) == 19


def test_the_shipped_file_parses_as_loaded(raw, catalog):
    assert parse_catalog(raw) == catalog


@pytest.mark.parametrize(
    ("key", "change", "field"),
    [
        ("leonardo", {"gpu_memory_gb": "lots"}, "gpu_memory_gb"),
        ("leonardo", {"gpu_model": "B200"}, "gpu_model"),
        ("leonardo", {"total_gpus": 13000}, "total_gpus"),
        ("leonardo", {"nodes": -3}, "nodes"),
        ("leonardo", {"country": "it"}, "country"),
        ("leonardo", {"factory": "nowhere"}, "factory"),
        ("leonardo", {"name": ""}, "name"),
        ("leonardo", {"colour": "blue"}, "colour"),
        ("marenostrum5", {"nodes": 1120}, "nodes"),  # a value without a source
        ("marenostrum5", {"approximate": ["nodes"]}, "nodes"),  # approximate but unknown
    ],
)
def test_malformed_machine_names_machine_and_field(raw, key, change, field):
    _machine(raw, key).update(change)
    with pytest.raises(CatalogError) as err:
        parse_catalog(raw)
    assert err.value.record == f"machines.{key}"
    assert err.value.record_field == field
    assert f"machines.{key}.{field}" in str(err.value)


def test_gpus_of_an_unknown_model(raw):
    daedalus = _machine(raw, "daedalus")
    daedalus["gpus_per_node"] = 4
    daedalus["sources"]["gpus_per_node"] = "a datasheet"
    with pytest.raises(CatalogError, match=r"machines\.daedalus\.gpu_model: is unknown but the machine has GPUs"):
        parse_catalog(raw)


def test_missing_source_names_field(raw):
    del _machine(raw, "vega")["sources"]["total_gpus"]
    with pytest.raises(CatalogError, match=r"machines\.vega\.total_gpus: has a value but no source"):
        parse_catalog(raw)


def test_duplicate_machine_key(raw):
    raw["machines"].append(copy.deepcopy(_machine(raw, "vega")))
    with pytest.raises(CatalogError, match="appears twice"):
        parse_catalog(raw)


def test_factory_pointing_to_unknown_machine(raw):
    raw["factories"][0]["host_machine"] = "lumi-ai"
    with pytest.raises(CatalogError, match=r"factories\.lumi-aif\.host_machine"):
        parse_catalog(raw)


def test_not_an_object():
    with pytest.raises(CatalogError):
        parse_catalog([])


def test_records_are_hashable_values(catalog):
    assert len({catalog.machine("leonardo"), catalog.machine("leonardo"), catalog.machine("vega")}) == 2
