"""Selection of the proposals a call funds: a 0/1 integer program solved by HiGHS, and the panels' greedy baseline.

Data
    P            proposals i, each with a score s_i, a weight w_i > 0 (1 unless set) and the GPU-hours h_im it
                 asks for on each machine m (a proposal may ask for several machines, and is funded for all of
                 them or for none)
    M            machines m, each with a GPU-hour budget B_m for the call
    N            the winner limit: at most N proposals funded (optional)
    t            the score threshold: a proposal scoring below t is never funded (optional)
    c_i          the value of funding i, set by the objective:
                   "score"            c_i = w_i * s_i
                   "score_gpu_hours"  c_i = w_i * s_i * sum_m h_im   (score times GPU-hours delivered)

Integer program (solve)
    maximise    sum_i c_i x_i
    subject to  sum_i h_im x_i <= B_m      for every machine m            (budgets)
                sum_i x_i      <= N                                       (winner limit)
                x_i = 0                    for every i with s_i < t       (threshold)
                x_i in {0, 1}

Before the solver sees it the program is reduced without changing its optimum: proposals under the threshold,
proposals that alone exceed some budget and proposals with c_i <= 0 get no variable; a budget that every
remaining proposal fits together is dropped, and so is the winner limit when it cannot bind. The objective is
divided by max_i c_i and each budget row by max(B_m, 1) (the relative gap does not change). HiGHS runs to the relative
gap asked for or until the time limit, and reports the best dual bound, from which the proven gap
(bound - value) / |value| is computed. With a relative gap of 0 (the default) HiGHS stops when the bound is within
its absolute tolerance ABS_GAP of the scaled value: no funded set is worth more than ABS_GAP * max_i c_i above
the one returned, and the result says `proven_optimal`.

Difficulty: under "score" the program is a cardinality-constrained packing that HiGHS closes at the root for
thousands of proposals. Under "score_gpu_hours" a single-machine proposal's value is w_i * s_i times its hours,
so on each machine value is proportional to size and proving optimality means proving that no subset of requests
fills the budgets better (a subset-sum question): the gap falls to about 1e-4 quickly, and closing it completely
can take far longer. Ask for a relative gap and a time limit there, and read `gap` and `proven_optimal`.

Greedy (greedy)
    The rank order panels use: walk the proposals by score, highest first (ties in the order given), skip those
    under the threshold, and fund each one that still fits every budget and the winner limit.

A budget counts as respected when its use exceeds it by at most BUDGET_TOLERANCE GPU-hours (the solver's own
feasibility tolerance). Functions: estimate (size of the program), solve, greedy, evaluate (value and
feasibility of any funded set), compare (solve and greedy on the same call) and report (text lines).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from aifactory.core.exceptions import InvalidInput, SolverError

BUDGET_TOLERANCE = 1e-6  # GPU-hours a budget may be exceeded by and still count as respected
ABS_GAP = 1e-6  # HiGHS's absolute gap tolerance (mip_abs_gap), on the objective scaled to max_i c_i = 1


class Objective(StrEnum):
    SCORE = "score"
    SCORE_GPU_HOURS = "score_gpu_hours"


def _frozen_hours(owner: str, hours: Mapping[str, float]) -> Mapping[str, float]:
    if not isinstance(hours, Mapping):
        raise InvalidInput(f"{owner}", "must map machine names to GPU-hours")
    out: dict[str, float] = {}
    for machine, value in hours.items():
        if not isinstance(machine, str) or not machine:
            raise InvalidInput(f"{owner}", f"machine name {machine!r} is not a non-empty string")
        number = _finite(f"{owner}[{machine}]", value)
        if number < 0:
            raise InvalidInput(f"{owner}[{machine}]", f"negative GPU-hours ({number:g})")
        out[machine] = number
    return MappingProxyType(out)


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(name, f"{value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(name, f"{value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class Proposal:
    """A proposal as selection sees it: its score, the GPU-hours it asks for per machine, its weight."""

    id: str
    score: float
    hours: Mapping[str, float]
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInput("proposal.id", f"{self.id!r} is not a non-empty string")
        object.__setattr__(self, "score", _finite(f"proposal {self.id}.score", self.score))
        weight = _finite(f"proposal {self.id}.weight", self.weight)
        if weight <= 0:
            raise InvalidInput(f"proposal {self.id}.weight", f"must be positive, got {weight:g}")
        object.__setattr__(self, "weight", weight)
        hours = _frozen_hours(f"proposal {self.id}.hours", self.hours)
        if not hours:
            raise InvalidInput(f"proposal {self.id}.hours", "asks for no machine")
        object.__setattr__(self, "hours", hours)

    @property
    def total_hours(self) -> float:
        return sum(self.hours.values())


@dataclass(frozen=True)
class SelectionCall:
    """The call's side: GPU-hour budget per machine, winner limit, score threshold, objective."""

    budgets: Mapping[str, float]
    winner_limit: int | None = None
    threshold: float | None = None
    objective: Objective = Objective.SCORE

    def __post_init__(self) -> None:
        object.__setattr__(self, "budgets", _frozen_hours("call.budgets", self.budgets))
        if self.winner_limit is not None and (
            isinstance(self.winner_limit, bool) or not isinstance(self.winner_limit, int) or self.winner_limit < 0
        ):
            raise InvalidInput("call.winner_limit", f"must be a whole number >= 0, got {self.winner_limit!r}")
        if self.threshold is not None:
            object.__setattr__(self, "threshold", _finite("call.threshold", self.threshold))
        try:
            object.__setattr__(self, "objective", Objective(self.objective))
        except ValueError:
            choices = ", ".join(o.value for o in Objective)
            raise InvalidInput("call.objective", f"{self.objective!r} is not one of {choices}") from None


