"""Site profiles: how a training job runs on each GPU machine, as data with sources.

The profiles ship in data/sites.json, one per GPU machine of the catalog (same key), every value with the
source it comes from (the source keys are listed in the file). A value no source confirms is null, and the
renderers fall back to plain Slurm for it and say so; nothing is guessed.

    partitions          the queues a job may go to, in order of preference: partition name, QoS (or null),
                        wall-time limit in minutes, node limits, exclusive nodes, purpose
    gpus_per_node       GPUs per node as Slurm shows them (LUMI: 8 GCDs)
    gpu_request         how a job asks for GPUs: "gres" (--gres=gpu:N) or "gpus-per-node" (--gpus-per-node=N);
                        null: not confirmed, the renderer uses --gres=gpu:N, plain Slurm
    cpus_per_node       usable cores per node; cpus_per_gpu the cores that go with one GPU
    memory_per_node_gb  memory a job may ask for on one node
    exclusive           whether nodes are given whole in the production queue
    billing             unit, units billed per node-hour, and the rule in the site's words
    container_runtime   singularity / apptainer, and container_gpu_flag (e.g. --nv)
    launcher            "srun" (one task per GPU) or "torchrun" (one task per node); null: not confirmed
    setup               module lines a job runs first; env the variables it sets
    scratch             where large files go ("{account}" stands for the project account)

`sbatch_options` renders a job's resource options from a profile; the Slurm backend and the launch templates
both use it, so what a site needs is written once, here and in the data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from aifactory.core.exceptions import InvalidInput

GPU_REQUESTS = ("gres", "gpus-per-node")
LAUNCHERS = ("srun", "torchrun")
RUNTIMES = ("singularity", "apptainer")
PURPOSES = ("production", "small", "debug", "large", "long", "express")
_KEY = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_SLURM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_ENV_VALUE = re.compile(r"^[A-Za-z0-9_./:,=+-]{0,200}$")
# Setup lines are shell commands from this file only, and of one shape: `module use|load <word> ...`.
_SETUP = re.compile(r"^module (?:use|load) [A-Za-z0-9_./+-]+(?: [A-Za-z0-9_./+-]+)*$")
_SCRATCH = re.compile(r"^(?:/[A-Za-z0-9_.{}-]+)+$|^\$[A-Z_][A-Z0-9_]*$")
_GPU_FLAG = re.compile(r"^--[a-z]+$")
_HOST = re.compile(r"^[a-z0-9.-]+$")


# A malformed profile of the data file: InvalidInput naming the profile and the field.
ProfileError = InvalidInput


@dataclass(frozen=True)
class Queue:
    """One place a job can go: a partition, with a QoS when the limits are the QoS's."""

    partition: str
    qos: str | None
    max_time_min: int | None
    min_nodes: int | None
    max_nodes: int | None
    exclusive: bool | None
    purpose: str
    source: str

    def fits(self, nodes: int, time_min: int | None = None) -> bool:
        if self.min_nodes is not None and nodes < self.min_nodes:
            return False
        if self.max_nodes is not None and nodes > self.max_nodes:
            return False
        return time_min is None or self.max_time_min is None or time_min <= self.max_time_min

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "qos": self.qos,
            "max_time_min": self.max_time_min,
            "min_nodes": self.min_nodes,
            "max_nodes": self.max_nodes,
            "exclusive": self.exclusive,
            "purpose": self.purpose,
            "source": self.source,
        }


@dataclass(frozen=True)
class Billing:
    unit: str
    per_node_hour: float
    rule: str


