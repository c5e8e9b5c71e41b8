"""`aifactory bench selection`: solve a random call for proposals and compare the optimum with the greedy.

The instance is reproducible from (proposals, machines, seed):
- machines are popular in unequal measure (weights 1/rank), proposals ask for 1 machine (60 %), 2 (30 %) or
  3 (10 %), each request log-uniform between 1e3 and 2e6 GPU-hours, in whole hours;
- scores are panel means on a 0-5 scale (normal around 3.4, sd 0.8, two decimals), threshold 3.0;
- one proposal in four (SMEs and startups) carries weight 1.2;
- each machine's budget is 20-40 % of what the proposals above the threshold ask of it, and the winner limit is
  a fifth of the proposals, so that only a fraction of them can be funded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from aifactory.core.exceptions import CoreError
from aifactory.core.selection import Objective, Proposal, SelectionCall, compare, report

THRESHOLD = 3.0


def generate(
    proposals: int, machines: int, seed: int, objective: Objective = Objective.SCORE
) -> tuple[list[Proposal], SelectionCall]:
    """A random call as described in the module's docstring."""
    rng = np.random.default_rng(seed)
    names = [f"machine-{j + 1:02d}" for j in range(machines)]
    popularity = 1.0 / np.arange(1, machines + 1)
    popularity /= popularity.sum()
    out: list[Proposal] = []
    for i in range(proposals):
        count = min(machines, int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])))
        chosen = rng.choice(machines, size=count, replace=False, p=popularity)
        hours = {names[int(j)]: float(round(10 ** rng.uniform(3.0, np.log10(2e6)))) for j in chosen}
        score = float(round(min(5.0, max(0.0, rng.normal(3.4, 0.8))), 2))
        weight = 1.2 if rng.random() < 0.25 else 1.0
        out.append(Proposal(id=f"p{i + 1:06d}", score=score, hours=hours, weight=weight))
    demand = dict.fromkeys(names, 0.0)
    for p in out:
        if p.score >= THRESHOLD:
            for machine, h in p.hours.items():
                demand[machine] += h
    budgets = {m: float(round(demand[m] * rng.uniform(0.2, 0.4))) for m in names}
    call = SelectionCall(budgets=budgets, winner_limit=max(1, proposals // 5), threshold=THRESHOLD, objective=objective)
    return out, call


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "selection", help="solve a random call for proposals (MILP) and compare with the rank-order greedy"
    )
    parser.add_argument("--proposals", type=int, required=True, help="number of proposals")
    parser.add_argument("--machines", type=int, default=20, help="number of machines (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--objective", choices=[o.value for o in Objective], default=Objective.SCORE.value, help="default score"
    )
    parser.add_argument("--gap", type=float, default=0.0, help="relative MIP gap to stop at (default 0: prove)")
    parser.add_argument("--time-limit", type=float, default=15.0, help="seconds for HiGHS (default 15)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name, value, low in (("--proposals", args.proposals, 1), ("--machines", args.machines, 1)):
        if value < low:
            print(f"aifactory bench selection: {name} must be at least {low}, got {value}", file=sys.stderr)
            return 2
    if not args.gap >= 0 or not args.time_limit > 0:
        print("aifactory bench selection: --gap must be >= 0 and --time-limit > 0", file=sys.stderr)
        return 2
    try:
        proposals, call = generate(args.proposals, args.machines, args.seed, Objective(args.objective))
        with _native_stdout_silenced():
            comparison = compare(proposals, call, rel_gap=args.gap, time_limit=args.time_limit)
    except CoreError as exc:
        print(f"aifactory bench selection: {exc.message}", file=sys.stderr)
        return 1
    opt, base = comparison.optimum, comparison.greedy
    if args.json:
        print(
            json.dumps(
                {
                    "proposals": args.proposals,
                    "machines": args.machines,
                    "seed": args.seed,
                    "objective": opt.objective.value,
                    "winner_limit": call.winner_limit,
                    "threshold": call.threshold,
                    "requested_gap": args.gap,
                    "time_limit_s": args.time_limit,
                    "optimum": _result_json(opt),
                    "greedy": _result_json(base),
                    "ratio": comparison.ratio,
                    "difference": comparison.difference,
                    "budgets": dict(call.budgets),
                }
            )
        )
    else:
        print(
            f"{args.proposals} proposals, {args.machines} machines, seed {args.seed}, "
            f"winner limit {call.winner_limit}, threshold {call.threshold}"
        )
        for line in report(comparison):
            print(line)
    return 0


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: HiGHS writes stray debug lines there (ERGO-Code/HiGHS#2783)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "value": result.value,
        "winners": result.winners,
        "status": result.status,
        "proven_optimal": result.proven_optimal,
        "gap": result.gap,
        "bound": result.bound,
        "seconds": result.seconds,
        "candidates": result.candidates,
        "use": dict(result.use),
        "funded": list(result.funded),
    }