@dataclass(frozen=True)
class SelectionEstimate:
    """Size of the program before solving, after the reductions in the module's docstring."""

    proposals: int
    candidates: int  # proposals that get a variable
    below_threshold: int
    too_large: int  # proposals that alone exceed some budget
    binding_budgets: tuple[str, ...]  # machines whose candidates' demand exceeds the budget
    limit_binds: bool
    demand: Mapping[str, float]  # candidates' GPU-hours asked per machine
    upper_bound: float  # sum of the candidates' positive values (no program can do better)


@dataclass(frozen=True)
class SelectionResult:
    """A funded set and how it was found. `gap` and `bound` are None for the greedy (it proves nothing)."""

    method: str  # "milp" or "greedy"
    objective: Objective
    funded: tuple[str, ...]  # in the order the proposals were given
    value: float
    use: Mapping[str, float]  # GPU-hours funded per machine of the call
    budgets: Mapping[str, float]
    status: str  # "optimal", "time_limit", ... for the MILP; "greedy" for the baseline
    gap: float | None
    bound: float | None
    proven_optimal: bool
    seconds: float
    candidates: int

    @property
    def winners(self) -> int:
        return len(self.funded)


@dataclass(frozen=True)
class SelectionEvaluation:
    """Value of a funded set and every rule it breaks (empty `violations` = feasible)."""

    value: float
    use: Mapping[str, float]
    winners: int
    violations: tuple[str, ...] = field(default=())

    @property
    def feasible(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class Comparison:
    optimum: SelectionResult
    greedy: SelectionResult

    @property
    def difference(self) -> float:
        return self.optimum.value - self.greedy.value

    @property
    def ratio(self) -> float | None:
        """optimum / greedy, None when the greedy's value is not positive."""
        return self.optimum.value / self.greedy.value if self.greedy.value > 0 else None


def _check(proposals: Sequence[Proposal], call: SelectionCall) -> None:
    if not isinstance(call, SelectionCall):
        raise InvalidInput("call", f"is a {type(call).__name__}, not a SelectionCall")
    seen: set[str] = set()
    for index, proposal in enumerate(proposals):
        if not isinstance(proposal, Proposal):
            raise InvalidInput(f"proposals[{index}]", f"is a {type(proposal).__name__}, not a Proposal")
        if proposal.id in seen:
            raise InvalidInput("proposals", f"proposal id {proposal.id!r} appears twice")
        seen.add(proposal.id)
        for machine in proposal.hours:
            if machine not in call.budgets:
                raise InvalidInput(
                    f"proposal {proposal.id}.hours[{machine}]", f"machine {machine!r} has no budget in this call"
                )


def value_of(proposal: Proposal, objective: Objective) -> float:
    """c_i of the module's docstring."""
    if objective is Objective.SCORE_GPU_HOURS:
        return proposal.weight * proposal.score * proposal.total_hours
    return proposal.weight * proposal.score


def _eligible(proposal: Proposal, call: SelectionCall) -> bool:
    return call.threshold is None or proposal.score >= call.threshold


def _fits_alone(proposal: Proposal, call: SelectionCall) -> bool:
    return all(h <= call.budgets[m] + BUDGET_TOLERANCE for m, h in proposal.hours.items())


def estimate(proposals: Sequence[Proposal], call: SelectionCall) -> SelectionEstimate:
    """Count what the program will hold after its reductions, without solving it."""
    _check(proposals, call)
    below = sum(1 for p in proposals if not _eligible(p, call))
    too_large = sum(1 for p in proposals if _eligible(p, call) and not _fits_alone(p, call))
    candidates = [
        p for p in proposals if _eligible(p, call) and _fits_alone(p, call) and value_of(p, call.objective) > 0
    ]
    demand = dict.fromkeys(call.budgets, 0.0)
    for p in candidates:
        for machine, hours in p.hours.items():
            demand[machine] += hours
    binding = tuple(m for m in call.budgets if demand[m] > call.budgets[m] + BUDGET_TOLERANCE)
    limit_binds = call.winner_limit is not None and call.winner_limit < len(candidates)
    return SelectionEstimate(
        proposals=len(proposals),
        candidates=len(candidates),
        below_threshold=below,
        too_large=too_large,
        binding_budgets=binding,
        limit_binds=limit_binds,
        demand=MappingProxyType(demand),
        upper_bound=sum(value_of(p, call.objective) for p in candidates),
    )


def evaluate(proposals: Sequence[Proposal], call: SelectionCall, funded: Iterable[str]) -> SelectionEvaluation:
    """Value, per-machine use and broken rules of funding exactly the proposals named in `funded`."""
    _check(proposals, call)
    by_id = {p.id: p for p in proposals}
    chosen = list(dict.fromkeys(funded))
    violations: list[str] = []
    use = dict.fromkeys(call.budgets, 0.0)
    value = 0.0
    for pid in chosen:
        proposal = by_id.get(pid)
        if proposal is None:
            violations.append(f"{pid!r} is not a proposal of this call")
            continue
        if not _eligible(proposal, call):
            violations.append(f"{pid} scores {proposal.score:g}, under the threshold {call.threshold:g}")
        value += value_of(proposal, call.objective)
        for machine, hours in proposal.hours.items():
            use[machine] += hours
    for machine, used in use.items():
        if used > call.budgets[machine] + BUDGET_TOLERANCE:
            violations.append(f"{machine}: {used:.6g} GPU-hours funded, budget {call.budgets[machine]:.6g}")
    if call.winner_limit is not None and len(chosen) > call.winner_limit:
        violations.append(f"{len(chosen)} proposals funded, winner limit {call.winner_limit}")
    return SelectionEvaluation(
        value=value, use=MappingProxyType(use), winners=len(chosen), violations=tuple(violations)
    )


_STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded", 4: "error"}


def solve(
    proposals: Sequence[Proposal],
    call: SelectionCall,
    *,
    rel_gap: float = 0.0,
    time_limit: float | None = None,
) -> SelectionResult:
    """Solve the integer program of the module's docstring with HiGHS (scipy.optimize.milp).

    rel_gap: HiGHS stops once (bound - value) / |value| is at most this (0: prove optimality).
    time_limit: seconds HiGHS may run; on expiry the best funded set found is returned with its proven gap.
    Raises SolverError when HiGHS returns no funded set (cannot happen for a valid call: funding none is feasible).
    """
    rel_gap = _finite("rel_gap", rel_gap)
    if rel_gap < 0:
        raise InvalidInput("rel_gap", f"must be >= 0, got {rel_gap:g}")
    if time_limit is not None and (_finite("time_limit", time_limit) <= 0):
        raise InvalidInput("time_limit", f"must be positive, got {time_limit!r}")
    started = time.perf_counter()
    _check(proposals, call)
    candidates = [
        p for p in proposals if _eligible(p, call) and _fits_alone(p, call) and value_of(p, call.objective) > 0
    ]
    if not candidates:
        return _result("milp", proposals, call, (), "optimal", 0.0, started, 0, proof_tolerance=0.0)
    values = np.array([value_of(p, call.objective) for p in candidates])
    scale = float(values.max())
    rows: list[np.ndarray] = []
    upper: list[float] = []
    column = {m: j for j, m in enumerate(call.budgets)}
    demand = np.zeros((len(call.budgets), len(candidates)))
    for i, p in enumerate(candidates):
        for machine, hours in p.hours.items():
            demand[column[machine], i] = hours
    for machine, j in column.items():
        budget = call.budgets[machine]
        if demand[j].sum() > budget + BUDGET_TOLERANCE:
            divisor = max(budget, 1.0)
            rows.append(demand[j] / divisor)
            upper.append(budget / divisor)
    if call.winner_limit is not None and call.winner_limit < len(candidates):
        rows.append(np.ones(len(candidates)))
        upper.append(float(call.winner_limit))
    constraints = []
    if rows:
        constraints.append(LinearConstraint(csr_array(np.vstack(rows)), -np.inf, np.array(upper)))
    options: dict[str, float | bool] = {"disp": False, "mip_rel_gap": rel_gap}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(
        -values / scale,
        integrality=np.ones(len(candidates)),
        bounds=Bounds(0, 1),
        constraints=constraints,
        options=options,
    )
    status = _STATUS.get(int(res.status), "error")
    if res.x is None:
        raise SolverError(status, str(res.message))
    funded = _repair([p for p, x in zip(candidates, res.x, strict=True) if x > 0.5], call)
    bound = None if res.mip_dual_bound is None else -float(res.mip_dual_bound) * scale
    tolerance = ABS_GAP * scale * (1 + 1e-9) + 1e-12 * abs(bound or 0.0)
    return _result("milp", proposals, call, funded, status, bound, started, len(candidates), proof_tolerance=tolerance)


def _repair(funded: list[Proposal], call: SelectionCall) -> tuple[str, ...]:
    """Drop the least valuable funded proposals on a budget HiGHS overran within its own tolerance.

    The solver accepts a row that exceeds its bound by its feasibility tolerance; the call does not. The
    dual bound is unaffected, so the gap reported afterwards still measures what the repair cost.
    """
    kept = sorted(funded, key=lambda p: value_of(p, call.objective))
    use = dict.fromkeys(call.budgets, 0.0)
    for p in kept:
        for machine, hours in p.hours.items():
            use[machine] += hours
    over = {m for m, used in use.items() if used > call.budgets[m] + BUDGET_TOLERANCE}
    while over:
        victim = next(p for p in kept if over & set(p.hours))
        kept.remove(victim)
        for machine, hours in victim.hours.items():
            use[machine] -= hours
        over = {m for m, used in use.items() if used > call.budgets[m] + BUDGET_TOLERANCE}
    return tuple(p.id for p in kept)


def _result(
    method: str,
    proposals: Sequence[Proposal],
    call: SelectionCall,
    funded: Iterable[str],
    status: str,
    bound: float | None,
    started: float,
    candidates: int,
    *,
    proof_tolerance: float | None,
) -> SelectionResult:
    chosen = set(funded)
    ordered = tuple(p.id for p in proposals if p.id in chosen)
    ev = evaluate(proposals, call, ordered)
    if ev.violations:
        raise SolverError(status, "the funded set breaks the call's rules: " + "; ".join(ev.violations))
    gap: float | None = None
    if bound is not None:
        bound = max(bound, ev.value)
        gap = 0.0 if bound - ev.value <= 0 else (bound - ev.value) / max(abs(ev.value), 1e-12)
    proven = (
        status == "optimal"
        and bound is not None
        and proof_tolerance is not None
        and bound - ev.value <= proof_tolerance
    )
    return SelectionResult(
        method=method,
        objective=call.objective,
        funded=ordered,
        value=ev.value,
        use=ev.use,
        budgets=call.budgets,
        status=status,
        gap=gap,
        bound=bound,
        proven_optimal=proven,
        seconds=time.perf_counter() - started,
        candidates=candidates,
    )


def greedy(proposals: Sequence[Proposal], call: SelectionCall) -> SelectionResult:
    """The rank-order baseline of the module's docstring, returned in the same shape as `solve`."""
    started = time.perf_counter()
    _check(proposals, call)
    remaining = dict(call.budgets)
    funded: list[str] = []
    order = sorted(range(len(proposals)), key=lambda i: -proposals[i].score)
    considered = 0
    for i in order:
        proposal = proposals[i]
        if call.winner_limit is not None and len(funded) >= call.winner_limit:
            break
        if not _eligible(proposal, call):
            continue
        considered += 1
        if all(h <= remaining[m] + BUDGET_TOLERANCE for m, h in proposal.hours.items()):
            funded.append(proposal.id)
            for machine, hours in proposal.hours.items():
                remaining[machine] -= hours
    return _result("greedy", proposals, call, funded, "greedy", None, started, considered, proof_tolerance=None)


def compare(
    proposals: Sequence[Proposal],
    call: SelectionCall,
    *,
    rel_gap: float = 0.0,
    time_limit: float | None = None,
) -> Comparison:
    """Solve the program and run the greedy on the same call."""
    return Comparison(
        optimum=solve(proposals, call, rel_gap=rel_gap, time_limit=time_limit), greedy=greedy(proposals, call)
    )


def report(comparison: Comparison) -> list[str]:
    """Text lines for people: both totals, the ratio, the proven gap and the times."""
    opt, base = comparison.optimum, comparison.greedy
    ratio = comparison.ratio
    lines = [
        f"objective: {opt.objective.value}",
        f"optimum: {opt.value:.6g} with {opt.winners} funded ({opt.status}, "
        f"{'proven optimal' if opt.proven_optimal else 'optimality not proven'}, gap {_gap_text(opt.gap)}, "
        f"{opt.seconds:.3f} s, {opt.candidates} candidates)",
        f"greedy:  {base.value:.6g} with {base.winners} funded ({base.seconds:.3f} s)",
        f"optimum / greedy: {ratio:.6f}" if ratio is not None else "optimum / greedy: n/a (greedy funds no value)",
    ]
    for machine, used in opt.use.items():
        lines.append(
            f"  {machine}: budget {opt.budgets[machine]:.6g}, optimum uses {used:.6g}, "
            f"greedy uses {base.use[machine]:.6g} GPU-hours"
        )
    return lines


def _gap_text(gap: float | None) -> str:
    return "n/a" if gap is None else f"{gap:.2e}"