@dataclass(frozen=True)
class SiteProfile:
    key: str
    machine: str
    name: str
    queues: tuple[Queue, ...]
    default_partition: str | None
    gpus_per_node: int
    gpu_request: str | None
    cpus_per_node: int | None
    cpus_per_gpu: int | None
    memory_per_node_gb: int | None
    exclusive: bool | None
    billing: Billing | None
    container_runtime: str | None
    container_gpu_flag: str | None
    launcher: str | None
    setup: tuple[str, ...]
    env: Mapping[str, str]
    scratch: str | None
    account_example: str | None
    login: str | None
    sources: Mapping[str, str] = field(default_factory=dict)

    def source(self, name: str) -> str | None:
        return self.sources.get(name)

    def production_queues(self) -> tuple[Queue, ...]:
        return tuple(q for q in self.queues if q.purpose != "debug")

    def max_time_min(self) -> int | None:
        """The longest wall time any non-debug queue allows; None when no limit is known."""
        limits = [q.max_time_min for q in self.production_queues()]
        if not limits or any(limit is None for limit in limits):
            return None
        return max(limit for limit in limits if limit is not None)

    def max_nodes(self) -> int | None:
        limits = [q.max_nodes for q in self.production_queues()]
        if not limits or any(limit is None for limit in limits):
            return None
        return max(limit for limit in limits if limit is not None)

    def queue_for(self, nodes: int, time_min: int | None = None) -> Queue | None:
        """The first queue (in the profile's order of preference, debug last) that takes the job; None when the
        profile names no queue. Raises InvalidInput naming the limits when queues are known and none fits."""
        if not self.queues:
            return None
        ordered = [q for q in self.queues if q.purpose != "debug"] + [q for q in self.queues if q.purpose == "debug"]
        for queue in ordered:
            if queue.fits(nodes, time_min):
                return queue
        limits = "; ".join(
            f"{q.partition}{'/' + q.qos if q.qos else ''}: nodes {q.min_nodes or 1}-{q.max_nodes or 'any'}, "
            f"{_minutes(q.max_time_min)}"
            for q in ordered
        )
        raise InvalidInput("nodes", f"no queue of {self.name} takes {nodes} node(s) for {_minutes(time_min)} "
                                    f"({limits})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "machine": self.machine,
            "name": self.name,
            "queues": [q.to_dict() for q in self.queues],
            "default_partition": self.default_partition,
            "gpus_per_node": self.gpus_per_node,
            "gpu_request": self.gpu_request,
            "cpus_per_node": self.cpus_per_node,
            "cpus_per_gpu": self.cpus_per_gpu,
            "memory_per_node_gb": self.memory_per_node_gb,
            "exclusive": self.exclusive,
            "billing": None if self.billing is None else {
                "unit": self.billing.unit, "per_node_hour": self.billing.per_node_hour, "rule": self.billing.rule},
            "container_runtime": self.container_runtime,
            "container_gpu_flag": self.container_gpu_flag,
            "launcher": self.launcher,
            "setup": list(self.setup),
            "env": dict(self.env),
            "scratch": self.scratch,
            "account_example": self.account_example,
            "login": self.login,
            "sources": dict(self.sources),
        }


def _minutes(value: int | None) -> str:
    if value is None:
        return "time limit not known"
    return f"{value // 60} h" if value % 60 == 0 else f"{value} min"


# The profile of a plain Slurm cluster: nothing known beyond Slurm's own options (test clusters, unknown sites).
GENERIC = SiteProfile(
    key="generic", machine="generic", name="Plain Slurm", queues=(), default_partition=None, gpus_per_node=8,
    gpu_request="gres", cpus_per_node=None, cpus_per_gpu=None, memory_per_node_gb=None, exclusive=None,
    billing=None, container_runtime="apptainer", container_gpu_flag=None, launcher=None, setup=(),
    env=MappingProxyType({}), scratch=None, account_example=None, login=None,
)


@dataclass(frozen=True)
class SiteProfiles:
    collected: str
    sources: Mapping[str, str]
    profiles: tuple[SiteProfile, ...]

    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.profiles)

    def get(self, key: str) -> SiteProfile:
        wanted = key.strip().lower() if isinstance(key, str) else ""
        if wanted == GENERIC.key:
            return GENERIC
        for profile in self.profiles:
            if profile.key == wanted:
                return profile
        raise InvalidInput("profile", f"unknown site profile {key!r} (known: {', '.join(self.keys())}, generic)")


@cache
def load_profiles() -> SiteProfiles:
    text = resources.files("aifactory.core").joinpath("data/sites.json").read_text(encoding="utf-8")
    return parse_profiles(json.loads(text))


def site_profile(key: str) -> SiteProfile:
    return load_profiles().get(key)


