"""The federation catalog: the EuroHPC machines (their GPU partitions) and the AI Factories.

The data ship with the package in data/catalog.json, one record per machine and per factory, each value with
the public source it comes from. A value no public source confirms is null (unknown), never estimated; a value
given as "about" is kept and its field is listed in the machine's `approximate`.

GPUs are counted as the scheduler shows them. On LUMI-G each AMD MI250X package is two GCDs, Slurm shows a
node as 8 GPUs of 64 GB, so LUMI's memory, GPU counts and peak BF16 (191.5 TFLOP/s) are per GCD.

The file is read and validated once (load_catalog is cached); a malformed record raises CatalogError naming
the record and the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from aifactory.core.exceptions import InvalidInput

# Short GPU model names used to filter machines, and the vendor's full names.
GPU_MODELS: Mapping[str, str] = MappingProxyType(
    {
        "A100": "NVIDIA A100",
        "H100": "NVIDIA H100",
        "GH200": "NVIDIA GH200 Grace Hopper",
        "MI250X": "AMD Instinct MI250X",
        "MI430X": "AMD Instinct MI430X",
    }
)

MACHINE_FIELDS = (
    "name",
    "partition",
    "site",
    "country",
    "factory",
    "gpu_model",
    "gpu_name",
    "gpu_memory_gb",
    "gpus_per_node",
    "nodes",
    "total_gpus",
    "peak_bf16_tflops",
)
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class CatalogError(InvalidInput):
    """A record of the catalog file is malformed: which record and which field."""

    def __init__(self, record: str, field: str, message: str) -> None:
        super().__init__(f"{record}.{field}", message)
        self.record = record
        self.record_field = field


@dataclass(frozen=True)
class Factory:
    key: str
    name: str
    wave: int
    country: str
    host: str | None  # hosting centre, when named
    host_machine: str | None  # key of the catalog machine its host system is, extends or sits next to
    sectors: tuple[str, ...] | None  # None: not named
    source: str
    selected: str = ""  # year-month of the selection wave
    partners: tuple[str, ...] = ()  # other countries of the consortium
    host_system: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "wave": self.wave,
            "selected": self.selected,
            "country": self.country,
            "partners": list(self.partners),
            "host": self.host,
            "host_system": self.host_system,
            "host_machine": self.host_machine,
            "sectors": None if self.sectors is None else list(self.sectors),
            "note": self.note,
            "source": self.source,
        }


@dataclass(frozen=True)
class Machine:
    key: str
    name: str
    partition: str | None
    site: str
    country: str
    factory: str | None  # key of the AI Factory at its site or hosted on it
    gpu_model: str | None  # one of GPU_MODELS
    gpu_name: str | None
    gpu_memory_gb: float | None
    gpus_per_node: int | None
    nodes: int | None
    total_gpus: int | None
    peak_bf16_tflops: float | None  # vendor peak dense BF16 per GPU
    sectors: tuple[str, ...] | None  # from its factory; None: not named
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)  # field -> source
    approximate: tuple[str, ...] = ()
    note: str | None = None

    def is_approximate(self, name: str) -> bool:
        return name in self.approximate

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "partition": self.partition,
            "site": self.site,
            "country": self.country,
            "factory": self.factory,
            "gpu_model": self.gpu_model,
            "gpu_name": self.gpu_name,
            "gpu_memory_gb": self.gpu_memory_gb,
            "gpus_per_node": self.gpus_per_node,
            "nodes": self.nodes,
            "total_gpus": self.total_gpus,
            "peak_bf16_tflops": self.peak_bf16_tflops,
            "sectors": None if self.sectors is None else list(self.sectors),
            "approximate": list(self.approximate),
            "note": self.note,
            "sources": dict(self.sources),
        }


@dataclass(frozen=True)
class Catalog:
    machines: tuple[Machine, ...]
    factories: tuple[Factory, ...]
    notes: tuple[str, ...] = ()

    def machine(self, key: str) -> Machine:
        for machine in self.machines:
            if machine.key == key:
                return machine
        known = ", ".join(m.key for m in self.machines)
        raise InvalidInput("machine", f"unknown machine {key!r} (known: {known})")

    def factory(self, key: str) -> Factory:
        for factory in self.factories:
            if factory.key == key:
                return factory
        known = ", ".join(f.key for f in self.factories)
        raise InvalidInput("factory", f"unknown factory {key!r} (known: {known})")

    def gpu_machines(self) -> tuple[Machine, ...]:
        """Machines whose GPU model and GPUs per node are known (at least one GPU)."""
        return tuple(
            m for m in self.machines if m.gpu_model is not None and m.gpus_per_node is not None and m.gpus_per_node > 0
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "notes": list(self.notes),
            "machines": [m.to_dict() for m in self.machines],
            "factories": [f.to_dict() for f in self.factories],
        }


@cache
def load_catalog() -> Catalog:
    """The catalog shipped with the package, read and validated once."""
    text = resources.files("aifactory.core").joinpath("data/catalog.json").read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError("catalog", "json", str(exc)) from exc
    return parse_catalog(data)


def parse_catalog(data: object) -> Catalog:
    """Build and validate a catalog from the decoded JSON document."""
    if not isinstance(data, Mapping):
        raise CatalogError("catalog", "document", "must be a JSON object")
    factories = tuple(_factory(raw, i) for i, raw in enumerate(_list(data, "factories", "catalog")))
    _unique([f.key for f in factories], "factories")
    by_factory = {f.key: f for f in factories}
    machines = tuple(_machine(raw, i, by_factory) for i, raw in enumerate(_list(data, "machines", "catalog")))
    _unique([m.key for m in machines], "machines")
    machine_keys = {m.key for m in machines}
    for f in factories:
        if f.host_machine is not None and f.host_machine not in machine_keys:
            raise CatalogError(f"factories.{f.key}", "host_machine", f"unknown machine {f.host_machine!r}")
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise CatalogError("catalog", "notes", "must be a list of strings")
    return Catalog(machines=machines, factories=factories, notes=tuple(notes))


def _machine(raw: object, index: int, factories: Mapping[str, Factory]) -> Machine:
    record = f"machines[{index}]"
    if not isinstance(raw, Mapping):
        raise CatalogError(record, "record", "must be a JSON object")
    key = _str(raw, "key", record)
    if not _KEY.match(key):
        raise CatalogError(record, "key", f"{key!r} is not a lower-case slug")
    record = f"machines.{key}"
    unknown = set(raw) - set(MACHINE_FIELDS) - {"key", "approximate", "sources", "note"}
    if unknown:
        raise CatalogError(record, sorted(unknown)[0], "unknown field")
    country = _str(raw, "country", record)
    if not _COUNTRY.match(country):
        raise CatalogError(record, "country", f"{country!r} is not an ISO 3166 alpha-2 code")
    factory = _opt_str(raw, "factory", record)
    if factory is not None and factory not in factories:
        raise CatalogError(record, "factory", f"unknown factory {factory!r}")
    gpu_model = _opt_str(raw, "gpu_model", record)
    if gpu_model is not None and gpu_model not in GPU_MODELS:
        raise CatalogError(record, "gpu_model", f"{gpu_model!r} is not one of {', '.join(GPU_MODELS)}")
    machine = Machine(
        key=key,
        name=_str(raw, "name", record),
        partition=_opt_str(raw, "partition", record),
        site=_str(raw, "site", record),
        country=country,
        factory=factory,
        gpu_model=gpu_model,
        gpu_name=_opt_str(raw, "gpu_name", record),
        gpu_memory_gb=_opt_number(raw, "gpu_memory_gb", record),
        gpus_per_node=_opt_int(raw, "gpus_per_node", record, minimum=0),
        nodes=_opt_int(raw, "nodes", record, minimum=1),
        total_gpus=_opt_int(raw, "total_gpus", record, minimum=0),
        peak_bf16_tflops=_opt_number(raw, "peak_bf16_tflops", record),
        sectors=None if factory is None else factories[factory].sectors,
        sources=MappingProxyType(_sources(raw, record)),
        approximate=_approximate(raw, record),
        note=_opt_str(raw, "note", record),
    )
    _check_machine(machine, record)
    return machine


def _check_machine(m: Machine, record: str) -> None:
    for name in MACHINE_FIELDS:
        if getattr(m, name) is not None and name not in m.sources:
            raise CatalogError(record, name, "has a value but no source")
    for name in m.sources:
        if name not in MACHINE_FIELDS:
            raise CatalogError(record, f"sources.{name}", "is not a machine field")
    for name in m.approximate:
        if getattr(m, name) is None:
            raise CatalogError(record, name, "is marked approximate but unknown")
    if m.gpu_model is None and m.gpus_per_node:
        raise CatalogError(record, "gpu_model", "is unknown but the machine has GPUs")
    exact = not (m.is_approximate("nodes") or m.is_approximate("total_gpus") or m.is_approximate("gpus_per_node"))
    if exact and m.nodes is not None and m.gpus_per_node is not None and m.total_gpus is not None:
        if m.nodes * m.gpus_per_node != m.total_gpus:
            raise CatalogError(
                record, "total_gpus", f"{m.total_gpus} is not nodes x gpus_per_node = {m.nodes * m.gpus_per_node}"
            )


def _factory(raw: object, index: int) -> Factory:
    record = f"factories[{index}]"
    if not isinstance(raw, Mapping):
        raise CatalogError(record, "record", "must be a JSON object")
    key = _str(raw, "key", record)
    if not _KEY.match(key):
        raise CatalogError(record, "key", f"{key!r} is not a lower-case slug")
    record = f"factories.{key}"
    wave = raw.get("wave")
    if not isinstance(wave, int) or isinstance(wave, bool) or not 1 <= wave <= 9:
        raise CatalogError(record, "wave", "must be a small positive integer")
    country = _str(raw, "country", record)
    if not _COUNTRY.match(country):
        raise CatalogError(record, "country", f"{country!r} is not an ISO 3166 alpha-2 code")
    partners = _str_list(raw, "partners", record, optional=True) or ()
    for partner in partners:
        if not _COUNTRY.match(partner):
            raise CatalogError(record, "partners", f"{partner!r} is not an ISO 3166 alpha-2 code")
    return Factory(
        key=key,
        name=_str(raw, "name", record),
        wave=wave,
        country=country,
        host=_opt_str(raw, "host", record),
        host_machine=_opt_str(raw, "host_machine", record),
        sectors=_str_list(raw, "sectors", record, optional=True),
        source=_str(raw, "source", record),
        selected=_opt_str(raw, "selected", record) or "",
        partners=partners,
        host_system=_opt_str(raw, "host_system", record),
        note=_opt_str(raw, "note", record),
    )


def _list(data: Mapping[str, object], name: str, record: str) -> list[object]:
    value = data.get(name)
    if not isinstance(value, list):
        raise CatalogError(record, name, "must be a list")
    return value


def _unique(keys: Sequence[str], record: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise CatalogError(f"{record}.{key}", "key", "appears twice")
        seen.add(key)


def _str(raw: Mapping[str, object], name: str, record: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(record, name, "must be a non-empty string")
    return value


def _opt_str(raw: Mapping[str, object], name: str, record: str) -> str | None:
    if raw.get(name) is None:
        return None
    return _str(raw, name, record)


def _opt_number(raw: Mapping[str, object], name: str, record: str) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise CatalogError(record, name, f"must be a positive number or null, not {value!r}")
    return float(value)


def _opt_int(raw: Mapping[str, object], name: str, record: str, *, minimum: int) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CatalogError(record, name, f"must be an integer >= {minimum} or null, not {value!r}")
    return value


def _str_list(raw: Mapping[str, object], name: str, record: str, *, optional: bool) -> tuple[str, ...] | None:
    value = raw.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogError(record, name, "must be a list of non-empty strings")
    return tuple(value)


def _sources(raw: Mapping[str, object], record: str) -> dict[str, str]:
    value = raw.get("sources")
    if not isinstance(value, Mapping):
        raise CatalogError(record, "sources", "must be an object mapping field to source")
    out: dict[str, str] = {}
    for name, source in value.items():
        if not isinstance(source, str) or not source.strip():
            raise CatalogError(record, f"sources.{name}", "must be a non-empty string")
        out[str(name)] = source
    return out


def _approximate(raw: Mapping[str, object], record: str) -> tuple[str, ...]:
    names = _str_list(raw, "approximate", record, optional=True) or ()
    for name in names:
        if name not in MACHINE_FIELDS:
            raise CatalogError(record, "approximate", f"{name!r} is not a machine field")
    return names
