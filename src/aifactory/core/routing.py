"""Routing accepted projects to the AI Factory and machine that fit them best, under the machines' capacities.

Data
    projects p   sector, GPU model asked for, GPUs g_p, model states per GPU unsharded U_p and fully sharded S_p
                 (GB), GPU-hours h_p, country, preferred machine, and optionally the machines it may go to
    targets m    machine with its AI Factory (sectors, country, partner countries), GPU model, memory per GPU G_m,
                 total GPUs, and the GPU-hours C_m it can still take

A pair (p, m) is possible when the machine offers the GPU model asked for, the machine is one the project may go
to, g_p <= total GPUs, S_p <= G_m (the model fits, sharded if need be) and h_p <= C_m. Its fit is
    f_pm = 4 * sector + 1 * memory + 1 * country + 1 * preferred + 0.5 * room
    sector     1 when the project's sector matches one the machine's factory names, 0 otherwise
    memory     1 when U_p <= G_m (no sharding needed), 0.5 when only sharded
    country    1 when the factory is in the project's country, 0.5 when the country is one of its partners
    preferred  1 for the machine the applicant asked for
    room       1 - h_p / C_m: the share of the machine's remaining capacity left after the project
Two sectors match when, after folding case, one contains the other or they share a word of four letters or
more ("health" matches "health and life sciences"; "digital health" matches "health").

Integer program (route), solved with HiGHS (scipy.optimize.milp):
    maximise    sum_pm (B + f_pm) x_pm                 B = 1 + max f: routing one more project beats any fit
    subject to  sum_m x_pm <= 1                        for every project
                sum_p h_p x_pm <= C_m                  for every machine
                x_pm in {0, 1}, only for possible pairs
So as many projects as possible are routed, and among those routings the total fit is the largest. A project
left out carries, per machine, the reason it could not go there (or that the capacity went to others).
Functions: fit (one pair, with its reasons), estimate, route, evaluate (any routing, e.g. a staff override),
report.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from aifactory.core.exceptions import InvalidInput, SolverError

WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"sector": 4.0, "memory": 1.0, "country": 1.0, "preferred": 1.0, "room": 0.5}
)
MAX_FIT = sum(WEIGHTS.values())
CAPACITY_TOLERANCE = 1e-6


def _number(name: str, value: object, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise InvalidInput(name, f"{value!r} is not a finite number")
    if float(value) < minimum:
        raise InvalidInput(name, f"must be at least {minimum:g}, got {value!r}")
    return float(value)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(name, f"{value!r} is not a non-empty string")
    return value


@dataclass(frozen=True)
class Project:
    id: str
    sector: str
    gpu_model: str
    gpus: int
    memory_unsharded_gb: float
    memory_sharded_gb: float
    gpu_hours: float
    country: str
    preferred: str | None = None
    allowed: frozenset[str] | None = None  # None: any machine

    def __post_init__(self) -> None:
        _text("project.id", self.id)
        if not isinstance(self.sector, str):
            raise InvalidInput(f"project {self.id}.sector", "must be a string")
        _text(f"project {self.id}.gpu_model", self.gpu_model)
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 1:
            raise InvalidInput(f"project {self.id}.gpus", f"must be a whole number >= 1, got {self.gpus!r}")
        for name in ("memory_unsharded_gb", "memory_sharded_gb"):
            object.__setattr__(self, name, _number(f"project {self.id}.{name}", getattr(self, name)))
        hours = _number(f"project {self.id}.gpu_hours", self.gpu_hours)
        if hours <= 0:
            raise InvalidInput(f"project {self.id}.gpu_hours", "must be positive")
        object.__setattr__(self, "gpu_hours", hours)
        if self.allowed is not None:
            object.__setattr__(self, "allowed", frozenset(self.allowed))


@dataclass(frozen=True)
class Target:
    machine: str
    name: str
    factory: str | None
    factory_name: str | None
    sectors: tuple[str, ...] | None  # None: the factory names none
    gpu_model: str
    gpu_memory_gb: float | None
    total_gpus: int | None
    capacity_gpu_hours: float
    country: str
    partner_countries: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _text("target.machine", self.machine)
        _text(f"target {self.machine}.gpu_model", self.gpu_model)
        object.__setattr__(
            self, "capacity_gpu_hours", _number(f"target {self.machine}.capacity_gpu_hours", self.capacity_gpu_hours)
        )
        if self.gpu_memory_gb is not None:
            object.__setattr__(
                self, "gpu_memory_gb", _number(f"target {self.machine}.gpu_memory_gb", self.gpu_memory_gb)
            )


@dataclass(frozen=True)
class PairFit:
    """One project on one machine: possible or not, its fit and the sentences that explain both."""

    project: str
    machine: str
    possible: bool
    fit: float  # computed as if possible
    parts: Mapping[str, float]
    reasons: tuple[str, ...]  # why it fits
    blocks: tuple[str, ...]  # why it cannot go there (empty when possible)
    over_capacity: bool  # among the blocks: the project alone exceeds the machine's remaining capacity


@dataclass(frozen=True)
class Route:
    project: str
    machine: str
    factory: str | None
    fit: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RoutingResult:
    routes: tuple[Route, ...]  # in the order the projects were given
    unrouted: Mapping[str, tuple[str, ...]]  # project -> why, per machine
    use: Mapping[str, float]  # GPU-hours routed per machine
    total_fit: float
    status: str
    seconds: float

    def machine_of(self, project: str) -> str | None:
        for route in self.routes:
            if route.project == project:
                return route.machine
        return None


@dataclass(frozen=True)
class RoutingEstimate:
    projects: int
    targets: int
    pairs: int  # possible pairs: the program's variables
    without_pair: tuple[str, ...]  # projects no machine can take even alone


@dataclass(frozen=True)
class RoutingEvaluation:
    total_fit: float
    use: Mapping[str, float]
    violations: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        return not self.violations


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.casefold()) if len(w) >= 4}


def sector_match(project_sector: str, factory_sectors: Iterable[str]) -> str | None:
    """The first of the factory's sectors that matches the project's sector (rule in the module doc)."""
    mine = " ".join(project_sector.casefold().split())
    if not mine:
        return None
    for sector in factory_sectors:
        theirs = " ".join(sector.casefold().split())
        if mine in theirs or theirs in mine or _words(mine) & _words(theirs):
            return sector
    return None


def fit(project: Project, target: Target) -> PairFit:
    """Whether the project can go to the machine, its fit, and why (rules in the module doc)."""
    blocks: list[str] = []
    notes: list[str] = []
    parts = dict.fromkeys(WEIGHTS, 0.0)
    where = target.name
    if project.allowed is not None and target.machine not in project.allowed:
        blocks.append(f"{where} is not one of the machines this project may go to")
    if target.gpu_model.upper() != project.gpu_model.upper():
        blocks.append(f"{where} offers the {target.gpu_model}, not the {project.gpu_model} asked for")
    if target.total_gpus is not None and project.gpus > target.total_gpus:
        blocks.append(f"{where} has {target.total_gpus:,} GPUs, {project.gpus:,} asked for")
    if target.gpu_memory_gb is None:
        blocks.append(f"the memory of one GPU of {where} is not known")
    elif project.memory_sharded_gb > target.gpu_memory_gb:
        blocks.append(
            f"the model needs {project.memory_sharded_gb:,.1f} GB per GPU even fully sharded, "
            f"{where} has {target.gpu_memory_gb:g} GB"
        )
    elif project.memory_unsharded_gb <= target.gpu_memory_gb:
        parts["memory"] = 1.0
        notes.append(f"fits the {target.gpu_memory_gb:g} GB GPUs of {where} without sharding")
    else:
        parts["memory"] = 0.5
        notes.append(f"fits the {target.gpu_memory_gb:g} GB GPUs of {where} only fully sharded")
    over_capacity = project.gpu_hours > target.capacity_gpu_hours + CAPACITY_TOLERANCE
    if over_capacity:  # always the last block
        blocks.append(
            f"{where} can take {target.capacity_gpu_hours:,.0f} more GPU-hours, {project.gpu_hours:,.0f} asked for"
        )
    elif target.capacity_gpu_hours > 0:
        parts["room"] = max(0.0, 1.0 - project.gpu_hours / target.capacity_gpu_hours)
    factory = target.factory_name or target.factory
    if target.sectors:
        matched = sector_match(project.sector, target.sectors)
        if matched is not None:
            parts["sector"] = 1.0
            notes.append(f"{factory} specialises in {matched!r}, matching the project's sector {project.sector!r}")
    if factory and project.country:
        if project.country.upper() == target.country.upper():
            parts["country"] = 1.0
            notes.append(f"{factory} is in the project's country ({target.country})")
        elif project.country.upper() in {c.upper() for c in target.partner_countries}:
            parts["country"] = 0.5
            notes.append(f"{factory}'s consortium includes the project's country ({project.country})")
    if project.preferred == target.machine:
        parts["preferred"] = 1.0
        notes.append(f"{where} is the machine the applicant asked for")
    return PairFit(
        project=project.id,
        machine=target.machine,
        possible=not blocks,
        fit=sum(WEIGHTS[k] * v for k, v in parts.items()),
        parts=MappingProxyType(parts),
        reasons=tuple(notes),
        blocks=tuple(blocks),
        over_capacity=over_capacity,
    )


def _check(projects: Sequence[Project], targets: Sequence[Target]) -> None:
    for label, items, kind, key in (
        ("projects", projects, Project, "id"),
        ("targets", targets, Target, "machine"),
    ):
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, kind):
                raise InvalidInput(label, f"{item!r} is not a {kind.__name__}")
            name = getattr(item, key)
            if name in seen:
                raise InvalidInput(label, f"{name!r} appears twice")
            seen.add(name)


def estimate(projects: Sequence[Project], targets: Sequence[Target]) -> RoutingEstimate:
    _check(projects, targets)
    pairs = 0
    without: list[str] = []
    for p in projects:
        n = sum(1 for t in targets if fit(p, t).possible)
        pairs += n
        if n == 0:
            without.append(p.id)
    return RoutingEstimate(projects=len(projects), targets=len(targets), pairs=pairs, without_pair=tuple(without))


def route(projects: Sequence[Project], targets: Sequence[Target], *, time_limit: float | None = None) -> RoutingResult:
    """Route the projects with the integer program of the module's docstring."""
    started = time.perf_counter()
    _check(projects, targets)
    if time_limit is not None and _number("time_limit", time_limit) <= 0:
        raise InvalidInput("time_limit", "must be positive")
    fits = [[fit(p, t) for t in targets] for p in projects]
    pairs = [(i, j) for i in range(len(projects)) for j in range(len(targets)) if fits[i][j].possible]
    chosen: list[tuple[int, int]] = []
    status = "optimal"
    if pairs:
        big = 1.0 + MAX_FIT
        values = np.array([big + fits[i][j].fit for i, j in pairs])
        n = len(pairs)
        xs = np.arange(n)
        rows_p = np.array([i for i, _ in pairs])
        rows_m = np.array([j for _, j in pairs])
        hours = np.array([projects[i].gpu_hours for i, _ in pairs])
        scale = np.array([max(t.capacity_gpu_hours, 1.0) for t in targets])
        constraints = [
            LinearConstraint(coo_array((np.ones(n), (rows_p, xs)), shape=(len(projects), n)).tocsr(), -np.inf, 1),
            LinearConstraint(
                coo_array((hours / scale[rows_m], (rows_m, xs)), shape=(len(targets), n)).tocsr(),
                -np.inf,
                np.array([t.capacity_gpu_hours for t in targets]) / scale + CAPACITY_TOLERANCE,
            ),
        ]
        options: dict[str, float | bool] = {"disp": False, "mip_rel_gap": 0.0}
        if time_limit is not None:
            options["time_limit"] = float(time_limit)
        res = milp(-values, integrality=np.ones(n), bounds=Bounds(0, 1), constraints=constraints, options=options)
        status = {0: "optimal", 1: "time_limit", 2: "infeasible"}.get(int(res.status), "error")
        if res.x is None:
            raise SolverError(status, str(res.message))
        chosen = [pair for pair, x in zip(pairs, res.x, strict=True) if x > 0.5]
    mapping = {projects[i].id: targets[j].machine for i, j in chosen}
    ev = evaluate(projects, targets, mapping)
    if ev.violations:
        raise SolverError(status, "the routing found breaks the rules: " + "; ".join(ev.violations))
    routes: list[Route] = []
    unrouted: dict[str, tuple[str, ...]] = {}
    by_machine = {t.machine: t for t in targets}
    for i, p in enumerate(projects):
        machine = mapping.get(p.id)
        if machine is not None:
            j = next(j for j, t in enumerate(targets) if t.machine == machine)
            pf = fits[i][j]
            routes.append(Route(p.id, machine, by_machine[machine].factory, pf.fit, pf.reasons))
            continue
        why = []
        for j, t in enumerate(targets):
            pf = fits[i][j]
            if pf.possible:
                why.append(f"{t.name}: its remaining capacity went to projects routed before this one could fit")
            else:
                why.append(f"{t.name}: {'; '.join(pf.blocks)}")
        unrouted[p.id] = tuple(why) if why else ("no machine to route to",)
    return RoutingResult(
        routes=tuple(routes),
        unrouted=MappingProxyType(unrouted),
        use=ev.use,
        total_fit=ev.total_fit,
        status=status,
        seconds=time.perf_counter() - started,
    )