def sbatch_options(
    profile: SiteProfile,
    *,
    nodes: int,
    gpus_per_node: int,
    time_min: int | None = None,
    partition: str | None = None,
    gres: str = "gpu",
) -> list[str]:
    """Slurm's resource options for a job of `nodes` nodes with `gpus_per_node` GPUs each on this site.

    The queue: `partition` when given, else the first of the profile's queues that takes the job (its QoS too),
    else the profile's default partition, else none (the cluster's default). GPUs: the site's request syntax, or
    --gres=<gres>:N when not confirmed. Cores: --cpus-per-gpu when the site says how many go with a GPU.
    Exclusive nodes: --exclusive when the chosen queue (or the site) gives whole nodes.
    """
    if gpus_per_node > profile.gpus_per_node and profile is not GENERIC:
        raise InvalidInput("gpus", f"{gpus_per_node} GPUs per node asked but a {profile.name} node has "
                                   f"{profile.gpus_per_node}")
    options: list[str] = []
    queue = None if partition is not None else profile.queue_for(nodes, time_min)
    chosen = partition or (queue.partition if queue else profile.default_partition)
    if chosen is not None:
        options.append(f"--partition={chosen}")
    if queue is not None and queue.qos is not None:
        options.append(f"--qos={queue.qos}")
    if gpus_per_node:
        if profile.gpu_request == "gpus-per-node":
            options.append(f"--gpus-per-node={gpus_per_node}")
        else:
            options.append(f"--gres={gres}:{gpus_per_node}")
        if profile.cpus_per_gpu is not None:
            options.append(f"--cpus-per-gpu={profile.cpus_per_gpu}")
    exclusive = queue.exclusive if queue is not None and queue.exclusive is not None else profile.exclusive
    if exclusive:
        options.append("--exclusive")
    return options


# --- parsing ----------------------------------------------------------------------------------------------------


def parse_profiles(data: object) -> SiteProfiles:
    if not isinstance(data, dict) or data.get("format") != 1:
        raise ProfileError("sites", "must be an object with format 1")
    sources = data.get("sources")
    if not isinstance(sources, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()):
        raise ProfileError("sites.sources", "must map source keys to descriptions")
    raw_profiles = data.get("profiles")
    if not isinstance(raw_profiles, list):
        raise ProfileError("sites.profiles", "must be a list")
    profiles = tuple(_profile(raw, i, sources) for i, raw in enumerate(raw_profiles))
    keys = [p.key for p in profiles]
    if len(set(keys)) != len(keys) or GENERIC.key in keys:
        raise ProfileError("sites.profiles", "profile keys must be unique and not 'generic'")
    return SiteProfiles(collected=str(data.get("collected", "")), sources=MappingProxyType(dict(sources)),
                        profiles=profiles)


def _profile(raw: object, index: int, sources: Mapping[str, str]) -> SiteProfile:
    rec = f"profiles[{index}]"
    if not isinstance(raw, dict):
        raise ProfileError(rec, "must be an object")
    key = _get(raw, "key", str, rec)
    if not _KEY.match(key):
        raise ProfileError(f"{rec}.key", f"{key!r} is not a valid key")
    rec = f"profile {key}"
    raw_queues = _get(raw, "partitions", list, rec)
    queues = tuple(_queue(q, f"{rec}.partitions[{i}]", sources) for i, q in enumerate(raw_queues))
    default = _opt(raw, "default_partition", str, rec)
    if default is not None and not _SLURM_NAME.match(default):
        raise ProfileError(f"{rec}.default_partition", f"{default!r} is not a Slurm partition name")
    gpus = _get(raw, "gpus_per_node", int, rec)
    if not 1 <= gpus <= 64:
        raise ProfileError(f"{rec}.gpus_per_node", "must be 1..64")
    request = _choice(raw, "gpu_request", GPU_REQUESTS, rec)
    launcher = _choice(raw, "launcher", LAUNCHERS, rec)
    runtime = _choice(raw, "container_runtime", RUNTIMES, rec)
    flag = _opt(raw, "container_gpu_flag", str, rec)
    if flag is not None and not _GPU_FLAG.match(flag):
        raise ProfileError(f"{rec}.container_gpu_flag", f"{flag!r} is not an option")
    setup = tuple(_get(raw, "setup", list, rec))
    for line in setup:
        if not isinstance(line, str) or not _SETUP.match(line):
            raise ProfileError(f"{rec}.setup", f"{line!r} is not a `module use|load` line")
    env = _get(raw, "env", dict, rec)
    for name, value in env.items():
        if not _ENV_NAME.match(name) or not isinstance(value, str) or not _ENV_VALUE.match(value):
            raise ProfileError(f"{rec}.env", f"{name}={value!r} is not a plain variable")
    scratch = _opt(raw, "scratch", str, rec)
    if scratch is not None and not _SCRATCH.match(scratch):
        raise ProfileError(f"{rec}.scratch", f"{scratch!r} must be an absolute path or one $VARIABLE")
    login = _opt(raw, "login", str, rec)
    if login is not None and not _HOST.match(login):
        raise ProfileError(f"{rec}.login", f"{login!r} is not a host name")
    billing_raw = _opt(raw, "billing", dict, rec)
    billing = None
    if billing_raw is not None:
        per = billing_raw.get("per_node_hour")
        if not isinstance(per, int | float) or isinstance(per, bool) or per <= 0:
            raise ProfileError(f"{rec}.billing.per_node_hour", "must be a positive number")
        billing = Billing(unit=_get(billing_raw, "unit", str, rec), per_node_hour=float(per),
                          rule=_get(billing_raw, "rule", str, rec))
    profile_sources = _get(raw, "sources", dict, rec)
    for name, src in profile_sources.items():
        if not isinstance(src, str) or not src:
            raise ProfileError(f"{rec}.sources.{name}", "must name a source")
        if not any(part.strip().split(" ")[0].rstrip(";,") in sources for part in src.split(",")):
            raise ProfileError(f"{rec}.sources.{name}", f"{src!r} names no source of the file")
    # Every known value has a source; the fields that carry one each.
    for name in ("default_partition", "gpu_request", "cpus_per_node", "cpus_per_gpu", "memory_per_node_gb",
                 "exclusive", "billing", "container_runtime", "launcher", "scratch", "account_example", "login"):
        if raw.get(name) is not None and name not in profile_sources:
            raise ProfileError(f"{rec}.{name}", "has a value but no source")
    if setup and "setup" not in profile_sources:
        raise ProfileError(f"{rec}.setup", "has lines but no source")
    if env and "env" not in profile_sources:
        raise ProfileError(f"{rec}.env", "has variables but no source")
    return SiteProfile(
        key=key,
        machine=_get(raw, "machine", str, rec),
        name=_get(raw, "name", str, rec),
        queues=queues,
        default_partition=default,
        gpus_per_node=gpus,
        gpu_request=request,
        cpus_per_node=_opt_count(raw, "cpus_per_node", rec),
        cpus_per_gpu=_opt_count(raw, "cpus_per_gpu", rec),
        memory_per_node_gb=_opt_count(raw, "memory_per_node_gb", rec),
        exclusive=_opt(raw, "exclusive", bool, rec),
        billing=billing,
        container_runtime=runtime,
        container_gpu_flag=flag,
        launcher=launcher,
        setup=setup,
        env=MappingProxyType(dict(env)),
        scratch=scratch,
        account_example=_opt(raw, "account_example", str, rec),
        login=login,
        sources=MappingProxyType(dict(profile_sources)),
    )