def evaluate(
    projects: Sequence[Project], targets: Sequence[Target], mapping: Mapping[str, str]
) -> RoutingEvaluation:
    """Total fit, use per machine and every broken rule of a routing given as project -> machine."""
    _check(projects, targets)
    by_p = {p.id: p for p in projects}
    by_t = {t.machine: t for t in targets}
    use = dict.fromkeys(by_t, 0.0)
    total = 0.0
    violations: list[str] = []
    for pid, machine in mapping.items():
        if pid not in by_p:
            violations.append(f"{pid!r} is not a project")
            continue
        if machine not in by_t:
            violations.append(f"{pid}: {machine!r} is not a machine to route to")
            continue
        pf = fit(by_p[pid], by_t[machine])
        blocks = pf.blocks[:-1] if pf.over_capacity else pf.blocks  # capacity is checked over all projects below
        if blocks:
            violations.append(f"{pid} cannot go to {machine}: {'; '.join(blocks)}")
        total += pf.fit
        use[machine] += by_p[pid].gpu_hours
    for machine, used in use.items():
        if used > by_t[machine].capacity_gpu_hours + CAPACITY_TOLERANCE:
            violations.append(
                f"{machine}: {used:,.0f} GPU-hours routed, capacity {by_t[machine].capacity_gpu_hours:,.0f}"
            )
    return RoutingEvaluation(total_fit=total, use=MappingProxyType(use), violations=tuple(violations))


def report(result: RoutingResult) -> list[str]:
    lines = [f"{len(result.routes)} routed, {len(result.unrouted)} not ({result.status}, {result.seconds:.3f} s), "
             f"total fit {result.total_fit:.3f}"]
    for r in result.routes:
        lines.append(f"  {r.project} -> {r.machine} ({r.factory or 'no factory'}), fit {r.fit:.2f}: "
                     + "; ".join(r.reasons))
    for pid, why in result.unrouted.items():
        lines.append(f"  {pid} not routed: " + "; ".join(why))
    return lines