def _queue(raw: object, rec: str, sources: Mapping[str, str]) -> Queue:
    if not isinstance(raw, dict):
        raise ProfileError(rec, "must be an object")
    name = _get(raw, "name", str, rec)
    qos = _opt(raw, "qos", str, rec)
    for value in (name, qos):
        if value is not None and not _SLURM_NAME.match(value):
            raise ProfileError(rec, f"{value!r} is not a Slurm partition or QoS name")
    purpose = _get(raw, "purpose", str, rec)
    if purpose not in PURPOSES:
        raise ProfileError(f"{rec}.purpose", f"must be one of {', '.join(PURPOSES)}")
    source = _get(raw, "source", str, rec)
    if source.split(" ")[0] not in sources:
        raise ProfileError(f"{rec}.source", f"{source!r} is not a source of the file")
    return Queue(partition=name, qos=qos, max_time_min=_opt_count(raw, "max_time_min", rec),
                 min_nodes=_opt_count(raw, "min_nodes", rec), max_nodes=_opt_count(raw, "max_nodes", rec),
                 exclusive=_opt(raw, "exclusive", bool, rec), purpose=purpose, source=source)


def _get(raw: Mapping[str, Any], name: str, kind: type, rec: str) -> Any:
    value = raw.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(f"{rec}.{name}", f"must be a {kind.__name__}")
    return value


def _opt(raw: Mapping[str, Any], name: str, kind: type, rec: str) -> Any:
    return None if raw.get(name) is None else _get(raw, name, kind, rec)


def _opt_count(raw: Mapping[str, Any], name: str, rec: str) -> int | None:
    value = _opt(raw, name, int, rec)
    if value is not None and value < 1:
        raise ProfileError(f"{rec}.{name}", "must be at least 1")
    return value  # type: ignore[no-any-return]


def _choice(raw: Mapping[str, Any], name: str, choices: Sequence[str], rec: str) -> str | None:
    value = _opt(raw, name, str, rec)
    if value is not None and value not in choices:
        raise ProfileError(f"{rec}.{name}", f"must be one of {', '.join(choices)} or null")
    return value  # type: ignore[no-any-return]
